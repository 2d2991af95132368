//! The lookup table: immutable, read lock-free by every query, and changed by making a new
//! one that shares what did not change.
//!
//! Names are split by hash into [`SHARDS`] shards, and so are addresses for PTR queries. A
//! name shard is a hash index of offsets into one byte vector of blocks, one block per name
//! (its addresses, and which source each came from), so a hit reads the shard, the index's
//! control byte, its slot and the block. A reverse shard holds, per address, the hashes of
//! its names in the data's order; a PTR answer reads each name from its block. A change
//! (see `update`) rebuilds the shards it touches and shares every other one; a first read
//! (see `build`) writes them all at once.

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::rr::Name;

use crate::hosts::{self, Diagnostic};
use crate::zones::{Soa, Zones};

mod build;
mod shard;
mod update;

pub(crate) use shard::Src;
use shard::{addr_hash, shard_of, Block, NameShard, RevShard, SHARDS};
use update::Update;
pub(crate) use update::{Footprint, Records};

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;

/// How many diagnostics of one change are kept for the log.
pub(crate) const KEEP_DIAGNOSTICS: usize = 20;

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

/// Settings that shape a table, from the Corefile.
#[derive(Debug, Clone)]
pub struct TableOptions {
    pub zones: Zones,
    pub ttl: u32,
    pub no_reverse: bool,
}

/// What the data holds: the name index and the reverse index, each split into [`SHARDS`]
/// shards by hash. A change makes a new table that shares every shard it did not touch.
pub struct Table {
    options: TableOptions,
    revision: i64,
    hasher: foldhash::fast::RandomState,
    names: Box<[Arc<NameShard>]>,
    reverse: Box<[Arc<RevShard>]>,
    name_count: usize,
    records: usize,
    invalid_lines: usize,
    diagnostics: Vec<(String, Diagnostic)>,
    /// Shards (of both indexes) the change that made this table wrote.
    rebuilt: usize,
}

/// One source's text, parsed: its records, how many lines were skipped, and the first few
/// of them (numbered from `first_line`).
pub(crate) struct Parsed {
    pub(crate) records: Records,
    pub(crate) invalid_lines: usize,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub(crate) fn new(text: &[u8], zones: &Zones, first_line: usize, keep: usize) -> Parsed {
        let mut records = Records::default();
        let mut diagnostics = Vec::new();
        let invalid_lines = hosts::parse(text, zones, &mut diagnostics, keep, |addr, name| {
            records.push(addr, name)
        });
        for d in &mut diagnostics {
            d.line += first_line - 1;
        }
        Parsed {
            records,
            invalid_lines,
            diagnostics,
        }
    }
}

impl Table {
    /// A table without records: only the zone apexes exist.
    pub(crate) fn empty(options: TableOptions, hasher: foldhash::fast::RandomState) -> Table {
        let empty = Table {
            names: (0..SHARDS).map(|_| Arc::default()).collect(),
            reverse: (0..SHARDS).map(|_| Arc::default()).collect(),
            options,
            revision: 0,
            hasher,
            name_count: 0,
            records: 0,
            invalid_lines: 0,
            diagnostics: Vec::new(),
            rebuilt: 0,
        };
        let mut update = Update::new(&empty, &|_| 0);
        for zone in empty.options.zones.as_slice() {
            update.pin(zone.name.as_bytes());
        }
        let (names, reverse) = update.finish();
        empty.with_shards(names, reverse)
    }

    /// The table with the records of the sources `gone` taken out and those of `added`
    /// put in, each in place of its old version if it has one (the shards the old one
    /// wrote to); `rank` orders every source number. Also returns the shards each added
    /// source wrote to, in the order of `added`.
    pub(crate) fn change(
        &self,
        rank: &dyn Fn(Src) -> u32,
        gone: &[(Src, &Footprint)],
        added: &[(Src, Option<&Footprint>, &Records)],
    ) -> (Table, Vec<Footprint>) {
        let mut update = Update::new(self, rank);
        update.remove(gone);
        let reverse = !self.options.no_reverse;
        let footprints = added
            .iter()
            .map(|&(src, old, records)| match old {
                Some(old) => update.replace(src, old, records, reverse),
                None => update.add(src, records, reverse),
            })
            .collect();
        let (names, rev) = update.finish();
        (self.with_shards(names, rev), footprints)
    }

    /// A table holding only `sources` (in the data's order), built at once: the same
    /// table as adding them to an empty one, made several times faster.
    pub(crate) fn built(&self, sources: &[(Src, &Records)]) -> (Table, Vec<Footprint>) {
        let zones = self.options.zones.as_slice();
        let apexes: Vec<&[u8]> = zones.iter().map(|z| z.name.as_bytes()).collect();
        let reverse = !self.options.no_reverse;
        let (names, rev, footprints) = build::build(&self.hasher, &apexes, sources, reverse);
        let table = Table {
            options: self.options.clone(),
            revision: self.revision,
            hasher: self.hasher.clone(),
            name_count: names.iter().map(|s| s.names).sum(),
            records: names.iter().map(|s| s.records).sum(),
            names: names.into(),
            reverse: rev.into(),
            invalid_lines: 0,
            diagnostics: Vec::new(),
            rebuilt: 2 * SHARDS,
        };
        (table, footprints)
    }

    fn with_shards(
        &self,
        names: Vec<(usize, Arc<NameShard>)>,
        reverse: Vec<(usize, Arc<RevShard>)>,
    ) -> Table {
        let mut table = Table {
            options: self.options.clone(),
            revision: self.revision,
            hasher: self.hasher.clone(),
            names: self.names.clone(),
            reverse: self.reverse.clone(),
            name_count: self.name_count,
            records: self.records,
            invalid_lines: self.invalid_lines,
            diagnostics: Vec::new(),
            rebuilt: names.len() + reverse.len(),
        };
        for (i, shard) in names {
            table.name_count = table.name_count + shard.names - table.names[i].names;
            table.records = table.records + shard.records - table.names[i].records;
            table.names[i] = shard;
        }
        for (i, shard) in reverse {
            table.reverse[i] = shard;
        }
        table
    }

    /// Sets what the table reports of the data it was made from.
    pub(crate) fn set_report(
        &mut self,
        revision: i64,
        invalid_lines: usize,
        diagnostics: Vec<(String, Diagnostic)>,
    ) {
        self.revision = revision;
        self.invalid_lines = invalid_lines;
        self.diagnostics = diagnostics;
    }

    /// Builds a table from hosts texts in order, each text one source.
    pub fn from_texts(options: TableOptions, texts: &[&[u8]], revision: i64) -> Table {
        let empty = Table::empty(options, foldhash::fast::RandomState::default());
        let parsed: Vec<Parsed> = texts
            .iter()
            .map(|t| Parsed::new(t, &empty.options.zones, 1, KEEP_DIAGNOSTICS))
            .collect();
        let sources: Vec<(Src, &Records)> = parsed
            .iter()
            .enumerate()
            .map(|(i, p)| (i as Src, &p.records))
            .collect();
        let (mut table, _) = empty.built(&sources);
        let invalid = parsed.iter().map(|p| p.invalid_lines).sum();
        let diagnostics = parsed
            .into_iter()
            .enumerate()
            .flat_map(|(i, p)| {
                let source = format!("text {i}");
                p.diagnostics.into_iter().map(move |d| (source.clone(), d))
            })
            .take(KEEP_DIAGNOSTICS)
            .collect();
        table.set_report(revision, invalid, diagnostics);
        table
    }

    pub(crate) fn options(&self) -> &TableOptions {
        &self.options
    }

    /// Whether the change that made this table replaced much of the old one: then the old
    /// table's memory, freed when it goes, is worth handing back to the kernel.
    pub(crate) fn replaced_much(&self) -> bool {
        self.rebuilt >= SHARDS / 4
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Number of distinct names with records.
    pub fn names(&self) -> usize {
        self.name_count
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
        let shards = (self.names.len() + self.reverse.len()) * std::mem::size_of::<usize>();
        let names: usize = self
            .names
            .iter()
            .map(|s| s.heap_bytes() + std::mem::size_of::<NameShard>())
            .sum();
        let reverse: usize = self
            .reverse
            .iter()
            .map(|s| s.heap_bytes() + std::mem::size_of::<RevShard>())
            .sum();
        shards + names + reverse
    }

    fn find(&self, name: &[u8]) -> Option<Block<'_>> {
        let hash = self.hasher.hash_one(name);
        self.names[shard_of(hash)].find(hash, name)
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

    /// Names with the address `addr` (PTR targets), in the data's order.
    pub fn lookup_addr(&self, addr: IpAddr) -> Vec<String> {
        self.reverse(addr)
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect()
    }

    /// The names with the address `addr`.
    fn reverse(&self, addr: IpAddr) -> impl Iterator<Item = &[u8]> + '_ {
        let hash = addr_hash(&self.hasher, &addr);
        self.reverse[shard_of(hash)]
            .find(hash, &addr)
            .into_iter()
            .flat_map(move |run| {
                run.names().filter_map(move |(_, hash)| {
                    self.names[shard_of(hash)].named(&self.hasher, hash, &run.addr())
                })
            })
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
        for name in self.reverse(addr) {
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
