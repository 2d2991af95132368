//! The immutable lookup table: built once per update, read lock-free by every query.
//!
//! Layout, chosen so that a lookup touches as few cache lines as possible and a record costs
//! about 60 bytes: every name is one block in a single byte vector — its length, its address
//! counts, the name, then its addresses — so a hit reads the hash index's control byte, its
//! slot (the block's offset) and the block, nothing else. PTR queries use a second index
//! from address to a run of (address, block) pairs sorted by address.

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashTable;
use hickory_proto::rr::Name;

use crate::hosts::{self, Diagnostic};
use crate::zones::{Soa, Zones};

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;

/// How many diagnostics of one build are kept for the log.
const KEEP_DIAGNOSTICS: usize = 20;

/// What a lookup found. Mirrors `etcdhosts_status` in the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Records written.
    Answer,
    /// The name exists, not with this type.
    NoData,
    /// The name is in our zones but unknown.
    NxDomain,
    /// The name holds no records but names exist below it, or it is a zone apex: NODATA
    /// for DNS (RFC 8020), yet unknown to a hosts file, so `fallthrough` may take it.
    EmptyNonTerminal,
    /// Not ours: outside the zones, or a PTR we know nothing about.
    NotMine,
    /// The answer needs more room; [`Answer::len`] says how much.
    BufferTooSmall,
}

/// A lookup's result. The records are in the caller's buffer: A = n x 4 address bytes,
/// AAAA = n x 16, PTR = n x (u8 length, lowercase fully qualified name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    /// The TTL of the records, or of the SOA for a negative answer.
    pub ttl: u32,
    /// Index of the zone (in [`TableOptions::zones`]) the name is in; None outside them,
    /// as for a PTR answered for any address.
    pub zone: Option<usize>,
    /// Bytes of records written; with [`Outcome::BufferTooSmall`], the bytes needed.
    pub len: usize,
    /// The SOA of a negative answer: NoData, NxDomain, EmptyNonTerminal.
    pub soa: Option<Soa>,
}

impl Answer {
    fn not_mine() -> Answer {
        Answer {
            outcome: Outcome::NotMine,
            ttl: 0,
            zone: None,
            len: 0,
            soa: None,
        }
    }
}

/// A name's block in [`Table::blocks`]: `[name_len: u8][v4 count: u32 LE][v6 count: u32 LE]
/// [name][v4 addresses, 4 bytes each][v6 addresses, 16 bytes each]`. A block without
/// addresses is an empty non-terminal or a zone apex.
const BLOCK_HEADER: usize = 9;

#[derive(Clone, Copy)]
struct Block<'a> {
    name: &'a [u8],
    v4: &'a [u8],
    v6: &'a [u8],
}

impl<'a> Block<'a> {
    fn at(blocks: &'a [u8], offset: u32) -> Block<'a> {
        let b = &blocks[offset as usize..];
        let name_len = b[0] as usize;
        let v4_len = u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as usize * 4;
        let v6_len = u32::from_le_bytes([b[5], b[6], b[7], b[8]]) as usize * 16;
        let name_end = BLOCK_HEADER + name_len;
        Block {
            name: &b[BLOCK_HEADER..name_end],
            v4: &b[name_end..name_end + v4_len],
            v6: &b[name_end + v4_len..name_end + v4_len + v6_len],
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Settings that shape a table, from the Corefile.
#[derive(Debug, Clone)]
pub struct TableOptions {
    pub zones: Zones,
    pub ttl: u32,
    pub no_reverse: bool,
}

pub struct Table {
    options: TableOptions,
    revision: i64,
    hasher: foldhash::fast::RandomState,
    /// Block offsets, hashed by name.
    index: HashTable<u32>,
    blocks: Vec<u8>,
    /// (address, block) sorted by address, a name's first-seen order kept per address, and
    /// an index from an address hash to the start of its run.
    rev4: Vec<([u8; 4], u32)>,
    rev6: Vec<([u8; 16], u32)>,
    rev_index: HashTable<u32>,
    names: usize,
    records: usize,
    invalid_lines: usize,
    diagnostics: Vec<(String, Diagnostic)>,
}

/// Accumulates hosts texts (inline lines, etcd fragments) and builds a [`Table`].
pub struct TableBuilder {
    options: TableOptions,
    hasher: foldhash::fast::RandomState,
    index: HashTable<u32>,
    names: Vec<u8>,
    /// (name_start, name_len) per entry, in first-seen order.
    spans: Vec<(u32, u32)>,
    v4_pairs: Vec<(u32, [u8; 4])>,
    v6_pairs: Vec<(u32, [u8; 16])>,
    invalid_lines: usize,
    diagnostics: Vec<(String, Diagnostic)>,
}

fn name_of(names: &[u8], span: (u32, u32)) -> &[u8] {
    &names[span.0 as usize..(span.0 + span.1) as usize]
}

impl TableBuilder {
    pub fn new(options: TableOptions) -> TableBuilder {
        TableBuilder {
            options,
            hasher: foldhash::fast::RandomState::default(),
            index: HashTable::new(),
            names: Vec::new(),
            spans: Vec::new(),
            v4_pairs: Vec::new(),
            v6_pairs: Vec::new(),
            invalid_lines: 0,
            diagnostics: Vec::new(),
        }
    }

    /// Adds one hosts text. Bad lines are counted and the first few kept as diagnostics,
    /// labelled with `source` (the etcd key, "inline", a file name).
    pub fn add_text(&mut self, source: &str, text: &[u8]) {
        // Size the index once: growing it rehashes every name, a quarter of a big build.
        let lines = text.iter().filter(|&&b| b == b'\n').count() + 1;
        let (names, spans, hasher) = (&self.names, &self.spans, &self.hasher);
        self.index.reserve(lines, |&e| {
            hasher.hash_one(name_of(names, spans[e as usize]))
        });
        self.v4_pairs.reserve(lines);
        self.names.reserve(text.len() / 2);
        let keep = KEEP_DIAGNOSTICS.saturating_sub(self.diagnostics.len());
        let mut diagnostics = Vec::new();
        let zones = self.options.zones.clone();
        self.invalid_lines += hosts::parse(text, &zones, &mut diagnostics, keep, |addr, name| {
            self.add(addr, name)
        });
        self.diagnostics
            .extend(diagnostics.into_iter().map(|d| (source.to_string(), d)));
    }

    /// Adds one record; `name` is a lowercase FQDN.
    pub fn add(&mut self, addr: IpAddr, name: &[u8]) {
        let entry = self.entry_for(name);
        match addr {
            IpAddr::V4(a) => self.v4_pairs.push((entry, a.octets())),
            IpAddr::V6(a) => self.v6_pairs.push((entry, a.octets())),
        }
    }

    fn entry_for(&mut self, name: &[u8]) -> u32 {
        if let Some(e) = self.find(name) {
            return e;
        }
        let hash = self.hasher.hash_one(name);
        let e = self.spans.len() as u32;
        self.spans
            .push((self.names.len() as u32, name.len() as u32));
        self.names.extend_from_slice(name);
        let (names, spans, hasher) = (&self.names, &self.spans, &self.hasher);
        self.index.insert_unique(hash, e, |&e| {
            hasher.hash_one(name_of(names, spans[e as usize]))
        });
        e
    }

    /// Adds the zone apexes and every empty non-terminal (a name without records but with
    /// names below it) as entries without addresses: such names exist in DNS, and a
    /// NXDOMAIN for them would tell RFC 8020 resolvers that nothing exists below them.
    fn add_empty_non_terminals(&mut self) {
        for zone in self.options.zones.clone().as_slice() {
            self.entry_for(zone.name.as_bytes());
        }
        let mut parent = Vec::with_capacity(256);
        for i in 0..self.spans.len() {
            let (start, len) = self.spans[i];
            let mut name = &self.names[start as usize..(start + len) as usize];
            // Walk up until a name that exists: its ancestors were added with it, and every
            // walk ends at the latest at the zone apex, which exists.
            while let Some(dot) = name.iter().position(|&b| b == b'.') {
                name = &name[dot + 1..];
                parent.clear();
                parent.extend_from_slice(if name.is_empty() { b"." } else { name });
                if self.find(&parent).is_some() {
                    break;
                }
                self.entry_for(&parent);
                let (start, len) = self.spans[i];
                let end = (start + len) as usize;
                name = &self.names[end - parent.len()..end];
            }
        }
    }

    fn find(&self, name: &[u8]) -> Option<u32> {
        let (names, spans) = (&self.names, &self.spans);
        self.index
            .find(self.hasher.hash_one(name), |&e| {
                name_of(names, spans[e as usize]) == name
            })
            .copied()
    }

    pub fn build(mut self, revision: i64) -> Table {
        self.add_empty_non_terminals();
        let entries = self.spans.len();
        let (v4, v4_ranges) = group_by_entry(self.v4_pairs, entries);
        let (v6, v6_ranges) = group_by_entry(self.v6_pairs, entries);
        let range = |(start, len): (u32, u32)| start as usize..(start + len) as usize;

        let mut blocks = Vec::with_capacity(
            entries * BLOCK_HEADER + self.names.len() + v4.len() * 4 + v6.len() * 16,
        );
        let mut offsets = Vec::with_capacity(entries);
        let (mut names, mut records) = (0, 0);
        for (i, &span) in self.spans.iter().enumerate() {
            let (v4_addrs, v6_addrs) = (&v4[range(v4_ranges[i])], &v6[range(v6_ranges[i])]);
            let name = name_of(&self.names, span);
            offsets.push(u32::try_from(blocks.len()).expect("hosts data beyond 4 GiB"));
            blocks.push(name.len() as u8);
            blocks.extend_from_slice(&(v4_addrs.len() as u32).to_le_bytes());
            blocks.extend_from_slice(&(v6_addrs.len() as u32).to_le_bytes());
            blocks.extend_from_slice(name);
            blocks.extend_from_slice(v4_addrs.as_flattened());
            blocks.extend_from_slice(v6_addrs.as_flattened());
            if !(v4_addrs.is_empty() && v6_addrs.is_empty()) {
                names += 1;
                records += v4_addrs.len() + v6_addrs.len();
            }
        }
        // The builder's index holds entry numbers; the same slots now hold block offsets
        // (the hashes, of the names, do not change).
        let mut index = self.index;
        for slot in index.iter_mut() {
            *slot = offsets[*slot as usize];
        }

        let mut rev4 = Vec::new();
        let mut rev6 = Vec::new();
        if !self.options.no_reverse {
            for (i, &span) in self.spans.iter().enumerate() {
                // Wildcards name no single host, so they make no PTR.
                if self.names[span.0 as usize] == b'*' {
                    continue;
                }
                rev4.extend(v4[range(v4_ranges[i])].iter().map(|a| (*a, offsets[i])));
                rev6.extend(v6[range(v6_ranges[i])].iter().map(|a| (*a, offsets[i])));
            }
            // Stable: the names of one address keep their first-seen order.
            rev4.sort_by_key(|&(a, _)| a);
            rev6.sort_by_key(|&(a, _)| a);
        }
        let rev_index = reverse_index(&self.hasher, &rev4, &rev6);
        Table {
            options: self.options,
            revision,
            hasher: self.hasher,
            index,
            blocks,
            rev4,
            rev6,
            rev_index,
            names,
            records,
            invalid_lines: self.invalid_lines,
            diagnostics: self.diagnostics,
        }
    }
}

/// Marks positions in `rev6` in the reverse index (positions in `rev4` are untagged).
const V6_TAG: u32 = 1 << 31;

/// Indexes the start of each address's run in `rev4` and `rev6` by the address's hash.
fn reverse_index(
    hasher: &foldhash::fast::RandomState,
    rev4: &[([u8; 4], u32)],
    rev6: &[([u8; 16], u32)],
) -> HashTable<u32> {
    let hash_at = |&p: &u32| match p & V6_TAG {
        0 => hasher.hash_one(rev4[p as usize].0),
        _ => hasher.hash_one(rev6[(p & !V6_TAG) as usize].0),
    };
    let mut index = HashTable::new();
    for (i, (a, _)) in rev4.iter().enumerate() {
        if i == 0 || rev4[i - 1].0 != *a {
            index.insert_unique(hasher.hash_one(a), i as u32, hash_at);
        }
    }
    for (i, (a, _)) in rev6.iter().enumerate() {
        if i == 0 || rev6[i - 1].0 != *a {
            index.insert_unique(hasher.hash_one(a), i as u32 | V6_TAG, hash_at);
        }
    }
    index.shrink_to_fit(hash_at);
    index
}

/// Counting sort of (entry, address) pairs into one flat vector with a (start, len) range
/// per entry, dropping duplicate addresses of an entry but keeping first-seen order.
fn group_by_entry<A: Copy + Eq + Ord>(
    pairs: Vec<(u32, A)>,
    entries: usize,
) -> (Vec<A>, Vec<(u32, u32)>) {
    let mut counts = vec![0u32; entries + 1];
    for &(e, _) in &pairs {
        counts[e as usize + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let mut next = counts.clone();
    let mut flat: Vec<Option<A>> = vec![None; pairs.len()];
    for (e, a) in pairs {
        flat[next[e as usize] as usize] = Some(a);
        next[e as usize] += 1;
    }
    let mut out = Vec::with_capacity(flat.len());
    let mut ranges = Vec::with_capacity(entries);
    for e in 0..entries {
        let start = out.len();
        let group = &flat[counts[e] as usize..counts[e + 1] as usize];
        for a in group.iter().flatten() {
            let seen = &out[start..];
            // Groups are tiny in real files; only a pathological one pays for sorting.
            let dup = if seen.len() < 32 {
                seen.contains(a)
            } else {
                let mut sorted: Vec<A> = seen.to_vec();
                sorted.sort_unstable();
                sorted.binary_search(a).is_ok()
            };
            if !dup {
                out.push(*a);
            }
        }
        ranges.push((start as u32, (out.len() - start) as u32));
    }
    out.shrink_to_fit();
    (out, ranges)
}

impl Table {
    /// Builds a table from hosts texts in order.
    pub fn from_texts(options: TableOptions, texts: &[&[u8]], revision: i64) -> Table {
        let mut b = TableBuilder::new(options);
        for (i, t) in texts.iter().enumerate() {
            b.add_text(&format!("text {i}"), t);
        }
        b.build(revision)
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Number of distinct names with records.
    pub fn names(&self) -> usize {
        self.names
    }

    /// Number of distinct (name, address) records.
    pub fn records(&self) -> usize {
        self.records
    }

    pub fn invalid_lines(&self) -> usize {
        self.invalid_lines
    }

    /// The first few bad lines of the texts this table was built from, with their source.
    pub fn diagnostics(&self) -> &[(String, Diagnostic)] {
        &self.diagnostics
    }

    /// Bytes of heap this table holds, for the memory benchmark.
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity()
            + self.rev4.capacity() * std::mem::size_of::<([u8; 4], u32)>()
            + self.rev6.capacity() * std::mem::size_of::<([u8; 16], u32)>()
            + self.index.allocation_size()
            + self.rev_index.allocation_size()
    }

    fn find(&self, name: &[u8]) -> Option<Block<'_>> {
        let blocks = &self.blocks[..];
        // Compare the name only: the cheapest check, on the block's first cache line.
        let name_at = |off: u32| {
            let b = &blocks[off as usize..];
            &b[BLOCK_HEADER..BLOCK_HEADER + b[0] as usize]
        };
        self.index
            .find(self.hasher.hash_one(name), |&off| name_at(off) == name)
            .map(|&off| Block::at(blocks, off))
    }

    /// IPv4 addresses of `name` (any case), exact or through a wildcard.
    pub fn lookup_v4(&self, name: &str) -> Vec<Ipv4Addr> {
        let (mut name_buf, mut buf) = ([0u8; 256], [0u8; 256]);
        normalize(name.as_bytes(), &mut name_buf)
            .and_then(|name| self.resolve(name, &mut buf))
            .map(|b| {
                b.v4.chunks_exact(4)
                    .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// IPv6 addresses of `name` (any case), exact or through a wildcard.
    pub fn lookup_v6(&self, name: &str) -> Vec<Ipv6Addr> {
        let (mut name_buf, mut buf) = ([0u8; 256], [0u8; 256]);
        normalize(name.as_bytes(), &mut name_buf)
            .and_then(|name| self.resolve(name, &mut buf))
            .map(|b| {
                b.v6.chunks_exact(16)
                    .map(|a| Ipv6Addr::from(<[u8; 16]>::try_from(a).unwrap()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names with the address `addr` (PTR targets), in first-seen order.
    pub fn lookup_addr(&self, addr: IpAddr) -> Vec<String> {
        self.reverse(addr)
            .map(|off| String::from_utf8_lossy(Block::at(&self.blocks, off).name).into_owned())
            .collect()
    }

    /// Block offsets of the names with the address `addr`.
    fn reverse(&self, addr: IpAddr) -> impl Iterator<Item = u32> + '_ {
        fn run<A: Eq + Copy>(v: &[(A, u32)], start: Option<u32>, a: A) -> &[(A, u32)] {
            let Some(start) = start else { return &[] };
            let run = &v[(start & !V6_TAG) as usize..];
            &run[..run.iter().take_while(|(x, _)| *x == a).count()]
        }
        let (r4, r6) = match addr {
            IpAddr::V4(a) => {
                let a = a.octets();
                let start = self.rev_index.find(self.hasher.hash_one(a), |&p| {
                    p & V6_TAG == 0 && self.rev4[p as usize].0 == a
                });
                (run(&self.rev4, start.copied(), a), &[][..])
            }
            IpAddr::V6(a) => {
                let a = a.octets();
                let start = self.rev_index.find(self.hasher.hash_one(a), |&p| {
                    p & V6_TAG != 0 && self.rev6[(p & !V6_TAG) as usize].0 == a
                });
                (&[][..], run(&self.rev6, start.copied(), a))
            }
        };
        r4.iter().map(|x| x.1).chain(r6.iter().map(|x| x.1))
    }

    /// The block for `name` (lowercase FQDN): the exact name if it has records, else a
    /// `*.parent` wildcard (also over an empty non-terminal, as the `hosts` plugin does),
    /// else the empty non-terminal itself.
    fn resolve(&self, name: &[u8], buf: &mut [u8; 256]) -> Option<Block<'_>> {
        let exact = self.find(name);
        if exact.is_some_and(|b| !b.is_empty()) {
            return exact;
        }
        self.find_wildcard(name, buf).or(exact)
    }

    fn find_wildcard(&self, name: &[u8], buf: &mut [u8; 256]) -> Option<Block<'_>> {
        let dot = name.iter().position(|&b| b == b'.')?;
        let parent = &name[dot..];
        if parent.len() < 2 || parent.len() + 1 > buf.len() {
            return None;
        }
        buf[0] = b'*';
        buf[1..=parent.len()].copy_from_slice(parent);
        self.find(&buf[..=parent.len()])
    }

    /// Answers one query, writing its records into `out`. Neither locks nor allocates,
    /// except for PTR queries, which parse the reverse name.
    pub fn lookup(&self, qname: &[u8], qtype: u16, out: &mut [u8]) -> Answer {
        let mut name_buf = [0u8; 256];
        let Some(name) = normalize(qname, &mut name_buf) else {
            return Answer::not_mine();
        };
        let zone = self.options.zones.find(name);
        if qtype == TYPE_PTR {
            if let Some(addr) = reverse_addr(name) {
                if self.options.no_reverse {
                    return Answer::not_mine();
                }
                return self.write_ptr(addr, zone, out);
            }
        }
        if zone.is_none() {
            return Answer::not_mine();
        }
        let mut wildcard_buf = [0u8; 256];
        let Some(block) = self.resolve(name, &mut wildcard_buf) else {
            return self.negative(Outcome::NxDomain, zone);
        };
        if block.is_empty() {
            return self.negative(Outcome::EmptyNonTerminal, zone);
        }
        let bytes = match qtype {
            TYPE_A => block.v4,
            TYPE_AAAA => block.v6,
            _ => &[],
        };
        if bytes.is_empty() {
            return self.negative(Outcome::NoData, zone);
        }
        self.positive(zone, out, bytes.len(), |out: &mut [u8]| {
            out.copy_from_slice(bytes)
        })
    }

    /// A positive answer of `len` bytes of records, written by `write` if they fit.
    fn positive(
        &self,
        zone: Option<usize>,
        out: &mut [u8],
        len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Answer {
        let outcome = match out.get_mut(..len) {
            Some(out) => {
                write(out);
                Outcome::Answer
            }
            None => Outcome::BufferTooSmall,
        };
        Answer {
            outcome,
            ttl: self.options.ttl,
            zone,
            len,
            soa: None,
        }
    }

    fn negative(&self, outcome: Outcome, zone: Option<usize>) -> Answer {
        let soa = Soa::new(self.options.ttl, self.revision);
        Answer {
            outcome,
            ttl: soa.minimum,
            zone,
            len: 0,
            soa: Some(soa),
        }
    }

    /// One pass: writes the names while they fit, counts what the whole answer needs.
    fn write_ptr(&self, addr: IpAddr, zone: Option<usize>, out: &mut [u8]) -> Answer {
        let mut need = 0;
        for off in self.reverse(addr) {
            let name = Block::at(&self.blocks, off).name;
            if need + 1 + name.len() <= out.len() {
                out[need] = name.len() as u8;
                out[need + 1..need + 1 + name.len()].copy_from_slice(name);
            }
            need += 1 + name.len();
        }
        if need == 0 {
            return Answer::not_mine();
        }
        self.positive(zone, out, need, |_| {})
    }
}

/// Lowercases `qname` into `buf` and makes it fully qualified. None if it cannot be a name.
fn normalize<'a>(qname: &[u8], buf: &'a mut [u8; 256]) -> Option<&'a [u8]> {
    if qname.is_empty() || qname.len() >= buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(qname) {
        *d = s.to_ascii_lowercase();
    }
    let mut len = qname.len();
    if buf[len - 1] != b'.' {
        buf[len] = b'.';
        len += 1;
    }
    Some(&buf[..len])
}

/// The address of a complete `in-addr.arpa.` or `ip6.arpa.` name.
fn reverse_addr(name: &[u8]) -> Option<IpAddr> {
    if !name.ends_with(b".arpa.") {
        return None;
    }
    let name = Name::from_ascii(std::str::from_utf8(name).ok()?).ok()?;
    let net = name.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

#[cfg(test)]
mod tests;
