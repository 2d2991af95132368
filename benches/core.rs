//! Benchmarks of the Rust core: parse+build, lookups through the C ABI, table memory.
//!
//! A plain `fn main` harness (no criterion): every figure is the median of `BENCH_RUNS`
//! (default 7) runs, with the minimum and maximum printed next to it because the machine
//! this runs on is shared. Run it with `cargo bench --bench core` or `bench/core.sh`.
//!
//! The hosts files are generated, deterministic and realistic: names like
//! `host0123456.rack12.dc1.example.com.`, unique IPv4 addresses in 10.0.0.0/8 in no
//! particular order, about 8% IPv6 lines, about 5% lines with a second name, and a comment
//! line every 500 lines plus a trailing comment every 997.
//!
//! The memory figures are taken in a child process (this binary re-run with
//! `--memory-child`), so that nothing the other benchmarks allocated shows in its VmRSS.

use std::hint::black_box;
use std::io::Write;
use std::process::Command;
use std::time::Instant;

use etcdhosts::chunked;
use etcdhosts::dataset::{Dataset, Piece, Value};
use etcdhosts::ffi::{
    etcdhosts_answer, etcdhosts_free, etcdhosts_get_stats, etcdhosts_lookup, etcdhosts_new,
    etcdhosts_result, etcdhosts_stats, etcdhosts_status,
};
use etcdhosts::hosts;
use etcdhosts::table::{Outcome, Table, TableOptions, TYPE_A, TYPE_AAAA, TYPE_PTR};
use etcdhosts::Zones;

const ZONE: &str = "example.com.";
/// Distinct qnames per lookup run, in random order: far more than fit in L2, so every
/// lookup pays for its cache misses as a real server would.
const QUERIES: usize = 1 << 18;
/// Distinct qnames of the "popular names" reference figure.
const HOT_SET: usize = 4096;
const PARSE_TARGET_100K_MS: f64 = 60.0;
const PARSE_TARGET_1M_MS: f64 = 600.0;
const LOOKUP_TARGET_NS: f64 = 100.0;
const MEMORY_TARGET_BYTES: f64 = 120.0;

/// splitmix64: small, fast, and good enough to pick lines and queries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What line `i` of a generated file holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    Comment,
    V4,
    V4TwoNames,
    V6,
}

fn line_kind(i: usize) -> Line {
    if i % 500 == 0 {
        return Line::Comment;
    }
    // A fixed hash of i, so that queries can tell what a line holds without the text.
    let h = Rng(i as u64 ^ 0x5EED).next() % 1000;
    match h {
        0..=79 => Line::V6,
        80..=129 => Line::V4TwoNames,
        _ => Line::V4,
    }
}

fn host_name(i: usize, out: &mut Vec<u8>) {
    write!(out, "host{i:07}.rack{}.dc{}.{ZONE}", (i / 40) % 100, i % 4).unwrap();
}

/// A unique IPv4 address per line, spread over 10.0.0.0/8 (an odd multiplier is a
/// bijection mod 2^24), so the reverse index has real sorting to do.
fn v4_of(i: usize) -> [u8; 4] {
    let x = (i as u32).wrapping_mul(0x00B5_AD4B) & 0x00FF_FFFF;
    [10, (x >> 16) as u8, (x >> 8) as u8, x as u8]
}

fn generate(lines: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(lines * 56);
    for i in 0..lines {
        let kind = line_kind(i);
        if kind == Line::Comment {
            writeln!(text, "# rack {} of dc{}", (i / 40) % 100, i % 4).unwrap();
            continue;
        }
        match kind {
            Line::V6 => write!(
                text,
                "2001:db8:{:x}:{:x}::{:x}:{:x}\t",
                i % 4,
                (i / 40) % 100,
                i >> 16,
                i & 0xffff
            )
            .unwrap(),
            _ => {
                let [a, b, c, d] = v4_of(i);
                write!(text, "{a}.{b}.{c}.{d}\t").unwrap();
            }
        }
        // Names are written without the trailing dot, as in /etc/hosts.
        host_name(i, &mut text);
        text.pop();
        if kind == Line::V4TwoNames {
            write!(text, " svc{i}.dc{}.{}", i % 4, ZONE.trim_end_matches('.')).unwrap();
        }
        if i % 997 == 0 {
            text.extend_from_slice(b"  # moved from rack 7");
        }
        text.push(b'\n');
    }
    text
}

fn options() -> TableOptions {
    TableOptions {
        zones: Zones::new(&[ZONE]),
        ttl: 3600,
        no_reverse: false,
    }
}

fn median(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(|a, b| a.total_cmp(b));
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(7)
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value < target {
        "MET"
    } else {
        "MISSED"
    }
}

/// A flat list of qnames (one buffer plus ranges) and the qtype to ask them with.
struct Queries {
    label: &'static str,
    qtype: u16,
    /// What `etcdhosts_lookup` must return, and what `Table::lookup` must.
    expect: (etcdhosts_status, Outcome),
    text: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Queries {
    fn build(
        label: &'static str,
        qtype: u16,
        expect: (etcdhosts_status, Outcome),
        mut one: impl FnMut(&mut Vec<u8>) -> bool,
    ) -> Queries {
        let mut text = Vec::with_capacity(QUERIES * 40);
        let mut ranges = Vec::with_capacity(QUERIES);
        while ranges.len() < QUERIES {
            let start = text.len();
            if one(&mut text) {
                ranges.push((start, text.len() - start));
            } else {
                text.truncate(start);
            }
        }
        Queries {
            label,
            qtype,
            expect,
            text,
            ranges,
        }
    }
}

fn query_sets(lines: usize) -> Vec<Queries> {
    use etcdhosts_status::*;
    const HIT: (etcdhosts_status, Outcome) = (ETCDHOSTS_ANSWER, Outcome::Answer);
    let mut rng = Rng(42);
    let a_hit = Queries::build("A hit", TYPE_A, HIT, |q| {
        let i = rng.below(lines);
        matches!(line_kind(i), Line::V4 | Line::V4TwoNames) && {
            host_name(i, q);
            true
        }
    });
    // Same shape of name, numbers past the end of the file: NXDOMAIN after the exact
    // probe and the `*.rackN.dcN.example.com.` wildcard probe, both misses.
    let a_miss = Queries::build(
        "A miss (NXDOMAIN)",
        TYPE_A,
        (ETCDHOSTS_NXDOMAIN, Outcome::NxDomain),
        |q| {
            host_name(lines + rng.below(lines), q);
            true
        },
    );
    let nodata = Queries::build(
        "AAAA on an A-only name (NODATA)",
        TYPE_AAAA,
        (ETCDHOSTS_NODATA, Outcome::NoData),
        |q| {
            let i = rng.below(lines);
            matches!(line_kind(i), Line::V4 | Line::V4TwoNames) && {
                host_name(i, q);
                true
            }
        },
    );
    let ptr = Queries::build("PTR hit", TYPE_PTR, HIT, |q| {
        let i = rng.below(lines);
        matches!(line_kind(i), Line::V4 | Line::V4TwoNames) && {
            let [a, b, c, d] = v4_of(i);
            write!(q, "{d}.{c}.{b}.{a}.in-addr.arpa.").unwrap();
            true
        }
    });
    vec![a_hit, a_miss, nodata, ptr]
}

/// ns per call over the whole (rotating) set, median of `runs()` after one warm-up run.
/// `call` answers one query and says whether the answer was the expected one.
fn time_lookups(qs: &Queries, mut call: impl FnMut(&[u8], u16) -> bool) -> (f64, f64, f64) {
    let mut samples = Vec::new();
    for run in 0..=runs() {
        let started = Instant::now();
        let mut ok = 0usize;
        for &(start, len) in &qs.ranges {
            ok += call(&qs.text[start..start + len], qs.qtype) as usize;
        }
        let ns = started.elapsed().as_nanos() as f64 / qs.ranges.len() as f64;
        assert_eq!(
            ok,
            qs.ranges.len(),
            "{}: {} of {} lookups did not return {:?}",
            qs.label,
            qs.ranges.len() - ok,
            qs.ranges.len(),
            qs.expect
        );
        if run > 0 {
            samples.push(ns);
        }
    }
    median(samples)
}

fn bench_parse_build() {
    println!(
        "## 1. parse + build (Table::from_texts), median of {} runs",
        runs()
    );
    for (lines, target) in [
        (100_000, PARSE_TARGET_100K_MS),
        (1_000_000, PARSE_TARGET_1M_MS),
    ] {
        let text = generate(lines);
        let mut build_ms = Vec::new();
        let mut parse_ms = Vec::new();
        let mut records = 0;
        for _ in 0..runs() {
            let started = Instant::now();
            let table = Table::from_texts(options(), &[black_box(&text[..])], 1);
            build_ms.push(started.elapsed().as_secs_f64() * 1e3);
            records = table.records();
            assert_eq!(table.invalid_lines(), 0);
            drop(black_box(table));

            // The parser alone (no table), to split the cost.
            let started = Instant::now();
            let mut n = 0usize;
            let mut diagnostics = Vec::new();
            hosts::parse(
                black_box(&text),
                &options().zones,
                &mut diagnostics,
                0,
                |addr, name| {
                    black_box((addr, name));
                    n += 1;
                },
            );
            parse_ms.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(n, records);
        }
        let (med, min, max) = median(build_ms);
        let (pmed, _, _) = median(parse_ms);
        println!(
            "{lines:>9} lines ({:.1} MB, {records} records): parse+build {med:7.1} ms (min {min:.1}, max {max:.1}; parse alone {pmed:.1} ms)  target < {target} ms: {}",
            text.len() as f64 / 1e6,
            verdict(med, target)
        );
    }
}

/// Chunks as the plugin hands them to the dataset: the text only of those `needed`.
fn as_pieces(pieces: &[(u128, u32, Vec<u8>)], needed: std::ops::Range<usize>) -> Vec<Piece<'_>> {
    pieces
        .iter()
        .enumerate()
        .map(|(i, (hash, lines, t))| Piece {
            hash: *hash,
            lines: *lines,
            text: needed.contains(&i).then_some(&t[..]),
        })
        .collect()
}

/// One line of a generated file changed: `h` gets a new address.
fn edited(text: &[u8], at: usize) -> Vec<u8> {
    let mut out = text.to_vec();
    let start = out[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |i| at + i + 1);
    out.splice(start..start, *b"10.255.255.254 edited.example.com\n");
    out
}

fn bench_update() {
    println!(
        "\n## 4. a one-line change at 1M lines (Dataset::update), median of {} runs",
        runs()
    );
    const LINES: usize = 1_000_000;
    const FRAGMENTS: usize = 64;
    let text = generate(LINES);

    // The single key: the whole new value arrives and is cut and hashed again.
    let started = Instant::now();
    let mut single = Dataset::new(options(), b"");
    single.update(&[(b"/etcdhosts", Some(&text))], true, 1);
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut ms = Vec::new();
    for run in 0..runs() {
        let new = edited(&text, (run * 7919 * 997) % text.len());
        let started = Instant::now();
        let table = single.update(&[(b"/etcdhosts", Some(&new))], false, 2 + run as i64);
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(table.lookup_v4("edited.example.com").len(), 1);
        single.update(&[(b"/etcdhosts", Some(&text))], false, 100);
    }
    let (med, min, max) = median(ms);
    println!(
        "single key, {LINES} lines: first read {first_ms:.0} ms; one-line change {med:.2} ms (min {min:.2}, max {max:.2})"
    );

    // The chunked layout: the stored chunks are the dataset's pieces; the plugin reads
    // the one changed chunk, and hands the others by hash alone.
    let pieces_of = |text: &[u8]| -> Vec<(u128, u32, Vec<u8>)> {
        chunked::cut(text)
            .into_iter()
            .map(|(lines, t)| (chunked::Digest::of(t).short(), lines as u32, t.to_vec()))
            .collect()
    };
    let base = pieces_of(&text);
    let started = Instant::now();
    let mut stored = Dataset::new(options(), b"");
    let all = as_pieces(&base, 0..base.len());
    stored.update_values(&[(b"/etcdhosts", Some(Value::Pieces(&all)))], true, 1);
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut ms = Vec::new();
    for run in 0..runs() {
        let new = pieces_of(&edited(&text, (run * 7919 * 997) % text.len()));
        let hashes: Vec<(u128, u32)> = new.iter().map(|p| (p.0, p.1)).collect();
        let started = Instant::now();
        let needed = stored.needed(b"/etcdhosts", &hashes);
        let pieces = as_pieces(&new, needed);
        let value = Some(Value::Pieces(&pieces));
        let table = stored.update_values(&[(b"/etcdhosts", value)], false, 2 + run as i64);
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(table.lookup_v4("edited.example.com").len(), 1);
        let back = as_pieces(&base, 0..base.len());
        stored.update_values(&[(b"/etcdhosts", Some(Value::Pieces(&back)))], false, 100);
    }
    let (med, min, max) = median(ms);
    println!(
        "chunked layout, {LINES} lines in {} chunks: first read {first_ms:.0} ms; one-line change {med:.2} ms (min {min:.2}, max {max:.2})  target < 5 ms: {}",
        base.len(),
        verdict(med, 5.0)
    );

    // A prefix: only the changed fragment arrives.
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let per = lines.len().div_ceil(FRAGMENTS);
    let fragments: Vec<(Vec<u8>, Vec<u8>)> = lines
        .chunks(per)
        .enumerate()
        .map(|(i, l)| (format!("/hosts/{i:02}").into_bytes(), l.concat()))
        .collect();
    let all: Vec<(&[u8], Option<&[u8]>)> = fragments
        .iter()
        .map(|(k, v)| (&k[..], Some(&v[..])))
        .collect();
    let started = Instant::now();
    let mut prefix = Dataset::new(options(), b"");
    prefix.update(&all, true, 1);
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut ms = Vec::new();
    for run in 0..runs() {
        let (key, value) = &fragments[run * 13 % FRAGMENTS];
        let new = edited(value, (run * 7919) % value.len());
        let started = Instant::now();
        let table = prefix.update(&[(key, Some(&new))], false, 2 + run as i64);
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(table.lookup_v4("edited.example.com").len(), 1);
        prefix.update(&[(key, Some(value))], false, 100);
    }
    let (med, min, max) = median(ms);
    println!(
        "prefix, {LINES} lines in {FRAGMENTS} fragments: first read {first_ms:.0} ms; one-line change {med:.2} ms (min {min:.2}, max {max:.2})  target < 5 ms: {}",
        verdict(med, 5.0)
    );
}

fn bench_lookups() {
    const LINES: usize = 1_000_000;
    println!(
        "\n## 2. lookups on a {LINES}-line table, {QUERIES} distinct qnames per run in random order, median of {} runs",
        runs()
    );
    let text = generate(LINES);
    // The generated lines inline in a Corefile block, as CoreDNS tokenizes them.
    let mut lines = vec![
        vec!["endpoint", "http://127.0.0.1:1"],
        vec!["timeout", "100ms"],
    ];
    for line in std::str::from_utf8(&text).unwrap().lines() {
        let tokens: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
        if !tokens.is_empty() {
            lines.push(tokens);
        }
    }
    let json = serde_json::json!({ "zones": [ZONE], "lines": lines }).to_string();
    drop(lines);
    let mut err = [0u8; 256];
    let mut handle = std::ptr::null_mut();
    let started = Instant::now();
    // SAFETY: json and err are live buffers of the lengths passed; handle is writable.
    let result = unsafe {
        etcdhosts_new(
            json.as_ptr(),
            json.len(),
            &mut handle,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert!(
        result == etcdhosts_result::ETCDHOSTS_RESULT_OK,
        "etcdhosts_new: {}",
        String::from_utf8_lossy(&err[..err.iter().position(|&b| b == 0).unwrap_or(0)])
    );
    println!(
        "etcdhosts_new with the {:.1} MB inline config: {:.0} ms (JSON decode, build, then up to the 100 ms timeout waiting for the unreachable etcd)",
        json.len() as f64 / 1e6,
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(json);
    let table = Table::from_texts(options(), &[&text], 1);
    drop(text);
    let mut stats = etcdhosts_stats::default();
    // SAFETY: handle is live, stats is writable.
    unsafe { etcdhosts_get_stats(handle, &mut stats) };
    assert_eq!(
        stats.records as usize,
        table.records(),
        "the handle serves the inline records"
    );
    let sets = query_sets(LINES);

    let mut out = [0u8; 512];
    let mut answer = etcdhosts_answer::default();
    println!(
        "{:<34} {:>22} {:>22}",
        "query", "etcdhosts_lookup (C ABI)", "Table::lookup"
    );
    for qs in &sets {
        let (ffi, ffi_min, _) = time_lookups(qs, |q, qtype| {
            // SAFETY: handle is live; q, out and answer are live buffers of these lengths.
            let status = unsafe {
                etcdhosts_lookup(
                    handle,
                    q.as_ptr(),
                    q.len(),
                    qtype,
                    out.as_mut_ptr(),
                    out.len(),
                    &mut answer,
                )
            };
            status == qs.expect.0
        });
        let (direct, direct_min, _) = time_lookups(qs, |q, qtype| {
            table.lookup(q, qtype, &mut out).outcome == qs.expect.1
        });
        let target = match qs.qtype {
            TYPE_A => format!(
                "target < {LOOKUP_TARGET_NS} ns: {}",
                verdict(ffi, LOOKUP_TARGET_NS)
            ),
            _ => "(no target)".to_string(),
        };
        println!(
            "{:<34} {:>9.1} ns (min {:>5.1}) {:>9.1} ns (min {:>5.1})  {target}",
            qs.label, ffi, ffi_min, direct, direct_min
        );
    }
    // For contrast, not targets: A hits over a small rotating set of names (popular names,
    // their table lines stay in cache), and the same name over and over.
    for (label, distinct) in [
        ("A hit, 4096 names rotating", HOT_SET),
        ("A hit, one name (cache-hot)", 1),
    ] {
        let all = &sets[0];
        let hot = Queries {
            label,
            qtype: TYPE_A,
            expect: all.expect,
            ranges: (0..QUERIES).map(|i| all.ranges[i % distinct]).collect(),
            text: all.text.clone(),
        };
        let (ffi, _, _) = time_lookups(&hot, |q, qtype| {
            // SAFETY: as above.
            let status = unsafe {
                etcdhosts_lookup(
                    handle,
                    q.as_ptr(),
                    q.len(),
                    qtype,
                    out.as_mut_ptr(),
                    out.len(),
                    &mut answer,
                )
            };
            status == hot.expect.0
        });
        let (direct, _, _) = time_lookups(&hot, |q, qtype| {
            table.lookup(q, qtype, &mut out).outcome == hot.expect.1
        });
        println!(
            "{label:<34} {ffi:>9.1} ns {:>12} {direct:>9.1} ns  (reference, not a target)",
            ""
        );
    }
    println!(
        "one dependent random load from a 256 MB array (DRAM latency + TLB miss): {:.1} ns",
        dram_latency_ns()
    );
    black_box((&out, answer));
    // SAFETY: handle came from etcdhosts_new and is freed once.
    unsafe { etcdhosts_free(handle) };
}

/// ns per load of a pointer chase through one random cycle over 256 MB: what one cache
/// and TLB miss costs on this machine, the floor under any lookup of a cold name.
fn dram_latency_ns() -> f64 {
    const SLOTS: usize = 32 << 20;
    let mut rng = Rng(7);
    // Sattolo's algorithm: a random permutation that is one single cycle.
    let mut next: Vec<usize> = (0..SLOTS).collect();
    for i in (1..SLOTS).rev() {
        next.swap(i, rng.below(i));
    }
    let steps = 1 << 21;
    let mut samples = Vec::new();
    let mut at = 0;
    for _ in 0..runs() {
        let started = Instant::now();
        for _ in 0..steps {
            at = next[at];
        }
        samples.push(started.elapsed().as_nanos() as f64 / steps as f64);
    }
    black_box(at);
    median(samples).0
}

/// A `kB` field of /proc/self/status (VmRSS: resident now, VmHWM: resident peak), in bytes.
fn proc_status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    kb * 1024
}

fn vm_rss_bytes() -> usize {
    proc_status_bytes("VmRSS")
}

/// Runs in a fresh child process; prints one line of `key=value` for the parent.
fn memory_child() {
    const LINES: usize = 1_000_000;
    let before = vm_rss_bytes();
    let text = generate(LINES);
    let text_len = text.len();
    // As a server holds it: through the dataset, with its per-chunk bookkeeping.
    let mut dataset = Dataset::new(options(), b"");
    let table = dataset.update(&[(b"/etcdhosts", Some(&text))], true, 1);
    drop(text);
    let after = vm_rss_bytes();
    let peak = proc_status_bytes("VmHWM");
    let trim_started = Instant::now();
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let trim_ms = trim_started.elapsed().as_secs_f64() * 1000.0;
    let trimmed = vm_rss_bytes();
    println!(
        "records={} names={} heap={} rss_growth={} rss_growth_trimmed={} trim_ms={trim_ms:.2} text={} peak_growth={}",
        table.records(),
        table.names(),
        table.heap_bytes(),
        after.saturating_sub(before),
        trimmed.saturating_sub(before),
        text_len,
        peak.saturating_sub(before)
    );
    black_box((&table, &dataset));
}

fn bench_memory() {
    println!("\n## 3. memory of a 1M-line table (fresh child process)");
    let output = Command::new(std::env::current_exe().unwrap())
        .arg("--memory-child")
        .output()
        .expect("cannot run the memory child");
    assert!(output.status.success(), "memory child failed: {output:?}");
    let line = String::from_utf8(output.stdout).unwrap();
    let field = |key: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    };
    let records = field("records");
    let heap = field("heap") / records;
    let rss = field("rss_growth") / records;
    let trimmed = field("rss_growth_trimmed") / records;
    println!(
        "{} records, {} names; heap_bytes {:.1} MB",
        records,
        field("names"),
        field("heap") / 1e6
    );
    println!(
        "heap_bytes()/records:               {heap:6.1} B/record  target < {MEMORY_TARGET_BYTES}: {}",
        verdict(heap, MEMORY_TARGET_BYTES)
    );
    println!(
        "VmRSS growth/records (text freed):  {rss:6.1} B/record  target < {MEMORY_TARGET_BYTES}: {}",
        verdict(rss, MEMORY_TARGET_BYTES)
    );
    println!(
        "  same, after malloc_trim(0):       {trimmed:6.1} B/record  (the trim took {:.1} ms)",
        field("trim_ms")
    );
    println!(
        "peak VmRSS growth while building:   {:6.1} B/record  ({:.1} MB, the {:.1} MB text included)",
        field("peak_growth") / records,
        field("peak_growth") / 1e6,
        field("text") / 1e6
    );
}

fn main() {
    if std::env::args().any(|a| a == "--memory-child") {
        memory_child();
        return;
    }
    // `cargo bench --bench core -- lookup` runs only the sections whose name contains
    // one of the words given (build, lookup, memory); no word runs them all.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| words.is_empty() || words.iter().any(|w| section.contains(w));
    println!("# etcdhosts Rust core benchmarks");
    println!(
        "reproduce: cargo bench --bench core   (or bench/core.sh; BENCH_RUNS={} sets the runs)\n",
        runs()
    );
    if wanted("build") {
        bench_parse_build();
    }
    if wanted("lookup") {
        bench_lookups();
    }
    if wanted("update") {
        bench_update();
    }
    if wanted("memory") {
        bench_memory();
    }
}
