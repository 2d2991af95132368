//! The hosts parser on arbitrary bytes: never panics, and everything it emits obeys the
//! rules of docs/DESIGN.md section 5 (valid, lowercase, fully qualified names inside the zones;
//! one diagnostic per skipped line, with a line number that exists).
//!
//! Input: byte 0 picks the zones and the diagnostics cap, the rest is the hosts text.
#![no_main]

use std::net::IpAddr;

use etcdhosts::hosts::{self, MAX_NAME_LEN};
use etcdhosts::Zones;
use libfuzzer_sys::fuzz_target;

const ZONE_SETS: &[&[&str]] = &[
    &[],
    &["example.org."],
    &["Example.ORG", "org."],
    &["10.in-addr.arpa.", "example.org", "."],
    &["a.b.c.d.e.f.g"],
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let zones = Zones::new(ZONE_SETS[selector as usize % ZONE_SETS.len()]);
    let keep = (selector >> 4) as usize; // 0..15 diagnostics kept
    let lines = text.split(|&b| b == b'\n').count();

    let mut diagnostics = Vec::new();
    let mut emitted = 0usize;
    let skipped = hosts::parse(text, &zones, &mut diagnostics, keep, |addr, name| {
        emitted += 1;
        check_name(name);
        assert!(
            zones.contains(name),
            "{:?} outside the zones",
            String::from_utf8_lossy(name)
        );
        assert!(zones.find(name).is_some());
        check_addr(addr);
    });
    assert!(diagnostics.len() <= keep && diagnostics.len() <= skipped);
    assert!(skipped <= lines);
    let mut last = 0;
    for d in &diagnostics {
        assert!(d.line >= 1 && d.line <= lines, "line {} of {lines}", d.line);
        assert!(d.line > last, "diagnostics in line order, one per line");
        last = d.line;
        // 64 bytes of the field at most, each escaped to at most 10 characters.
        assert!(
            d.reason.len() < 64 * 10 + 64,
            "bounded reason: {} bytes",
            d.reason.len()
        );
    }

    // The convenience wrappers agree with the streaming parser.
    let (records, all_diagnostics) = hosts::parse_records(text, &zones);
    assert_eq!(records.len(), emitted);
    assert_eq!(all_diagnostics.len(), skipped);
    assert_eq!(&all_diagnostics[..diagnostics.len()], &diagnostics[..]);
    match hosts::validate(text) {
        Ok(n) => {
            assert_eq!(skipped, 0);
            assert!(n >= emitted);
        }
        Err(d) => assert_eq!(d.len(), skipped, "validity does not depend on the zones"),
    }

    // Field-level functions on the raw input as one field.
    let mut out = Vec::new();
    if hosts::push_name(text, &mut out) {
        check_name(&out);
    } else {
        assert!(out.is_empty());
    }
    if let Some(addr) = hosts::parse_addr(text) {
        check_addr(addr);
    }
});

fn check_name(name: &[u8]) {
    assert!(name.ends_with(b"."), "not fully qualified");
    assert!(
        name.len() >= 2 && name.len() <= MAX_NAME_LEN + 1,
        "length {}",
        name.len()
    );
    assert!(!name.iter().any(u8::is_ascii_uppercase), "not lowercase");
    for (i, label) in name[..name.len() - 1].split(|&b| b == b'.').enumerate() {
        assert!(
            (1..=63).contains(&label.len()),
            "label length {}",
            label.len()
        );
        if label == b"*" {
            assert_eq!(i, 0, "wildcard only as the first label");
            assert!(name.len() > 2, "a wildcard needs a zone after it");
            continue;
        }
        assert!(
            label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "bad byte in {:?}",
            String::from_utf8_lossy(label)
        );
    }
    // Normalizing a normalized name changes nothing.
    let mut again = Vec::new();
    assert!(hosts::push_name(name, &mut again));
    assert_eq!(again, name);
}

fn check_addr(addr: IpAddr) {
    // Served as A: IPv4-mapped IPv6 never comes out as IPv6.
    if let IpAddr::V6(v6) = addr {
        assert!(
            v6.to_ipv4_mapped().is_none(),
            "{v6} should have become IPv4"
        );
    }
    let text = addr.to_string();
    assert_eq!(hosts::parse_addr(text.as_bytes()), Some(addr));
}
