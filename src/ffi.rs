//! The C ABI (docs/DESIGN.md §3), in the style of rustls-ffi: calls that can fail return an
//! [`etcdhosts_result`], a lookup returns its own [`etcdhosts_status`], and each item says
//! which threads may call it. This file only checks arguments, converts types and catches
//! panics: every decision is made in `config`, `engine` and `table`.
//! `include/etcdhosts.h` is generated from this file by cbindgen (see tests/header.rs).

#![allow(non_camel_case_types)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::config::Config;
use crate::engine::Engine;
use crate::table::Outcome;

/// What a call other than a lookup did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum etcdhosts_result {
    ETCDHOSTS_RESULT_OK = 0,
    /// The Corefile block was refused; the error buffer says why.
    ETCDHOSTS_RESULT_INVALID_CONFIG = 1,
    /// A pointer that is required was NULL.
    ETCDHOSTS_RESULT_NULL_PARAMETER = 2,
    /// `etcdhosts_set_logger`: a logger is in place already, from an earlier call (or the
    /// program's own `tracing` subscriber).
    ETCDHOSTS_RESULT_ALREADY_SET = 3,
    /// A bug: Rust panicked and caught it. A handle stays usable.
    ETCDHOSTS_RESULT_PANIC = 4,
}

/// What `etcdhosts_lookup` found, or why it could not answer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum etcdhosts_status {
    /// Records were written to `out`: A = n*4 address bytes, AAAA = n*16, PTR = n*(u8
    /// length, then that many bytes of a lowercase fully qualified name).
    ETCDHOSTS_ANSWER = 0,
    /// The name exists, not with this type: NOERROR without records, and the SOA.
    ETCDHOSTS_NODATA = 1,
    /// The name is in the zones but unknown: NXDOMAIN with the SOA.
    ETCDHOSTS_NXDOMAIN = 2,
    /// Not ours: outside the zones, an unknown PTR, or `no_reverse`. Nothing is filled in.
    ETCDHOSTS_NOT_MINE = 3,
    /// `answer.len` holds the bytes needed; call again with a buffer that large.
    ETCDHOSTS_BUFFER_TOO_SMALL = 4,
    /// A NULL pointer where one is required.
    ETCDHOSTS_INVALID_ARGUMENT = 5,
    /// A bug: Rust panicked and caught it. Answer SERVFAIL.
    ETCDHOSTS_PANIC = 6,
    /// The name has no records but names exist below it, or it is a zone apex: answer
    /// NODATA with the SOA (never NXDOMAIN, RFC 8020), or hand it on where `fallthrough`
    /// covers it, as for NXDOMAIN.
    ETCDHOSTS_EMPTY_NON_TERMINAL = 7,
}

/// `etcdhosts_answer.zone` of a name outside every zone (a PTR answered for any address).
pub const ETCDHOSTS_NO_ZONE: u32 = u32::MAX;

/// A running instance; opaque to C. Any number of threads may call `etcdhosts_lookup`,
/// `etcdhosts_get_stats` and `etcdhosts_get_info` on it at once; `etcdhosts_free` must be
/// the only call on it: none may be running, and none may follow.
pub struct etcdhosts_handle {
    engine: Engine,
    /// What `etcdhosts_get_info` points at: the engine's zone names.
    zones: Vec<etcdhosts_zone>,
}

/// UTF-8 bytes owned by the library, not NUL-terminated, valid until `etcdhosts_free` of
/// the handle they came from (those of `etcdhosts_version`: for the life of the process).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct etcdhosts_str {
    pub data: *const u8,
    pub len: usize,
}

impl etcdhosts_str {
    fn of(s: &str) -> etcdhosts_str {
        etcdhosts_str {
            data: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// A zone and the names of the SOA of its negative answers.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct etcdhosts_zone {
    /// Lowercase, fully qualified: the SOA's owner name.
    pub name: etcdhosts_str,
    pub mname: etcdhosts_str,
    pub rname: etcdhosts_str,
}

/// What a handle was configured with, for building replies and metric labels.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct etcdhosts_info {
    /// The etcd key (or prefix) served.
    pub key: etcdhosts_str,
    /// The zones; `etcdhosts_answer.zone` indexes them.
    pub zones: *const etcdhosts_zone,
    pub zones_len: usize,
}

/// The numbers of the SOA of a negative answer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct etcdhosts_soa {
    /// The etcd revision being served.
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// What a lookup returned besides its records.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct etcdhosts_answer {
    /// The TTL of the records, or of the SOA for NODATA, NXDOMAIN and EMPTY_NON_TERMINAL.
    pub ttl: u32,
    /// The zone the name is in (an index into `etcdhosts_info.zones`), or
    /// `ETCDHOSTS_NO_ZONE`.
    pub zone: u32,
    /// Bytes of records written to `out`; for BUFFER_TOO_SMALL the bytes needed.
    pub len: usize,
    /// The SOA of NODATA, NXDOMAIN and EMPTY_NON_TERMINAL; zero otherwise.
    pub soa: etcdhosts_soa,
}

/// Counters for metrics and readiness; see `Stats` in state.rs.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct etcdhosts_stats {
    /// Records (name, address pairs) served, inline ones included.
    pub records: u64,
    /// The etcd revision of the data served; 0 before the first read.
    pub revision: i64,
    /// Tables published from etcd or the snapshot file.
    pub reloads: u64,
    pub last_reload_unix_ms: i64,
    /// Lines skipped as invalid in the data served.
    pub invalid_lines: u64,
    /// etcd sessions that failed (connect, read or watch), each followed by a retry.
    pub etcd_errors: u64,
    /// Versions of the chunked layout not served because a chunk or an index was missing
    /// or corrupt (the last good version stayed).
    pub bad_versions: u64,
    pub watch_connected: bool,
    /// The first full read, from etcd or the snapshot file, is done.
    pub ready: bool,
}

/// The log callback: `level` 1 error, 2 warning, 3 info, 4 debug; `msg` is UTF-8, not
/// NUL-terminated, valid only during the call. It runs on the library's runtime threads
/// (named `etcdhosts`), and on the thread calling `etcdhosts_new` for lines about inline
/// or snapshot records; on several threads at once. It must return promptly and must not
/// call the library. NULL stands for no callback.
pub type etcdhosts_log_callback = Option<extern "C" fn(level: i32, msg: *const u8, msg_len: usize)>;

/// Checks a Corefile block (JSON: `{"zones", "lines", "root", "listen_hosts", "port"}`,
/// docs/DESIGN.md §4) without starting anything. On INVALID_CONFIG it writes a
/// NUL-terminated message (truncated to `err_len`) to `err_buf`, and to `*err_line` the
/// 1-based index in `lines` of the line at fault, or 0 when no one line is. Any thread.
///
/// # Safety
/// `block_json` must point to `block_json_len` readable bytes; `err_buf` to `err_len`
/// writable bytes, or be NULL; `err_line` to a writable size_t, or be NULL.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_config_check(
    block_json: *const u8,
    block_json_len: usize,
    err_buf: *mut u8,
    err_len: usize,
    err_line: *mut usize,
) -> etcdhosts_result {
    if block_json.is_null() {
        return etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER;
    }
    let checked = catch_unwind(|| {
        // SAFETY: the caller guarantees block_json_len readable bytes.
        let json = unsafe { std::slice::from_raw_parts(block_json, block_json_len) };
        Config::from_block_json(json).map(drop)
    });
    let e = match checked {
        Ok(Ok(())) => return etcdhosts_result::ETCDHOSTS_RESULT_OK,
        Ok(Err(e)) => e,
        Err(_) => return etcdhosts_result::ETCDHOSTS_RESULT_PANIC,
    };
    // SAFETY: the caller's promises on err_buf and err_line.
    unsafe {
        write_message(&e.message, err_buf, err_len);
        if !err_line.is_null() {
            *err_line = e.line.map_or(0, |i| i + 1);
        }
    }
    etcdhosts_result::ETCDHOSTS_RESULT_INVALID_CONFIG
}

/// Starts an instance from a Corefile block (as for `etcdhosts_config_check`) and stores
/// it in `*handle_out`. On INVALID_CONFIG or PANIC it writes a NUL-terminated message
/// (truncated to `err_len`) to `err_buf`. It waits for the first etcd read at most the
/// configured timeout, and never fails because etcd is down. Any thread; it may call the
/// log callback on this thread.
///
/// # Safety
/// `block_json` must point to `block_json_len` readable bytes; `handle_out` to a writable
/// pointer; `err_buf` to `err_len` writable bytes, or be NULL.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_new(
    block_json: *const u8,
    block_json_len: usize,
    handle_out: *mut *mut etcdhosts_handle,
    err_buf: *mut u8,
    err_len: usize,
) -> etcdhosts_result {
    if block_json.is_null() || handle_out.is_null() {
        return etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER;
    }
    let started = catch_unwind(|| {
        // SAFETY: the caller guarantees block_json_len readable bytes.
        let json = unsafe { std::slice::from_raw_parts(block_json, block_json_len) };
        let config = Config::from_block_json(json).map_err(|e| e.message)?;
        let engine = Engine::start(config)?;
        let zones = engine
            .zones()
            .as_slice()
            .iter()
            .map(|z| etcdhosts_zone {
                name: etcdhosts_str::of(&z.name),
                mname: etcdhosts_str::of(&z.mname),
                rname: etcdhosts_str::of(&z.rname),
            })
            .collect();
        Ok(Box::into_raw(Box::new(etcdhosts_handle { engine, zones })))
    });
    let (result, message) = match started {
        Ok(Ok(handle)) => {
            // SAFETY: checked non-NULL above; the caller guarantees it is writable.
            unsafe { *handle_out = handle };
            return etcdhosts_result::ETCDHOSTS_RESULT_OK;
        }
        Ok(Err(message)) => (etcdhosts_result::ETCDHOSTS_RESULT_INVALID_CONFIG, message),
        Err(_) => (
            etcdhosts_result::ETCDHOSTS_RESULT_PANIC,
            "internal error (panic) while starting".to_string(),
        ),
    };
    // SAFETY: the caller's promise on err_buf.
    unsafe { write_message(&message, err_buf, err_len) };
    result
}

/// Stops the instance's tasks, closes its connections and frees it; strings from
/// `etcdhosts_get_info` die with it. It waits for the status key to be removed, up to 5 s
/// and the configured timeout (not at all when called on a runtime thread). No other call
/// on this handle may be running or follow. NULL is ignored.
///
/// # Safety
/// `handle` must come from `etcdhosts_new` and not have been freed.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_free(handle: *mut etcdhosts_handle) {
    if handle.is_null() {
        return;
    }
    // SAFETY: the caller hands back ownership of a handle from etcdhosts_new.
    let handle = unsafe { Box::from_raw(handle) };
    let _ = catch_unwind(AssertUnwindSafe(|| drop(handle)));
}

/// Answers one query: records into `out` (`answer.len` bytes), the rest into `*answer`.
/// Never blocks on etcd, never locks, never allocates (PTR aside). Any threads at once.
///
/// # Safety
/// `handle` must be live; `qname` must point to `qname_len` readable bytes; `out` to
/// `out_len` writable bytes (it may be NULL when `out_len` is 0); `answer` to a writable
/// `etcdhosts_answer`.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_lookup(
    handle: *const etcdhosts_handle,
    qname: *const u8,
    qname_len: usize,
    qtype: u16,
    out: *mut u8,
    out_len: usize,
    answer: *mut etcdhosts_answer,
) -> etcdhosts_status {
    if handle.is_null() || qname.is_null() || answer.is_null() || (out.is_null() && out_len > 0) {
        return etcdhosts_status::ETCDHOSTS_INVALID_ARGUMENT;
    }
    let found = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: checked non-NULL above; lengths are the caller's promise.
        let (handle, qname) = unsafe { (&*handle, std::slice::from_raw_parts(qname, qname_len)) };
        let out: &mut [u8] = if out_len == 0 {
            &mut []
        } else {
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts_mut(out, out_len) }
        };
        #[cfg(test)]
        tests::maybe_panic(qname);
        handle.engine.lookup(qname, qtype, out)
    }));
    let Ok(found) = found else {
        return etcdhosts_status::ETCDHOSTS_PANIC;
    };
    let soa = found
        .soa
        .map_or(etcdhosts_soa::default(), |soa| etcdhosts_soa {
            serial: soa.serial,
            refresh: soa.refresh,
            retry: soa.retry,
            expire: soa.expire,
            minimum: soa.minimum,
        });
    // SAFETY: checked non-NULL above.
    unsafe {
        *answer = etcdhosts_answer {
            ttl: found.ttl,
            zone: found.zone.map_or(ETCDHOSTS_NO_ZONE, |z| z as u32),
            len: found.len,
            soa,
        }
    };
    match found.outcome {
        Outcome::Answer => etcdhosts_status::ETCDHOSTS_ANSWER,
        Outcome::NoData => etcdhosts_status::ETCDHOSTS_NODATA,
        Outcome::NxDomain => etcdhosts_status::ETCDHOSTS_NXDOMAIN,
        Outcome::EmptyNonTerminal => etcdhosts_status::ETCDHOSTS_EMPTY_NON_TERMINAL,
        Outcome::NotMine => etcdhosts_status::ETCDHOSTS_NOT_MINE,
        Outcome::BufferTooSmall => etcdhosts_status::ETCDHOSTS_BUFFER_TOO_SMALL,
    }
}

/// Copies the instance's counters into `*out`. Any threads at once.
///
/// # Safety
/// `handle` must be live and `out` writable.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_get_stats(
    handle: *const etcdhosts_handle,
    out: *mut etcdhosts_stats,
) -> etcdhosts_result {
    if handle.is_null() || out.is_null() {
        return etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER;
    }
    // SAFETY: checked non-NULL above.
    let handle = unsafe { &*handle };
    let Ok(s) = catch_unwind(AssertUnwindSafe(|| handle.engine.stats())) else {
        return etcdhosts_result::ETCDHOSTS_RESULT_PANIC;
    };
    // SAFETY: checked non-NULL above.
    unsafe {
        *out = etcdhosts_stats {
            records: s.records,
            revision: s.revision,
            reloads: s.reloads,
            last_reload_unix_ms: s.last_reload_unix_ms,
            invalid_lines: s.invalid_lines,
            etcd_errors: s.etcd_errors,
            bad_versions: s.bad_versions,
            watch_connected: s.watch_connected,
            ready: s.ready,
        }
    };
    etcdhosts_result::ETCDHOSTS_RESULT_OK
}

/// Fills `*out` with what the instance was configured with; the strings and the zones
/// array stay valid until `etcdhosts_free`. Any threads at once.
///
/// # Safety
/// `handle` must be live and `out` writable.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_get_info(
    handle: *const etcdhosts_handle,
    out: *mut etcdhosts_info,
) -> etcdhosts_result {
    if handle.is_null() || out.is_null() {
        return etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER;
    }
    // SAFETY: checked non-NULL above.
    let handle = unsafe { &*handle };
    // SAFETY: checked non-NULL above.
    unsafe {
        *out = etcdhosts_info {
            key: etcdhosts_str::of(&handle.engine.config().key),
            zones: handle.zones.as_ptr(),
            zones_len: handle.zones.len(),
        }
    };
    etcdhosts_result::ETCDHOSTS_RESULT_OK
}

/// Sends the library's log lines to `callback` for the life of the process. Call it once,
/// before the first `etcdhosts_new`; a later call returns ALREADY_SET and changes nothing.
/// Any thread.
#[no_mangle]
pub extern "C" fn etcdhosts_set_logger(callback: etcdhosts_log_callback) -> etcdhosts_result {
    let Some(callback) = callback else {
        return etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER;
    };
    match catch_unwind(|| crate::log::set_callback(callback)) {
        Ok(true) => etcdhosts_result::ETCDHOSTS_RESULT_OK,
        Ok(false) => etcdhosts_result::ETCDHOSTS_RESULT_ALREADY_SET,
        Err(_) => etcdhosts_result::ETCDHOSTS_RESULT_PANIC,
    }
}

/// Writes the library's version (Cargo.toml's, e.g. `0.1.0`) to `*out`: static bytes,
/// valid for the life of the process. Any thread.
///
/// # Safety
/// `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_version(out: *mut etcdhosts_str) -> etcdhosts_result {
    if out.is_null() {
        return etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER;
    }
    let Ok(version) = catch_unwind(|| etcdhosts_str::of(env!("CARGO_PKG_VERSION"))) else {
        return etcdhosts_result::ETCDHOSTS_RESULT_PANIC;
    };
    // SAFETY: checked non-NULL above.
    unsafe { *out = version };
    etcdhosts_result::ETCDHOSTS_RESULT_OK
}

/// Writes `message` NUL-terminated to `buf`, truncated to `len` bytes.
///
/// # Safety
/// `buf` must point to `len` writable bytes, or be NULL.
unsafe fn write_message(message: &str, buf: *mut u8, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = message.len().min(len - 1);
    // SAFETY: the caller guarantees len writable bytes; n + 1 <= len are written.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), buf, n);
        *buf.add(n) = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test build panics behind the ABI for this qname.
    pub(super) fn maybe_panic(qname: &[u8]) {
        if qname == b"panic.test." {
            panic!("injected panic");
        }
    }

    fn new_handle(json: &str) -> Result<*mut etcdhosts_handle, String> {
        let mut err = [0u8; 256];
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
        if result != etcdhosts_result::ETCDHOSTS_RESULT_OK {
            let end = err.iter().position(|&b| b == 0).unwrap();
            return Err(String::from_utf8_lossy(&err[..end]).into_owned());
        }
        Ok(handle)
    }

    fn lookup(
        h: *const etcdhosts_handle,
        qname: &[u8],
        out: &mut [u8],
    ) -> (etcdhosts_status, etcdhosts_answer) {
        let mut answer = etcdhosts_answer::default();
        let status = unsafe {
            etcdhosts_lookup(
                h,
                qname.as_ptr(),
                qname.len(),
                1,
                out.as_mut_ptr(),
                out.len(),
                &mut answer,
            )
        };
        (status, answer)
    }

    const OFFLINE: &str = r#"{"zones":["example.org."],"lines":[["endpoint","http://127.0.0.1:1"],
        ["timeout","100ms"],["10.0.0.1","a.example.org"]]}"#;

    #[test]
    fn a_panic_behind_the_abi_becomes_a_status() {
        let h = new_handle(OFFLINE).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(
            lookup(h, b"panic.test.", &mut out).0,
            etcdhosts_status::ETCDHOSTS_PANIC
        );
        // The handle still works afterwards.
        let (status, answer) = lookup(h, b"a.example.org.", &mut out);
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER);
        assert_eq!(&out[..answer.len], &[10, 0, 0, 1]);
        unsafe { etcdhosts_free(h) };
    }

    #[test]
    fn negative_answers_carry_their_zone_and_soa() {
        let h = new_handle(OFFLINE).unwrap();
        let mut info = std::mem::MaybeUninit::<etcdhosts_info>::uninit();
        let result = unsafe { etcdhosts_get_info(h, info.as_mut_ptr()) };
        assert_eq!(result, etcdhosts_result::ETCDHOSTS_RESULT_OK);
        let info = unsafe { info.assume_init() };
        let text = |s: etcdhosts_str| unsafe {
            std::str::from_utf8(std::slice::from_raw_parts(s.data, s.len)).unwrap()
        };
        assert_eq!(text(info.key), "/etcdhosts");
        let zones = unsafe { std::slice::from_raw_parts(info.zones, info.zones_len) };
        assert_eq!(zones.len(), 1);
        let zone = zones[0];
        assert_eq!(
            (text(zone.name), text(zone.mname), text(zone.rname)),
            (
                "example.org.",
                "ns.dns.example.org.",
                "hostmaster.example.org."
            )
        );
        let (status, answer) = lookup(h, b"nope.example.org.", &mut []);
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_NXDOMAIN);
        assert_eq!(
            answer,
            etcdhosts_answer {
                ttl: 30,
                zone: 0,
                len: 0,
                soa: etcdhosts_soa {
                    serial: 0,
                    refresh: 7200,
                    retry: 1800,
                    expire: 86400,
                    minimum: 30
                }
            }
        );
        let (status, answer) = lookup(h, b"a.example.net.", &mut []);
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_NOT_MINE);
        assert_eq!(answer.zone, ETCDHOSTS_NO_ZONE);
        unsafe { etcdhosts_free(h) };
    }

    #[test]
    fn bad_arguments_and_bad_configs_are_reported() {
        let e = new_handle(r#"{"lines":[["ttl","0"]]}"#).unwrap_err();
        assert_eq!(e, "ttl: 0 is not in 1..65535");

        let long = format!(
            r#"{{"lines":[["key","{}"],["ttl","0"]]}}"#,
            "k".repeat(1000)
        );
        let (mut small, mut line) = ([0xffu8; 8], 99);
        let result = unsafe {
            etcdhosts_config_check(
                long.as_ptr(),
                long.len(),
                small.as_mut_ptr(),
                small.len(),
                &mut line,
            )
        };
        assert_eq!(result, etcdhosts_result::ETCDHOSTS_RESULT_INVALID_CONFIG);
        assert_eq!(&small, b"ttl: 0 \0", "message truncated and NUL-terminated");
        assert_eq!(line, 2, "the second line is at fault");
        let ok = br#"{"lines":[["ttl","60"]]}"#;
        let result = unsafe {
            etcdhosts_config_check(
                ok.as_ptr(),
                ok.len(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(result, etcdhosts_result::ETCDHOSTS_RESULT_OK);

        let mut handle = std::ptr::null_mut();
        let result =
            unsafe { etcdhosts_new(std::ptr::null(), 0, &mut handle, std::ptr::null_mut(), 0) };
        assert_eq!(result, etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER);
        assert!(handle.is_null());
        let (status, _) = lookup(std::ptr::null(), b"a.", &mut []);
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_INVALID_ARGUMENT);
        let mut stats = etcdhosts_stats::default();
        assert_eq!(
            unsafe { etcdhosts_get_stats(std::ptr::null(), &mut stats) },
            etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER
        );
        assert_eq!(
            etcdhosts_set_logger(None),
            etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER
        );
        unsafe { etcdhosts_free(std::ptr::null_mut()) };
        assert_eq!(
            unsafe { etcdhosts_version(std::ptr::null_mut()) },
            etcdhosts_result::ETCDHOSTS_RESULT_NULL_PARAMETER
        );
    }

    #[test]
    fn the_version_is_the_crates() {
        let mut v = etcdhosts_str {
            data: std::ptr::null(),
            len: 0,
        };
        assert_eq!(
            unsafe { etcdhosts_version(&mut v) },
            etcdhosts_result::ETCDHOSTS_RESULT_OK
        );
        let text = unsafe { std::str::from_utf8(std::slice::from_raw_parts(v.data, v.len)) };
        assert_eq!(text, Ok(env!("CARGO_PKG_VERSION")));
    }
}
