//! The C ABI against a real etcd, called the way the Go shim calls it.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{wait_for, Etcd};
use etcdhosts::ffi::*;

const DEADLINE: Duration = Duration::from_secs(15);

static LOG: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

extern "C" fn collect_log(level: i32, msg: *const u8, len: usize) {
    let text = unsafe { std::slice::from_raw_parts(msg, len) };
    LOG.lock()
        .unwrap()
        .push((level, String::from_utf8_lossy(text).into_owned()));
}

fn new_handle(json: &str) -> *mut etcdhosts_handle {
    let mut err = [0u8; 512];
    let mut handle = std::ptr::null_mut();
    let result = unsafe {
        etcdhosts_new(
            json.as_ptr(),
            json.len(),
            &mut handle,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert_eq!(
        result,
        etcdhosts_result::ETCDHOSTS_RESULT_OK,
        "etcdhosts_new: {}",
        String::from_utf8_lossy(&err)
    );
    handle
}

/// (status, records) of one lookup, retrying on BUFFER_TOO_SMALL as the Go shim does.
fn lookup(h: *const etcdhosts_handle, qname: &str, qtype: u16) -> (etcdhosts_status, Vec<u8>) {
    let mut out = vec![0u8; 4];
    let mut answer = etcdhosts_answer::default();
    loop {
        let status = unsafe {
            etcdhosts_lookup(
                h,
                qname.as_ptr(),
                qname.len(),
                qtype,
                out.as_mut_ptr(),
                out.len(),
                &mut answer,
            )
        };
        if status == etcdhosts_status::ETCDHOSTS_BUFFER_TOO_SMALL {
            out.resize(answer.len, 0);
            continue;
        }
        out.truncate(answer.len);
        return (status, out);
    }
}

fn stats(h: *const etcdhosts_handle) -> etcdhosts_stats {
    let mut s = etcdhosts_stats::default();
    assert_eq!(
        unsafe { etcdhosts_get_stats(h, &mut s) },
        etcdhosts_result::ETCDHOSTS_RESULT_OK
    );
    s
}

/// A Corefile block as the Go shim sends it.
fn config(etcd: &Etcd) -> String {
    format!(
        r#"{{"zones":["example.org."],"lines":[["endpoint","{}"],["timeout","2s"],["ttl","60"],
            ["10.9.9.9","inline.example.org"]],"listen_hosts":["127.0.0.1"],"port":"53"}}"#,
        etcd.url
    )
}

#[test]
fn lookups_updates_stats_and_logs_through_the_abi() {
    assert_eq!(
        etcdhosts_set_logger(Some(collect_log)),
        etcdhosts_result::ETCDHOSTS_RESULT_OK
    );
    assert_eq!(
        etcdhosts_set_logger(Some(collect_log)),
        etcdhosts_result::ETCDHOSTS_RESULT_ALREADY_SET
    );
    let etcd = Etcd::start();
    let rev = etcd.put(
        "/etcdhosts",
        "10.0.0.1 a.example.org\n10.0.0.2 a.example.org\n2001:db8::1 six.example.org\nbad line\n",
    );
    let h = new_handle(&config(&etcd));

    let (status, body) = lookup(h, "a.example.org.", 1);
    assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER);
    assert_eq!(body, [10, 0, 0, 1, 10, 0, 0, 2]);
    let (status, body) = lookup(h, "six.example.org.", 28);
    assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER);
    assert_eq!(body.len(), 16);
    assert_eq!(
        lookup(h, "six.example.org.", 1).0,
        etcdhosts_status::ETCDHOSTS_NODATA
    );
    assert_eq!(
        lookup(h, "nope.example.org.", 1).0,
        etcdhosts_status::ETCDHOSTS_NXDOMAIN
    );
    assert_eq!(
        lookup(h, "a.example.com.", 1).0,
        etcdhosts_status::ETCDHOSTS_NOT_MINE
    );
    let (status, body) = lookup(h, "1.0.0.10.in-addr.arpa.", 12);
    assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER);
    assert_eq!(body, b"\x0ea.example.org.");
    assert_eq!(lookup(h, "inline.example.org.", 1).1, [10, 9, 9, 9]);

    let s = stats(h);
    assert!(s.ready);
    assert_eq!((s.revision, s.records, s.invalid_lines), (rev, 4, 1));

    let rev = etcd.put("/etcdhosts", "10.0.0.3 a.example.org\n");
    wait_for("update through the ABI", DEADLINE, || {
        lookup(h, "a.example.org.", 1).1 == [10, 0, 0, 3]
    });
    let s = stats(h);
    assert_eq!(s.revision, rev);
    assert!(s.watch_connected);

    let logs = LOG.lock().unwrap().clone();
    assert!(
        logs.iter()
            .any(|(l, m)| *l == 2 && m.contains("line 4") && m.contains("bad")),
        "a warning names the bad line: {logs:?}"
    );
    assert!(
        logs.iter().any(|(l, m)| *l == 3 && m.contains("serving")),
        "an info line on reload: {logs:?}"
    );
    unsafe { etcdhosts_free(h) };
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn handles_come_and_go_without_leaking_threads_or_connections() {
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 a.example.org\n");
    let json = config(&etcd);
    // Warm up: the shared runtime starts with the first handle and stays.
    unsafe { etcdhosts_free(new_handle(&json)) };
    let (threads, fds) = (count("/proc/self/task"), count("/proc/self/fd"));
    // As CoreDNS's reload plugin does: build the new instance, then free the old one.
    let mut old = new_handle(&json);
    for _ in 0..20 {
        let new = new_handle(&json);
        assert_eq!(lookup(new, "a.example.org.", 1).1, [10, 0, 0, 1]);
        unsafe { etcdhosts_free(old) };
        old = new;
    }
    unsafe { etcdhosts_free(old) };
    // Other tests in this binary may run threads of their own: allow a little slack,
    // far below one thread or connection per handle.
    let (threads_after, fds_after) = (count("/proc/self/task"), count("/proc/self/fd"));
    assert!(
        threads_after <= threads + 3,
        "threads {threads} -> {threads_after}"
    );
    assert!(fds_after <= fds + 6, "fds {fds} -> {fds_after}");
}
