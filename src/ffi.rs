//! The C ABI, as in docs/DESIGN.md §3. Argument checks and `catch_unwind` only: every
//! decision is made in `engine` and `table`. `include/etcdhosts.h` is generated from this
//! file by cbindgen (see tests/header.rs).
//!
//! Ownership: a handle from `etcdhosts_new` belongs to the caller until it passes it to
//! `etcdhosts_free`. Rust never keeps a pointer the caller passed in.

#![allow(non_camel_case_types)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::config::Config;
use crate::engine::Engine;
use crate::table::{Outcome, OUT_HEADER_LEN};

/// Length of the header at the start of every answer buffer: the TTL (u32 little-endian;
/// for NODATA and NXDOMAIN the TTL and minimum of the synthesized SOA), then the SOA serial
/// (u32 little-endian, the etcd revision being served).
pub const ETCDHOSTS_OUT_HEADER_LEN: usize = 8;
const _: () = assert!(ETCDHOSTS_OUT_HEADER_LEN == OUT_HEADER_LEN);

/// What `etcdhosts_lookup` found, or why it could not answer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum etcdhosts_status {
    /// Records follow the header: A = n*4 address bytes, AAAA = n*16, PTR = n*(u8 length,
    /// then that many bytes of a lowercase fully qualified name).
    ETCDHOSTS_ANSWER = 0,
    /// The name exists, not with this type. Header only.
    ETCDHOSTS_NODATA = 1,
    /// The name is in the zones but unknown. Header only.
    ETCDHOSTS_NXDOMAIN = 2,
    /// Not ours: outside the zones, an unknown PTR, or `no_reverse`. Nothing written.
    ETCDHOSTS_NOT_MINE = 3,
    /// `*written` holds the bytes needed; call again with a buffer that large.
    ETCDHOSTS_BUFFER_TOO_SMALL = 4,
    /// A NULL pointer where one is required.
    ETCDHOSTS_INVALID_ARGUMENT = 5,
    /// A bug: Rust panicked and caught it. Answer SERVFAIL.
    ETCDHOSTS_PANIC = 6,
    /// The name has no records but names exist below it, or it is a zone apex: answer
    /// NODATA (never NXDOMAIN, RFC 8020), or hand it on where `fallthrough` covers it, as
    /// for NXDOMAIN. Header only.
    ETCDHOSTS_EMPTY_NON_TERMINAL = 7,
}

/// An instance; opaque to C.
pub struct etcdhosts_handle {
    engine: Engine,
}

/// Counters for metrics and readiness; see `Stats` in state.rs.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct etcdhosts_stats {
    pub entries: u64,
    pub revision: i64,
    pub reloads: u64,
    pub last_reload_unix_ms: i64,
    pub invalid_lines: u64,
    pub etcd_errors: u64,
    pub watch_connected: bool,
    pub ready: bool,
}

/// The log callback: `level` 1 error, 2 warning, 3 info, 4 debug; `msg` is UTF-8, not
/// NUL-terminated, valid only during the call. Called from Rust's runtime thread.
pub type etcdhosts_log_callback = extern "C" fn(level: i32, msg: *const u8, msg_len: usize);

/// Starts an instance from a JSON config (docs/DESIGN.md §4). On a bad config returns NULL and
/// writes a NUL-terminated message (truncated to `err_len`) to `err_buf`. Waits for the
/// first etcd read at most the configured timeout; never fails because etcd is down.
///
/// # Safety
/// `config_json` must point to `config_len` readable bytes; `err_buf` to `err_len` writable
/// bytes, or be NULL.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_new(
    config_json: *const u8,
    config_len: usize,
    err_buf: *mut u8,
    err_len: usize,
) -> *mut etcdhosts_handle {
    let result = catch_unwind(|| {
        if config_json.is_null() {
            return Err("config is NULL".to_string());
        }
        // SAFETY: the caller guarantees config_len readable bytes.
        let json = unsafe { std::slice::from_raw_parts(config_json, config_len) };
        let engine = Engine::start(Config::from_json(json)?)?;
        Ok(Box::into_raw(Box::new(etcdhosts_handle { engine })))
    });
    let message = match result {
        Ok(Ok(handle)) => return handle,
        Ok(Err(message)) => message,
        Err(_) => "internal error (panic) while starting".to_string(),
    };
    if !err_buf.is_null() && err_len > 0 {
        let n = message.len().min(err_len - 1);
        // SAFETY: the caller guarantees err_len writable bytes; we write n + 1 <= err_len.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr(), err_buf, n);
            *err_buf.add(n) = 0;
        }
    }
    std::ptr::null_mut()
}

/// Stops the instance's etcd task, closes its connections and frees it. NULL is ignored.
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

/// Answers one query. Never blocks on etcd, never locks, never allocates (PTR aside).
///
/// # Safety
/// `handle` must be live; `qname` must point to `qname_len` readable bytes; `out` to
/// `out_len` writable bytes; `written` to a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_lookup(
    handle: *const etcdhosts_handle,
    qname: *const u8,
    qname_len: usize,
    qtype: u16,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> etcdhosts_status {
    if handle.is_null() || qname.is_null() || written.is_null() || (out.is_null() && out_len > 0) {
        return etcdhosts_status::ETCDHOSTS_INVALID_ARGUMENT;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
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
    let (status, n) = match result {
        Ok((Outcome::Answer, n)) => (etcdhosts_status::ETCDHOSTS_ANSWER, n),
        Ok((Outcome::NoData, n)) => (etcdhosts_status::ETCDHOSTS_NODATA, n),
        Ok((Outcome::NxDomain, n)) => (etcdhosts_status::ETCDHOSTS_NXDOMAIN, n),
        Ok((Outcome::EmptyNonTerminal, n)) => (etcdhosts_status::ETCDHOSTS_EMPTY_NON_TERMINAL, n),
        Ok((Outcome::NotMine, _)) => (etcdhosts_status::ETCDHOSTS_NOT_MINE, 0),
        Ok((Outcome::BufferTooSmall(n), _)) => (etcdhosts_status::ETCDHOSTS_BUFFER_TOO_SMALL, n),
        Err(_) => (etcdhosts_status::ETCDHOSTS_PANIC, 0),
    };
    // SAFETY: checked non-NULL above.
    unsafe { *written = n };
    status
}

/// Copies the instance's counters into `out`.
///
/// # Safety
/// `handle` must be live and `out` writable.
#[no_mangle]
pub unsafe extern "C" fn etcdhosts_get_stats(
    handle: *const etcdhosts_handle,
    out: *mut etcdhosts_stats,
) -> etcdhosts_status {
    if handle.is_null() || out.is_null() {
        return etcdhosts_status::ETCDHOSTS_INVALID_ARGUMENT;
    }
    // SAFETY: checked non-NULL above.
    let handle = unsafe { &*handle };
    match catch_unwind(AssertUnwindSafe(|| handle.engine.stats())) {
        Ok(s) => {
            // SAFETY: checked non-NULL above.
            unsafe {
                *out = etcdhosts_stats {
                    entries: s.entries,
                    revision: s.revision,
                    reloads: s.reloads,
                    last_reload_unix_ms: s.last_reload_unix_ms,
                    invalid_lines: s.invalid_lines,
                    etcd_errors: s.etcd_errors,
                    watch_connected: s.watch_connected,
                    ready: s.ready,
                }
            };
            etcdhosts_status::ETCDHOSTS_ANSWER
        }
        Err(_) => etcdhosts_status::ETCDHOSTS_PANIC,
    }
}

/// Sends Rust's log lines to `callback` for the life of the process; call it once, before
/// the first `etcdhosts_new`. Later calls, and NULL, are ignored.
#[no_mangle]
pub extern "C" fn etcdhosts_set_logger(
    callback: Option<extern "C" fn(level: i32, msg: *const u8, msg_len: usize)>,
) {
    if let Some(callback) = callback {
        let _ = catch_unwind(|| crate::log::set_callback(callback));
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
        let h = unsafe { etcdhosts_new(json.as_ptr(), json.len(), err.as_mut_ptr(), err.len()) };
        if h.is_null() {
            let end = err.iter().position(|&b| b == 0).unwrap();
            return Err(String::from_utf8_lossy(&err[..end]).into_owned());
        }
        Ok(h)
    }

    const OFFLINE: &str = r#"{"endpoints":["http://127.0.0.1:1"],"timeout_ms":100,"inline":"10.0.0.1 a.example.org\n","zones":["example.org."]}"#;

    #[test]
    fn a_panic_behind_the_abi_becomes_a_status() {
        let h = new_handle(OFFLINE).unwrap();
        let mut out = [0u8; 64];
        let mut written = 0;
        let q = b"panic.test.";
        let status = unsafe {
            etcdhosts_lookup(
                h,
                q.as_ptr(),
                q.len(),
                1,
                out.as_mut_ptr(),
                out.len(),
                &mut written,
            )
        };
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_PANIC);
        // The handle still works afterwards.
        let q = b"a.example.org.";
        let status = unsafe {
            etcdhosts_lookup(
                h,
                q.as_ptr(),
                q.len(),
                1,
                out.as_mut_ptr(),
                out.len(),
                &mut written,
            )
        };
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER);
        assert_eq!(&out[8..written], &[10, 0, 0, 1]);
        unsafe { etcdhosts_free(h) };
    }

    #[test]
    fn bad_arguments_and_bad_configs_are_reported() {
        let e = new_handle(r#"{"ttl":0}"#).unwrap_err();
        assert!(e.contains("ttl"), "{e}");
        let long = format!(r#"{{"key":"{}","ttl":0}}"#, "k".repeat(1000));
        let mut small = [0xffu8; 8];
        let h =
            unsafe { etcdhosts_new(long.as_ptr(), long.len(), small.as_mut_ptr(), small.len()) };
        assert!(h.is_null());
        assert_eq!(small[7], 0, "message truncated and NUL-terminated");
        let h = unsafe { etcdhosts_new(std::ptr::null(), 0, std::ptr::null_mut(), 0) };
        assert!(h.is_null());

        let mut written = 0;
        let status = unsafe {
            etcdhosts_lookup(
                std::ptr::null(),
                b"a.".as_ptr(),
                2,
                1,
                std::ptr::null_mut(),
                0,
                &mut written,
            )
        };
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_INVALID_ARGUMENT);
        let mut stats = etcdhosts_stats::default();
        assert_eq!(
            unsafe { etcdhosts_get_stats(std::ptr::null(), &mut stats) },
            etcdhosts_status::ETCDHOSTS_INVALID_ARGUMENT
        );
        unsafe { etcdhosts_free(std::ptr::null_mut()) };
    }
}
