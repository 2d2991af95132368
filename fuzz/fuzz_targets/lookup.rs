//! `etcdhosts_lookup` through the C ABI with arbitrary qname bytes, qtypes and answer-buffer
//! sizes, against handles built once from a varied hosts file (A, AAAA, several addresses,
//! wildcards, IPv4-mapped and scoped IPv6, deep names, empty non-terminals, several zones),
//! served from a snapshot file as it would be from etcd.
//!
//! Input: byte 0 picks the handle, bytes 1-2 the qtype (LE; the low bits of byte 1 favour
//! A, AAAA and PTR), bytes 3-4 the buffer length (LE, capped at 4096), the rest the qname.
//! The buffer is allocated at exactly that length so that the sanitizer sees any overrun.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use etcdhosts::ffi::{
    etcdhosts_answer, etcdhosts_handle, etcdhosts_lookup, etcdhosts_new, etcdhosts_result,
    etcdhosts_status, ETCDHOSTS_NO_ZONE,
};
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

/// The Corefile block of a handle serving HOSTS (from the snapshot file) in `zones`.
fn block(zones: &str, no_reverse: bool, snapshot: &Path) -> String {
    let no_reverse = if no_reverse { r#",["no_reverse"]"# } else { "" };
    format!(
        r#"{{"zones":{zones},"lines":[["endpoint","http://127.0.0.1:1"],["timeout","1ms"],["ttl","300"],["snapshot",{}]{no_reverse}]}}"#,
        json_string(&snapshot.display().to_string())
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
        let mut hosts = HOSTS.to_string();
        // Many addresses on one name and many names on one address: answers larger than
        // small buffers, PTR answers with many names.
        for i in 0..40 {
            hosts.push_str(&format!("10.1.0.{i} many.example.org\n"));
            hosts.push_str(&format!("10.2.0.1 n{i}.example.org\n"));
        }
        let snapshot =
            std::env::temp_dir().join(format!("etcdhosts-fuzz-{}.hosts", std::process::id()));
        std::fs::write(&snapshot, hosts).unwrap();
        let blocks = [
            block(r#"["example.org."]"#, false, &snapshot),
            block(r#"["."]"#, false, &snapshot),
            block(
                r#"["example.org.","wild.example.org.","test."]"#,
                true,
                &snapshot,
            ),
            block(r#"["Example.Org","in-addr.arpa."]"#, false, &snapshot),
        ];
        Handles(
            blocks
                .iter()
                .map(|b| {
                    let mut err = [0u8; 512];
                    let mut h = std::ptr::null_mut();
                    // SAFETY: pointers and lengths of live buffers.
                    let result = unsafe {
                        etcdhosts_new(b.as_ptr(), b.len(), &mut h, err.as_mut_ptr(), err.len())
                    };
                    assert!(
                        result == etcdhosts_result::ETCDHOSTS_RESULT_OK,
                        "{}",
                        String::from_utf8_lossy(&err)
                    );
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
) -> (etcdhosts_status, etcdhosts_answer, Vec<u8>) {
    let mut out = vec![0xAAu8; out_len];
    let mut answer = etcdhosts_answer {
        len: usize::MAX,
        ..etcdhosts_answer::default()
    };
    // SAFETY: live handle, buffers of the stated lengths.
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
    (status, answer, out)
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
    let (status, answer, out) = lookup(h, qname, qtype, out_len);
    let written = answer.len;
    match status {
        ETCDHOSTS_ANSWER => {
            assert!(
                written > 0 && written <= out_len,
                "written {written} of {out_len}"
            );
            assert_eq!(answer.ttl, 300);
            let body = &out[..written];
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
                "bytes written past `len`"
            );
        }
        ETCDHOSTS_NODATA | ETCDHOSTS_NXDOMAIN | ETCDHOSTS_EMPTY_NON_TERMINAL => {
            assert_eq!(written, 0, "no records");
            assert!(out.iter().all(|&b| b == 0xAA), "nothing written");
            assert!(
                (1..=30).contains(&answer.ttl),
                "negative TTL {}",
                answer.ttl
            );
            assert_eq!(answer.soa.minimum, answer.ttl);
            assert_ne!(
                answer.zone, ETCDHOSTS_NO_ZONE,
                "a negative answer needs its zone"
            );
        }
        ETCDHOSTS_NOT_MINE => assert_eq!(written, 0),
        ETCDHOSTS_BUFFER_TOO_SMALL => {
            assert!(written > out_len, "needs {written}, had {out_len}");
            // With the size asked for, the same query must now fit.
            let (again, answer2, _) = lookup(h, qname, qtype, written);
            assert_ne!(
                again, ETCDHOSTS_BUFFER_TOO_SMALL,
                "still too small at {written}"
            );
            assert_ne!(again, ETCDHOSTS_PANIC);
            assert!(answer2.len <= written);
        }
        ETCDHOSTS_INVALID_ARGUMENT => panic!("valid arguments refused"),
        ETCDHOSTS_PANIC => panic!(
            "panic behind the ABI for qname {:?} qtype {qtype}",
            String::from_utf8_lossy(qname)
        ),
    }

    // Case does not matter: the same query in upper case gets the same answer.
    if qname.iter().any(u8::is_ascii_lowercase) && out_len >= 4096 {
        let upper = qname.to_ascii_uppercase();
        let (s2, a2, _) = lookup(h, &upper, qtype, out_len);
        assert_eq!((s2, a2), (status, answer), "case changed the answer");
    }
});
