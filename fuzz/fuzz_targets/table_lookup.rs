//! Arbitrary hosts text through the whole pipeline, checked against the parser as an
//! oracle: the text becomes a handle's snapshot file (`etcdhosts_new`, so the table is built
//! exactly as for an etcd value), then every record the parser kept must be served through
//! `etcdhosts_lookup`: its name answers A or AAAA with its address among the answers, and
//! (without `no_reverse`, for names that are not wildcards) the PTR of its address names it.
//!
//! Input: byte 0 picks the zones, `no_reverse` and the TTL; the rest is the hosts text.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use etcdhosts::ffi::{
    etcdhosts_answer, etcdhosts_free, etcdhosts_lookup, etcdhosts_new, etcdhosts_result,
    etcdhosts_status,
};
use etcdhosts::hosts;
use etcdhosts::Zones;
use libfuzzer_sys::fuzz_target;

const ZONE_SETS: &[&[&str]] = &[&["."], &["example.org."], &["example.org.", "a."], &["Org"]];

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s + "ip6.arpa."
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    if text.len() > 64 << 10 {
        return;
    }
    let zones = ZONE_SETS[selector as usize % ZONE_SETS.len()];
    let no_reverse = selector & 0x10 != 0;
    let ttl = if selector & 0x20 != 0 { 1 } else { 65535 };
    let snapshot =
        std::env::temp_dir().join(format!("etcdhosts-fuzz-{}.hosts", std::process::id()));
    std::fs::write(&snapshot, text).unwrap();
    let block = format!(
        r#"{{"zones":{},"lines":[["endpoint","http://127.0.0.1:1"],["timeout","1ms"],["ttl","{ttl}"],["snapshot",{}]{}]}}"#,
        serde_json_list(zones),
        json_string(&snapshot.display().to_string()),
        if no_reverse { r#",["no_reverse"]"# } else { "" }
    );
    let mut err = [0u8; 512];
    let mut h = std::ptr::null_mut();
    // SAFETY: pointers and lengths of live buffers.
    let result = unsafe {
        etcdhosts_new(
            block.as_ptr(),
            block.len(),
            &mut h,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert!(
        result == etcdhosts_result::ETCDHOSTS_RESULT_OK,
        "{}",
        String::from_utf8_lossy(&err)
    );

    // (status, TTL, records) of a query, retried with a larger buffer as the Go shim does.
    let lookup = |qname: &[u8], qtype: u16| -> (etcdhosts_status, u32, Vec<u8>) {
        let mut out = vec![0u8; 64];
        loop {
            let mut answer = etcdhosts_answer::default();
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
            if status == etcdhosts_status::ETCDHOSTS_BUFFER_TOO_SMALL {
                assert!(answer.len > out.len());
                out = vec![0u8; answer.len];
                continue;
            }
            assert_ne!(status, etcdhosts_status::ETCDHOSTS_PANIC);
            out.truncate(answer.len);
            return (status, answer.ttl, out);
        }
    };

    let zones_parsed = Zones::new(zones);
    let (records, _) = hosts::parse_records(text, &zones_parsed);
    // What the parser says each name and each address should answer.
    let mut by_name: BTreeMap<&str, (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>)> = BTreeMap::new();
    let mut by_addr: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
    for r in &records {
        let entry = by_name.entry(r.name.as_str()).or_default();
        match r.addr {
            IpAddr::V4(v4) => entry.0.insert(v4.octets().to_vec()),
            IpAddr::V6(v6) => entry.1.insert(v6.octets().to_vec()),
        };
        if !r.name.starts_with("*.") {
            by_addr.entry(r.addr).or_default().insert(r.name.as_str());
        }
    }
    let answer_set = |out: &[u8], size: usize| -> Vec<Vec<u8>> {
        out.chunks(size).map(<[u8]>::to_vec).collect()
    };
    for (name, (v4, v6)) in by_name.iter().take(200) {
        for (qtype, want, size) in [(1u16, v4, 4usize), (28, v6, 16)] {
            let (status, answer_ttl, out) = lookup(name.as_bytes(), qtype);
            if want.is_empty() {
                // The name exists with the other family only: NODATA, not a wildcard's answer.
                assert_eq!(status, etcdhosts_status::ETCDHOSTS_NODATA, "{name} {qtype}");
                continue;
            }
            assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER, "{name} {qtype}");
            assert_eq!(answer_ttl, ttl);
            let got = answer_set(&out, size);
            let got_set: BTreeSet<Vec<u8>> = got.iter().cloned().collect();
            assert_eq!(
                &got_set, want,
                "{name} {qtype}: the addresses of its lines, no others"
            );
            assert_eq!(
                got.len(),
                got_set.len(),
                "{name} {qtype}: a duplicate address in the answer"
            );
        }
        // Every ancestor inside the zone exists (RFC 8020): never NXDOMAIN.
        let mut parent = *name;
        while let Some(dot) = parent.find('.') {
            parent = &parent[dot + 1..];
            let fqdn = if parent.is_empty() { "." } else { parent };
            if !zones_parsed.contains(fqdn.as_bytes()) {
                break;
            }
            let (status, _, _) = lookup(fqdn.as_bytes(), 1);
            assert!(
                !matches!(
                    status,
                    etcdhosts_status::ETCDHOSTS_NXDOMAIN | etcdhosts_status::ETCDHOSTS_NOT_MINE
                ),
                "{fqdn}, an ancestor of {name}: {status:?}"
            );
        }
    }
    for (addr, names) in by_addr.iter().take(100) {
        let (status, _, out) = lookup(reverse_name(*addr).as_bytes(), 12);
        if no_reverse {
            assert_eq!(status, etcdhosts_status::ETCDHOSTS_NOT_MINE);
            continue;
        }
        assert_eq!(status, etcdhosts_status::ETCDHOSTS_ANSWER, "PTR {addr}");
        let mut got = Vec::new();
        let mut rest = &out[..];
        while let Some((&n, tail)) = rest.split_first() {
            got.push(
                std::str::from_utf8(&tail[..n as usize])
                    .unwrap()
                    .to_string(),
            );
            rest = &tail[n as usize..];
        }
        let got_set: BTreeSet<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(
            &got_set, names,
            "PTR {addr}: the names of its lines, no others"
        );
        assert_eq!(
            got.len(),
            got_set.len(),
            "PTR {addr}: a duplicate name in the answer"
        );
    }
    // A few hostile names against whatever table this is.
    for q in [
        &b""[..],
        b".",
        b"..",
        b"*.",
        b"\\.",
        b"a\\000b.",
        &[0xff; 300],
    ] {
        for qtype in [1, 12, 28, 255] {
            lookup(q, qtype);
        }
    }
    // SAFETY: a handle from etcdhosts_new, freed once.
    unsafe { etcdhosts_free(h) };
});

fn serde_json_list(zones: &[&str]) -> String {
    let quoted: Vec<String> = zones.iter().map(|z| json_string(z)).collect();
    format!("[{}]", quoted.join(","))
}
