//! Fleet status (`status_key`) against a real etcd: the key, its JSON and its lease; updated
//! on a change, recreated when deleted or when its lease is lost, removed when the engine
//! goes; and nothing at all written without the option.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{block_on, wait_for, Etcd};
use etcd_client::GetOptions;
use etcdhosts::{Config, Engine, InstanceStatus};

const DEADLINE: Duration = Duration::from_secs(15);
/// The writer checks its key every 3 s: a deleted key is back within this.
const RECREATE_LIMIT: Duration = Duration::from_secs(5);

/// The contract with `dnsctl serve`: these fields, in this order.
const FIELDS: [&str; 13] = [
    "instance",
    "hostname",
    "listen",
    "pid",
    "key",
    "revision",
    "entries",
    "invalid_lines",
    "last_reload",
    "last_reload_unix_ms",
    "started",
    "version",
    "etcd_connected",
];

/// A config with the status key on; `listen` names the instance, with the host name.
fn config(etcd: &Etcd, listen: &str) -> Config {
    Config {
        endpoints: vec![etcd.url.clone()],
        key: "/etcdhosts".into(),
        timeout_ms: 2000,
        status_key: Some("/etcdhosts-status".into()),
        listen: listen.into(),
        ..Config::default()
    }
}

/// One status key as stored: its value, lease and mod revision.
#[derive(Debug, Clone)]
struct Stored {
    raw: String,
    status: InstanceStatus,
    lease: i64,
    mod_revision: i64,
    /// Puts since the key was created.
    version: i64,
}

fn read(etcd: &Etcd, key: &str) -> Option<Stored> {
    block_on(async {
        let mut c = etcd.client().await.unwrap();
        let r = c.get(key, None).await.unwrap();
        let kv = r.kvs().first()?;
        let raw = kv.value_str().unwrap().to_string();
        Some(Stored {
            status: serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{raw}: {e}")),
            raw,
            lease: kv.lease(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
        })
    })
}

/// Waits until the key exists and `cond` holds for it.
fn wait_status(etcd: &Etcd, key: &str, what: &str, cond: impl Fn(&Stored) -> bool) -> Stored {
    let mut last = None;
    wait_for(what, DEADLINE, || {
        last = read(etcd, key);
        last.as_ref().is_some_and(&cond)
    });
    last.unwrap()
}

/// Fails unless `cond` keeps holding for `period` (things that must not happen).
fn holds(what: &str, period: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < period {
        assert!(cond(), "{what} stopped holding after {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (TTL left, granted TTL) of a lease; TTL -1 once it is gone.
fn lease_ttl(etcd: &Etcd, lease: i64) -> (i64, i64) {
    block_on(async {
        let mut c = etcd.client().await.unwrap();
        let r = c.lease_time_to_live(lease, None).await.unwrap();
        (r.ttl(), r.granted_ttl())
    })
}

/// Every key in the store, and the current revision.
fn keyspace(etcd: &Etcd) -> (Vec<String>, i64) {
    block_on(async {
        let mut c = etcd.client().await.unwrap();
        let r = c
            .get("", Some(GetOptions::new().with_all_keys().with_keys_only()))
            .await
            .unwrap();
        let keys = r
            .kvs()
            .iter()
            .map(|kv| kv.key_str().unwrap().to_string())
            .collect();
        (keys, r.header().unwrap().revision())
    })
}

fn leases(etcd: &Etcd) -> Vec<i64> {
    block_on(async {
        let mut c = etcd.client().await.unwrap();
        let r = c.leases().await.unwrap();
        r.leases().iter().map(|l| l.id()).collect()
    })
}

#[test]
fn status_key_written_updated_recreated_and_removed() {
    let etcd = Etcd::start();
    let rev = etcd.put("/etcdhosts", "10.0.0.1 web.example.org\n");
    let before = etcdhosts::status::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            - 1000,
    );
    let engine = Engine::start(Config {
        inline: "10.9.9.9 inline.example.org\n".into(),
        ..config(&etcd, "127.0.0.1:1053")
    })
    .unwrap();
    let host = etcdhosts::identity::hostname();
    let key = &format!("/etcdhosts-status/{host}/127.0.0.1:1053");

    // The key appears with the contract's fields, in order, and what the engine serves.
    let first = wait_status(&etcd, key, "status at the first revision", |s| {
        s.status.revision == rev && s.status.etcd_connected
    });
    let mut at = 0;
    for field in FIELDS {
        let pos = first.raw[at..]
            .find(&format!("\"{field}\":"))
            .unwrap_or_else(|| panic!("no {field} after byte {at} in {}", first.raw));
        at += pos + 1;
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&first.raw).unwrap();
    assert_eq!(object.len(), FIELDS.len(), "{}", first.raw);
    let s = &first.status;
    let stats = engine.stats();
    assert_eq!(s.instance, format!("{host}/127.0.0.1:1053"));
    assert_eq!(s.hostname, host);
    assert_eq!(s.listen, "127.0.0.1:1053");
    assert_eq!(s.pid, std::process::id());
    assert_eq!(s.key, "/etcdhosts");
    assert_eq!(
        (s.revision, s.entries, s.invalid_lines),
        (stats.revision, 2, 0)
    );
    assert_eq!(s.last_reload_unix_ms, stats.last_reload_unix_ms);
    assert_eq!(
        s.last_reload,
        etcdhosts::status::rfc3339(s.last_reload_unix_ms)
    );
    assert!(s.started >= before && s.started <= s.last_reload, "{s:?}");
    assert!(s.version.starts_with(env!("CARGO_PKG_VERSION")), "{s:?}");
    assert!(first.mod_revision > rev);
    // One put at start: the writer waits for the first table and the watch (a put per
    // change would be two).
    eprintln!("puts at start: {}", first.version);
    assert!(first.version <= 2, "{} puts at start", first.version);
    // On a 10 s lease.
    assert_ne!(first.lease, 0);
    let (ttl, granted) = lease_ttl(&etcd, first.lease);
    assert!(
        granted == 10 && (1..=10).contains(&ttl),
        "ttl {ttl} of {granted}"
    );

    // A put to the hosts key: the revision follows.
    let rev = etcd.put(
        "/etcdhosts",
        "10.0.0.2 web.example.org\n10.0.0.300 bad.example.org\n10.0.0.3 db.example.org\n",
    );
    let updated = wait_status(&etcd, key, "status after a put", |s| {
        s.status.revision == rev
    });
    assert_eq!(
        (updated.status.entries, updated.status.invalid_lines),
        (3, 1)
    );
    assert_eq!(updated.lease, first.lease);
    assert!(updated.status.last_reload_unix_ms > first.status.last_reload_unix_ms);

    // Written on changes only: keepalives and checks do not put.
    holds("an unchanged status key", Duration::from_secs(4), || {
        read(&etcd, key).map(|s| s.mod_revision) == Some(updated.mod_revision)
    });

    // Deleted by someone else: written again within a check period, on the same lease.
    etcd.delete(key);
    let deleted = Instant::now();
    let back = wait_status(&etcd, key, "the key after a delete", |_| true);
    let took = deleted.elapsed();
    eprintln!("status key recreated {took:?} after a delete");
    assert!(took < RECREATE_LIMIT, "{took:?}");
    assert_eq!((back.lease, back.status.revision), (first.lease, rev));

    // The lease revoked (as if it had expired): a new lease, and the key again.
    block_on(async {
        let mut c = etcd.client().await.unwrap();
        c.lease_revoke(first.lease).await.unwrap();
    });
    let revoked = Instant::now();
    let regranted = wait_status(&etcd, key, "the key on a new lease", |s| {
        s.lease != first.lease
    });
    let took = revoked.elapsed();
    eprintln!("status key on a new lease {took:?} after a revoke");
    assert!(took < RECREATE_LIMIT, "{took:?}");
    assert_eq!(lease_ttl(&etcd, regranted.lease).1, 10);

    // The engine goes: the key and its lease go with it, before drop returns.
    let dropping = Instant::now();
    drop(engine);
    assert!(dropping.elapsed() < Duration::from_secs(2));
    assert!(read(&etcd, key).is_none(), "status key left behind");
    assert_eq!(lease_ttl(&etcd, regranted.lease).0, -1, "lease not revoked");
}

#[test]
fn one_writer_per_instance_name_in_a_process() {
    // Two server blocks on one address, or the old and the new instance of a reload: the
    // newest writes the key and the others leave it alone.
    let etcd = Etcd::start();
    let rev = etcd.put("/etcdhosts", "10.0.0.1 web.example.org\n");
    let key = &format!("/etcdhosts-status/{}/:53", etcdhosts::identity::hostname());
    let old = Engine::start(config(&etcd, ":53")).unwrap();
    let on_old = wait_status(&etcd, key, "the old instance's key", |s| {
        s.status.revision == rev && s.status.etcd_connected
    });

    // A CoreDNS reload: the new instance starts, then the old one stops at once. The key
    // never goes away: the old one waits for the new one's put before it revokes.
    let new = Engine::start(config(&etcd, ":53")).unwrap();
    drop(old);
    let on_new = read(&etcd, key).expect("the key vanished during the reload");
    assert_ne!(on_new.lease, on_old.lease);
    assert_eq!(
        lease_ttl(&etcd, on_old.lease).0,
        -1,
        "old lease not revoked"
    );

    // Two alive at once: the newest holds the key, nobody takes it back.
    let newest = Engine::start(config(&etcd, ":53")).unwrap();
    let on_newest = wait_status(&etcd, key, "the newest instance's key", |s| {
        s.lease != on_new.lease && s.status.etcd_connected
    });
    holds("the newest instance's key", Duration::from_secs(4), || {
        read(&etcd, key).map(|s| (s.lease, s.mod_revision))
            == Some((on_newest.lease, on_newest.mod_revision))
    });

    // The newest goes first: the one before it writes the key again.
    drop(newest);
    let back = wait_status(&etcd, key, "the key back on the remaining instance", |s| {
        s.lease == on_new.lease
    });
    assert_eq!(back.status.revision, rev);
    drop(new);
    assert!(read(&etcd, key).is_none());
}

#[test]
fn without_status_key_nothing_is_written() {
    // A read-only user (the credentials many fleets run with) and no status_key: not one
    // write, not one lease, while the engine loads, watches and reloads.
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 web.example.org\n");
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let (keys, _) = keyspace(&etcd);
    assert_eq!(keys, ["/etcdhosts"]);
    let engine = Engine::start(Config {
        username: Some("reader".into()),
        password: Some("readerpw".into()),
        status_key: None,
        ..config(&etcd, "127.0.0.1:2053")
    })
    .unwrap();
    wait_for("watch connected", DEADLINE, || {
        engine.stats().watch_connected
    });
    let rev = etcd.put("/etcdhosts", "10.0.0.2 web.example.org\n");
    wait_for("the put served", DEADLINE, || {
        engine.stats().revision == rev
    });
    holds("an untouched store", Duration::from_secs(1), || {
        keyspace(&etcd) == (vec!["/etcdhosts".to_string()], rev) && leases(&etcd).is_empty()
    });
    drop(engine);
    assert_eq!(keyspace(&etcd), (vec!["/etcdhosts".to_string()], rev));
    assert!(leases(&etcd).is_empty());
}

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn collect_log(_level: i32, msg: *const u8, len: usize) {
    let text = unsafe { std::slice::from_raw_parts(msg, len) };
    LOG.lock()
        .unwrap()
        .push(String::from_utf8_lossy(text).into_owned());
}

#[test]
fn read_only_user_with_status_key_gets_a_hint_and_keeps_serving() {
    let _ = etcdhosts::ffi::etcdhosts_set_logger(Some(collect_log));
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 web.example.org\n");
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let engine = Engine::start(Config {
        username: Some("reader".into()),
        password: Some("readerpw".into()),
        ..config(&etcd, "127.0.0.1:3053")
    })
    .unwrap();
    let key = format!(
        "/etcdhosts-status/{}/127.0.0.1:3053",
        etcdhosts::identity::hostname()
    );
    wait_for("the permission hint", DEADLINE, || {
        LOG.lock().unwrap().iter().any(|l| {
            l.contains(&format!("status key {key}"))
                && l.contains("permission denied")
                && l.contains("write access to the status prefix /etcdhosts-status/")
        })
    });
    // DNS is not affected: updates are still served.
    let rev = etcd.put("/etcdhosts", "10.0.0.2 web.example.org\n");
    wait_for("the put served", DEADLINE, || {
        engine.stats().revision == rev
    });
    assert_eq!(engine.table().lookup_v4("web.example.org.").len(), 1);
    assert_eq!(engine.stats().etcd_errors, 0);
    let (keys, _) = keyspace(&etcd);
    assert_eq!(keys, ["/etcdhosts"]);
    let dropping = Instant::now();
    drop(engine);
    assert!(dropping.elapsed() < Duration::from_secs(3));
}
