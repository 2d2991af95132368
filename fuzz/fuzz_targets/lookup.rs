//! `etcdhosts_lookup` through the C ABI with arbitrary qname bytes, qtypes and answer-buffer
//! sizes, against handles built once from a varied hosts file (A, AAAA, several addresses,
//! wildcards, IPv4-mapped and scoped IPv6, deep names, empty non-terminals, several zones).
//!
//! Input: byte 0 picks the handle, bytes 1-2 the qtype (LE; the low bits of byte 1 favour
//! A, AAAA and PTR), bytes 3-4 the buffer length (LE, capped at 4096), the rest the qname.
//! The buffer is allocated at exactly that length so that the sanitizer sees any overrun.
#![no_main]

use std::sync::OnceLock;

use etcdhosts::ffi::{etcdhosts_handle, etcdhosts_lookup, etcdhosts_new, etcdhosts_status};
use libfuzzer_sys::fuzz_target;

const HOSTS: &str = "\
10.0.0.1 a.example.org A2.Example.Org.
10.0.0.2 a.example.org
10.0.0.3 b.example.org # comment
2001:db8::1 a.example.org six.example.org
::ffff:192.0.2.7 mapped.example.org
fe80::1%eth0 scoped.example.org
10.0.0.4 *.wild.example.org
10.0.0.5 exact.wild.example.org
10.0.0.6 x.y.z.deep.example.org
10.0.0.7 other.test localhost
10.0.0.8 example.org
127.0.0.1 localhost.localdomain
0.0.0.0 zero.example.org
255.255.255.255 bcast.example.org
:: any.example.org
10.0.0.9 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.example.org
bad line here
10.0.0.300 invalid.example.org
";

fn config(zones: &str, no_reverse: bool) -> String {
    let mut hosts = HOSTS.to_string();
    // Many addresses on one name and many names on one address: answers larger than small
    // buffers, PTR answers with many names.
    for i in 0..40 {
        hosts.push_str(&format!("10.1.0.{i} many.example.org\n"));
        hosts.push_str(&format!("10.2.0.1 n{i}.example.org\n"));
    }
    format!(
        r#"{{"endpoints":["http://127.0.0.1:1"],"timeout_ms":1,"ttl":300,"zones":{zones},"no_reverse":{no_reverse},"inline":{}}}"#,
        json_string(&hosts)
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Handles(Vec<*mut etcdhosts_handle>);
// SAFETY: handles are only read through etcdhosts_lookup, which is thread-safe.
unsafe impl Send for Handles {}
unsafe impl Sync for Handles {}

fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(|| {
        let configs = [
            config(r#"["example.org."]"#, false),
            config(r#"["."]"#, false),
            config(r#"["example.org.","wild.example.org.","test."]"#, true),
            config(r#"["Example.Org","in-addr.arpa."]"#, false),
        ];
        Handles(
            configs
                .iter()
                .map(|c| {
                    let mut err = [0u8; 512];
                    // SAFETY: pointers and lengths of live buffers.
                    let h =
                        unsafe { etcdhosts_new(c.as_ptr(), c.len(), err.as_mut_ptr(), err.len()) };
                    assert!(!h.is_null(), "{}", String::from_utf8_lossy(&err));
                    h
                })
                .collect(),
        )
    })
}

fn lookup(
    h: *mut etcdhosts_handle,
    qname: &[u8],
    qtype: u16,
    out_len: usize,
) -> (etcdhosts_status, usize, Vec<u8>) {
    let mut out = vec![0xAAu8; out_len];
    let mut written = usize::MAX;
    // SAFETY: live handle, buffers of the stated lengths.
    let status = unsafe {
        etcdhosts_lookup(
            h,
            qname.as_ptr(),
            qname.len(),
            qtype,
            out.as_mut_ptr(),
            out.len(),
            &mut written,
        )
    };
    (status, written, out)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let all = handles();
    let h = all.0[data[0] as usize % all.0.len()];
    let raw_type = u16::from_le_bytes([data[1], data[2]]);
    let qtype = match data[1] & 0x7 {
        0 => 1,
        1 => 28,
        2 => 12,
        _ => raw_type,
    };
    let out_len = u16::from_le_bytes([data[3], data[4]]) as usize % 4097;
    let qname = &data[5..];

    use etcdhosts_status::*;
    let (status, written, out) = lookup(h, qname, qtype, out_len);
    match status {
        ETCDHOSTS_ANSWER => {
            assert!(
                written > 8 && written <= out_len,
                "written {written} of {out_len}"
            );
            let body = &out[8..written];
            match qtype {
                1 => assert_eq!(body.len() % 4, 0),
                28 => assert_eq!(body.len() % 16, 0),
                12 => {
                    // n * (length byte, that many bytes of a lowercase FQDN)
                    let mut rest = body;
                    while let Some((&n, tail)) = rest.split_first() {
                        let n = n as usize;
                        assert!(
                            n >= 1 && n <= tail.len(),
                            "PTR name length {n} of {}",
                            tail.len()
                        );
                        let name = &tail[..n];
                        assert!(name.ends_with(b"."), "{:?}", String::from_utf8_lossy(name));
                        assert!(!name.iter().any(u8::is_ascii_uppercase));
                        rest = &tail[n..];
                    }
                }
                t => panic!("ANSWER for qtype {t}"),
            }
            assert!(
                out[written..].iter().all(|&b| b == 0xAA),
                "bytes written past `written`"
            );
        }
        ETCDHOSTS_NODATA | ETCDHOSTS_NXDOMAIN | ETCDHOSTS_EMPTY_NON_TERMINAL => {
            assert_eq!(written, 8, "header only");
            assert!(out_len >= 8);
            let ttl = u32::from_le_bytes(out[..4].try_into().unwrap());
            assert!((1..=30).contains(&ttl), "negative TTL {ttl}");
        }
        ETCDHOSTS_NOT_MINE => assert_eq!(written, 0),
        ETCDHOSTS_BUFFER_TOO_SMALL => {
            assert!(written > out_len, "needs {written}, had {out_len}");
            // With the size asked for, the same query must now fit.
            let (again, written2, _) = lookup(h, qname, qtype, written);
            assert_ne!(
                again, ETCDHOSTS_BUFFER_TOO_SMALL,
                "still too small at {written}"
            );
            assert_ne!(again, ETCDHOSTS_PANIC);
            assert!(written2 <= written);
        }
        ETCDHOSTS_INVALID_ARGUMENT => panic!("valid arguments refused"),
        ETCDHOSTS_PANIC => panic!(
            "panic behind the ABI for qname {:?} qtype {qtype}",
            String::from_utf8_lossy(qname)
        ),
    }

    // Case does not matter: the same query in upper case gets the same status.
    if qname.iter().any(u8::is_ascii_lowercase) && out_len >= 4096 {
        let upper = qname.to_ascii_uppercase();
        let (s2, w2, _) = lookup(h, &upper, qtype, out_len);
        assert_eq!((s2, w2), (status, written), "case changed the answer");
    }
});
