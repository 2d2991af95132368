//! Same answers, proven: random edits applied through the dataset, one change at a time,
//! answer every question exactly as a table built afresh from the same final texts.

use std::collections::BTreeMap;

use super::*;
use crate::table::{Outcome, TYPE_A, TYPE_AAAA, TYPE_PTR};
use crate::zones::Zones;

/// A small deterministic generator (xorshift64*): no dependency, and a failing seed can be
/// replayed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const LABELS: &[&str] = &["a", "b", "c", "web", "db", "x1"];
const PARENTS: &[&str] = &[
    "example.org",
    "sub.example.org",
    "a.b.example.org",
    "other.net",
];
const V4: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "192.0.2.9",
    "::ffff:10.0.0.4",
];
const V6: &[&str] = &["::1", "2001:db8::1", "fe80::1%eth0"];

/// One hosts line: mostly good, sometimes a wildcard, an alias list, a comment or junk.
fn line(rng: &mut Rng) -> String {
    let addr = if rng.below(4) == 0 {
        rng.pick(V6)
    } else {
        rng.pick(V4)
    };
    let name = |rng: &mut Rng| {
        let label = if rng.below(8) == 0 {
            "*"
        } else {
            rng.pick(LABELS)
        };
        format!("{label}.{}", rng.pick(PARENTS))
    };
    match rng.below(20) {
        0 => "not-an-address host.example.org".to_string(),
        1 => format!("{addr} bad/name"),
        2 => "# a comment".to_string(),
        3 => String::new(),
        4 => format!("{addr} {} {}  # aliases", name(rng), name(rng)),
        // Filler: many names of their own, so that texts span several chunks.
        5..=9 => format!(
            "10.1.{}.{} host{}.example.org",
            rng.below(4),
            rng.below(250),
            rng.below(5000)
        ),
        _ => format!("{addr} {}", name(rng)),
    }
}

fn text(rng: &mut Rng, lines: usize) -> Vec<String> {
    (0..lines).map(|_| line(rng)).collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut t = lines.join("\n");
    t.push('\n');
    t.into_bytes()
}

/// Every question worth asking of the data: each name (and its parents, and a name below
/// it), each reverse name, each type.
fn questions(texts: &BTreeMap<String, Vec<String>>, inline: &str) -> Vec<(String, u16)> {
    let mut names = std::collections::BTreeSet::new();
    let mut addrs = std::collections::BTreeSet::new();
    let all = texts
        .values()
        .flatten()
        .map(String::as_str)
        .chain(inline.lines());
    for line in all {
        let mut fields = line.split('#').next().unwrap().split_whitespace();
        if let Some(addr) = fields.next() {
            addrs.insert(addr.to_string());
        }
        for name in fields {
            let name = name.replace('*', "wild");
            let mut n = name.as_str();
            names.insert(format!("q.{n}"));
            loop {
                names.insert(n.to_string());
                match n.find('.') {
                    Some(i) => n = &n[i + 1..],
                    None => break,
                }
            }
        }
    }
    let mut out = Vec::new();
    for name in names {
        for qtype in [TYPE_A, TYPE_AAAA, 15] {
            out.push((name.clone(), qtype));
        }
    }
    for addr in addrs {
        let Some(addr) = crate::hosts::parse_addr(addr.as_bytes()) else {
            continue;
        };
        let reverse = hickory_proto::rr::Name::from(addr).to_ascii();
        out.push((reverse, TYPE_PTR));
    }
    out
}

fn answer(table: &Table, q: &str, qtype: u16) -> (Outcome, u32, Option<usize>, Vec<u8>) {
    let mut out = vec![0u8; 1 << 16];
    let a = table.lookup(q.as_bytes(), qtype, &mut out);
    out.truncate(a.len);
    (a.outcome, a.ttl, a.zone, out)
}

fn options() -> TableOptions {
    TableOptions {
        zones: Zones::new(&["example.org."]),
        ttl: 60,
        no_reverse: false,
    }
}

const INLINE: &str = "10.9.9.9 inline.example.org\n10.0.0.1 a.example.org\n";

/// Compares the dataset's table with one built afresh from `texts`.
fn check(dataset: &Dataset, texts: &BTreeMap<String, Vec<String>>, seed: u64, step: usize) {
    let joined: Vec<Vec<u8>> = texts.values().map(|l| join(l)).collect();
    let mut all: Vec<&[u8]> = joined.iter().map(Vec::as_slice).collect();
    all.push(INLINE.as_bytes());
    let fresh = Table::from_texts(options(), &all, 0);
    let table = dataset.table();
    let at = format!("seed {seed} step {step}");
    assert_eq!(table.names(), fresh.names(), "names, {at}");
    assert_eq!(table.records(), fresh.records(), "records, {at}");
    assert_eq!(
        table.invalid_lines(),
        fresh.invalid_lines(),
        "invalid lines, {at}"
    );
    for (q, qtype) in questions(texts, INLINE) {
        assert_eq!(
            answer(table, &q, qtype),
            answer(&fresh, &q, qtype),
            "{q} type {qtype}, {at}"
        );
    }
}

/// One random edit of the texts; returns the keys it changed.
fn edit(rng: &mut Rng, texts: &mut BTreeMap<String, Vec<String>>) -> Vec<String> {
    let keys: Vec<String> = texts.keys().cloned().collect();
    let key = if keys.is_empty() || rng.below(10) == 0 {
        // A new fragment, or one deleted and made again.
        format!("/hosts/{}", rng.below(6))
    } else {
        keys[rng.below(keys.len())].clone()
    };
    let lines = texts.entry(key.clone()).or_default();
    match rng.below(12) {
        0 => {
            texts.remove(&key);
        }
        1 => {
            let n = rng.below(300);
            *lines = text(rng, n);
        }
        2..=4 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            lines.remove(i);
        }
        5..=7 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            lines[i] = line(rng);
        }
        _ => {
            let i = rng.below(lines.len() + 1);
            lines.insert(i, line(rng));
        }
    }
    vec![key]
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng::new(seed);
    let mut texts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..1 + rng.below(3) {
        let n = 50 + rng.below(250);
        texts.insert(format!("/hosts/{i}"), text(&mut rng, n));
    }
    let mut dataset = Dataset::new(options(), INLINE.as_bytes());
    let joined: Vec<(Vec<u8>, Vec<u8>)> = texts
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), join(v)))
        .collect();
    let first: Vec<TextChange<'_>> = joined.iter().map(|(k, v)| (&k[..], Some(&v[..]))).collect();
    dataset.update(&first, true, 1);
    check(&dataset, &texts, seed, 0);
    for step in 1..=steps {
        let changed = edit(&mut rng, &mut texts);
        let values: Vec<(Vec<u8>, Option<Vec<u8>>)> = changed
            .iter()
            .map(|k| (k.as_bytes().to_vec(), texts.get(k).map(|l| join(l))))
            .collect();
        let changes: Vec<TextChange<'_>> =
            values.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
        // Now and then, a full re-read (as after a lost watch) instead of one key's event.
        if rng.below(8) == 0 {
            let all: Vec<(Vec<u8>, Vec<u8>)> = texts
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), join(v)))
                .collect();
            let complete: Vec<TextChange<'_>> =
                all.iter().map(|(k, v)| (&k[..], Some(&v[..]))).collect();
            dataset.update(&complete, true, step as i64);
        } else {
            dataset.update(&changes, false, step as i64);
        }
        check(&dataset, &texts, seed, step);
    }
}

#[test]
fn random_edits_answer_as_a_fresh_build() {
    let seeds: u64 = std::env::var("ETCDHOSTS_PROPERTY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    for seed in 0..seeds {
        run(seed, 40);
    }
}

#[test]
fn a_one_line_edit_parses_one_chunk() {
    let lines: Vec<String> = (0..5000)
        .map(|i| format!("10.0.{}.{} h{i}.example.org", i / 250, i % 250))
        .collect();
    let mut dataset = Dataset::new(options(), b"");
    let before = join(&lines);
    dataset.update(&[(b"/k", Some(&before[..]))], true, 1);
    let chunks = dataset.texts[&b"/k"[..]].len();
    assert!(chunks > 20, "5000 lines make {chunks} chunks");
    let sources_before: std::collections::HashSet<Src> = dataset.sources.keys().copied().collect();
    let mut edited = lines.clone();
    edited[2500] = "10.9.9.9 h2500.example.org".to_string();
    let after = join(&edited);
    dataset.update(&[(b"/k", Some(&after[..]))], false, 2);
    let sources_after: std::collections::HashSet<Src> = dataset.sources.keys().copied().collect();
    let new = sources_after.difference(&sources_before).count();
    let gone = sources_before.difference(&sources_after).count();
    assert!(
        new <= 2 && gone <= 2,
        "{new} chunks parsed, {gone} taken out"
    );
    assert_eq!(
        dataset.table().lookup_v4("h2500.example.org"),
        ["10.9.9.9".parse::<std::net::Ipv4Addr>().unwrap()]
    );
}

#[test]
fn chunks_cover_the_text_exactly_and_end_at_line_ends() {
    let mut rng = Rng::new(7);
    let lines = text(&mut rng, 3000);
    let mut body = join(&lines);
    for t in [&b""[..], b"\n", b"10.0.0.1 a", b"10.0.0.1 a\n\n10.0.0.2 b"] {
        let pieces = chunks(t);
        assert_eq!(pieces.iter().map(|p| p.2).collect::<Vec<_>>().concat(), t);
    }
    body.pop();
    let pieces = chunks(&body);
    assert!(pieces.len() > 10, "{} chunks", pieces.len());
    assert_eq!(
        pieces.iter().map(|p| p.2).collect::<Vec<_>>().concat(),
        body
    );
    let counted: u32 = pieces.iter().map(|p| p.1).sum();
    assert_eq!(counted as usize, lines.len());
    for (_, lines, piece) in &pieces[..pieces.len() - 1] {
        assert!(piece.ends_with(b"\n"));
        assert_eq!(
            piece.iter().filter(|&&b| b == b'\n').count(),
            *lines as usize
        );
    }
}
