//! The property test's longer run: a sequence of new values for a few etcd keys, applied one
//! by one through `Dataset::update` (the incremental path), must answer every question
//! exactly as a table built afresh from the final texts (`Table::from_texts`).
//!
//! Input: steps separated by 0xFF bytes; a step's first byte picks the key (low 2 bits) and
//! whether the key is deleted (bit 7), the rest is the key's new value. Lines that repeat
//! across steps make the chunks that stay the same.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use etcdhosts::dataset::Dataset;
use etcdhosts::hosts;
use etcdhosts::table::{TYPE_A, TYPE_AAAA, TYPE_PTR};
use etcdhosts::{Table, TableOptions, Zones};
use libfuzzer_sys::fuzz_target;

const INLINE: &[u8] = b"10.9.9.9 inline.example.org\n10.0.0.1 a.example.org\n";

fn options() -> TableOptions {
    TableOptions {
        zones: Zones::new(&["example.org."]),
        ttl: 60,
        no_reverse: false,
    }
}

fn answer(table: &Table, q: &[u8], qtype: u16) -> (String, Vec<u8>) {
    let mut out = vec![0u8; 1 << 16];
    let a = table.lookup(q, qtype, &mut out);
    out.truncate(a.len);
    (format!("{:?} {} {:?} {:?}", a.outcome, a.ttl, a.zone, a.soa), out)
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 << 10 {
        return;
    }
    let keys = [&b"/hosts/a"[..], b"/hosts/b", b"/hosts/c", b"/hosts/d"];
    let mut texts: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
    let mut dataset = Dataset::new(options(), INLINE);
    for (revision, step) in data.split(|&b| b == 0xFF).enumerate() {
        let Some((&op, value)) = step.split_first() else {
            continue;
        };
        let key = keys[op as usize % keys.len()];
        if op & 0x80 != 0 {
            texts.remove(key);
            dataset.update(&[(key, None)], false, revision as i64);
        } else {
            texts.insert(key, value);
            dataset.update(&[(key, Some(value))], false, revision as i64);
        }

        let mut all: Vec<&[u8]> = texts.values().copied().collect();
        all.push(INLINE);
        let fresh = Table::from_texts(options(), &all, revision as i64);
        let table = dataset.table();
        assert_eq!(table.records(), fresh.records());
        assert_eq!(table.names(), fresh.names());
        assert_eq!(table.invalid_lines(), fresh.invalid_lines());
        let mut questions = BTreeSet::new();
        for text in &all {
            let (records, _) = hosts::parse_records(text, &Zones::new::<&str>(&[]));
            for r in records {
                let mut name = r.name.replace('*', "w");
                questions.insert((format!("x.{name}"), TYPE_A));
                while !name.is_empty() {
                    questions.insert((name.clone(), TYPE_A));
                    questions.insert((name.clone(), TYPE_AAAA));
                    name = name.split_once('.').map_or(String::new(), |(_, p)| p.to_string());
                }
                let reverse = match r.addr {
                    std::net::IpAddr::V4(a) => {
                        let o = a.octets();
                        format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
                    }
                    std::net::IpAddr::V6(a) => {
                        let mut s = String::new();
                        for b in a.octets().iter().rev() {
                            s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
                        }
                        s + "ip6.arpa."
                    }
                };
                questions.insert((reverse, TYPE_PTR));
            }
        }
        for (q, qtype) in questions {
            assert_eq!(
                answer(table, q.as_bytes(), qtype),
                answer(&fresh, q.as_bytes(), qtype),
                "{q} type {qtype} after step {revision}"
            );
        }
    }
});
