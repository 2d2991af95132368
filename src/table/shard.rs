//! One shard of the name index and one of the reverse index.
//!
//! A shard is immutable and encoded for lookups: a hash index of offsets into one byte
//! vector of blocks, so that a hit reads the index's control byte, its slot and the block.
//! A change decodes the shards it touches into editable maps ([`Names`], [`Reverse`]),
//! edits them, and encodes new shards; every other shard is shared with the previous table.
//!
//! Every block also says which source (a run of lines of the hosts data, see
//! `crate::dataset`) gave each address or name, so that the lines of one source can be
//! taken out again without the text they came from.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::HashTable;

/// A source's number: which run of lines a record came from.
pub(crate) type Src = u32;

/// Shards per index. A one-line change rebuilds one name shard and one reverse shard:
/// about a thousandth of the table (a quarter of a millisecond at 1M names), at the cost
/// of one pointer hop per lookup and ~0.3 MB of empty shards in a small table.
pub(crate) const SHARDS: usize = 1024;

/// The shard of a hash. Bits 32.. are free: hashbrown takes a slot's position from the low
/// bits and its control byte from the top 7.
pub(crate) fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize & (SHARDS - 1)
}

/// The hash of an address, for the reverse index.
pub(crate) fn addr_hash(hasher: &foldhash::fast::RandomState, addr: &IpAddr) -> u64 {
    match addr {
        IpAddr::V4(a) => hasher.hash_one(&a.octets()[..]),
        IpAddr::V6(a) => hasher.hash_one(&a.octets()[..]),
    }
}

/// One key's values from one source, hashed; a source's digest in a shard is the sum over
/// its keys, so that it can be computed in any order. A change compares the digest of a
/// chunk's new records with that of the old chunk's, and leaves the shard alone when they
/// are equal: a 64-bit hash under the process's random seed, like the chunks' own.
pub(crate) fn digest<K: std::hash::Hash, V: std::hash::Hash>(
    hasher: &foldhash::fast::RandomState,
    key: K,
    values: &[V],
) -> u64 {
    hasher.hash_one((key, values))
}

/// The first of each value, in order: what a query is answered with.
fn first_of_each<'a, T: PartialEq + std::hash::Hash + Eq + 'a>(
    items: impl Iterator<Item = (Src, &'a T)> + Clone,
    len: usize,
) -> Vec<(Src, &'a T)> {
    let mut out: Vec<(Src, &T)> = Vec::with_capacity(len);
    if len <= 1 {
        out.extend(items);
    } else if len <= 32 {
        for (src, v) in items {
            if !out.iter().any(|(_, seen)| *seen == v) {
                out.push((src, v));
            }
        }
    } else {
        // A sinkhole address can carry 100k names: no quadratic scan.
        let mut seen = std::collections::HashSet::with_capacity(len);
        out.extend(items.filter(|(_, v)| seen.insert(*v)));
    }
    out
}

// ---------------------------------------------------------------------------- names

/// A name's block: `[flags: u8][name_len: u8][v4 count: u8][v6 count: u8][name]`, then
/// `[children: u32]` if [`BELOW`], `[v4 count: u32][v6 count: u32]` if [`WIDE`], then the
/// v4 addresses (4 bytes each), the v6 addresses (16 bytes each), and the sources: one
/// `u32` if [`ONE_SOURCE`], else one per address (v4 then v6). Integers are little-endian.
/// The addresses are the ones served: the first of each, in source order. The usual block
/// (one source, under 255 addresses, no children) spends 4 bytes on its header, and its
/// name sits on the block's first cache line, where a lookup compares it.
const NAME_HEADER: usize = 4;
/// The name is a zone apex: it exists with or without records.
const PINNED: u8 = 1;
/// Two sources gave the name the same address: its full list is in [`NameShard::multi`].
const MULTI: u8 = 2;
/// The name has children: their count follows the name.
const BELOW: u8 = 4;
/// The name has 255 addresses of a family or more: both counts follow as `u32`.
const WIDE: u8 = 8;
/// Every address came from one source, stored once.
const ONE_SOURCE: u8 = 16;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A name's records, as a lookup reads them.
#[derive(Clone, Copy)]
pub(crate) struct Block<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) v4: &'a [u8],
    pub(crate) v6: &'a [u8],
    flags: u8,
    below: u32,
    /// One source for every address ([`ONE_SOURCE`]), or one per address.
    sources: &'a [u8],
}

impl<'a> Block<'a> {
    fn at(blocks: &'a [u8], offset: usize) -> (Block<'a>, usize) {
        let b = &blocks[offset..];
        let flags = b[0];
        let name_end = NAME_HEADER + b[1] as usize;
        let mut at = name_end;
        let mut below = 0;
        if flags & BELOW != 0 {
            below = u32_at(b, at);
            at += 4;
        }
        let (v4_len, v6_len) = if flags & WIDE != 0 {
            at += 8;
            (u32_at(b, at - 8) as usize, u32_at(b, at - 4) as usize)
        } else {
            (b[2] as usize, b[3] as usize)
        };
        let v4_end = at + v4_len * 4;
        let v6_end = v4_end + v6_len * 16;
        let sources = match (flags & ONE_SOURCE != 0, v4_len + v6_len) {
            (_, 0) => 0,
            (true, _) => 1,
            (false, n) => n,
        };
        let end = v6_end + sources * 4;
        let block = Block {
            name: &b[NAME_HEADER..name_end],
            v4: &b[at..v4_end],
            v6: &b[v4_end..v6_end],
            flags,
            below,
            sources: &b[v6_end..end],
        };
        (block, offset + end)
    }

    /// A name without addresses: a zone apex or an empty non-terminal.
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The source of the `i`th address, counting v4 then v6.
    fn source(&self, i: usize) -> Src {
        if self.flags & ONE_SOURCE != 0 {
            u32_at(self.sources, 0)
        } else {
            u32_at(self.sources, i * 4)
        }
    }
}

/// Every source's addresses of one name, in source order (a source's own in line order).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NameEntry {
    pub(crate) v4: Vec<(Src, [u8; 4])>,
    pub(crate) v6: Vec<(Src, [u8; 16])>,
    /// Children that exist: a name without records exists while it has one (an empty
    /// non-terminal).
    pub(crate) below: u32,
    pub(crate) pinned: bool,
}

impl NameEntry {
    pub(crate) fn has_records(&self) -> bool {
        !(self.v4.is_empty() && self.v6.is_empty())
    }

    /// Whether the name exists: it has records, is a zone apex, or has children.
    pub(crate) fn exists(&self) -> bool {
        self.has_records() || self.pinned || self.below > 0
    }
}

/// The decoded, editable form of a name shard.
pub(crate) type Names = HashMap<Box<[u8]>, NameEntry, foldhash::fast::RandomState>;

#[derive(Default)]
pub(crate) struct NameShard {
    /// Block offsets, hashed by name.
    index: HashTable<u32>,
    blocks: Vec<u8>,
    /// The full lists of the names with an address from more than one source (rare).
    multi: HashMap<Box<[u8]>, NameEntry, foldhash::fast::RandomState>,
    /// Names with records, and their distinct (name, address) records.
    pub(crate) names: usize,
    pub(crate) records: usize,
}

impl NameShard {
    pub(crate) fn find(&self, hash: u64, name: &[u8]) -> Option<Block<'_>> {
        let blocks = &self.blocks[..];
        // Compare the name only: the cheapest check, on the block's first cache line.
        let name_at = |off: u32| {
            let b = &blocks[off as usize..];
            &b[NAME_HEADER..NAME_HEADER + b[1] as usize]
        };
        self.index
            .find(hash, |&off| name_at(off) == name)
            .map(|&off| Block::at(blocks, off as usize).0)
    }

    /// The name with hash `hash` that has the address `addr`: a reverse index entry's name.
    /// Checking the address makes the answer right even if two names' 64-bit hashes meet.
    pub(crate) fn named(
        &self,
        hasher: &foldhash::fast::RandomState,
        hash: u64,
        addr: &IpAddr,
    ) -> Option<&[u8]> {
        self.index.iter_hash(hash).find_map(|&off| {
            let block = Block::at(&self.blocks, off as usize).0;
            let has = match addr {
                IpAddr::V4(a) => block.v4.chunks_exact(4).any(|x| x == a.octets()),
                IpAddr::V6(a) => block.v6.chunks_exact(16).any(|x| x == a.octets()),
            };
            (has && block.name.first() != Some(&b'*') && hasher.hash_one(block.name) == hash)
                .then_some(block.name)
        })
    }

    /// Every name of the shard with every source's addresses.
    pub(crate) fn decode(&self, hasher: &foldhash::fast::RandomState) -> Names {
        let mut names = Names::with_capacity_and_hasher(self.index.len(), hasher.clone());
        let mut offset = 0;
        while offset < self.blocks.len() {
            let (block, next) = Block::at(&self.blocks, offset);
            offset = next;
            let entry = if block.flags & MULTI != 0 {
                let mut entry = self.multi[block.name].clone();
                entry.below = block.below;
                entry
            } else {
                let v4_len = block.v4.len() / 4;
                NameEntry {
                    v4: (block.v4.chunks_exact(4).enumerate())
                        .map(|(i, a)| (block.source(i), a.try_into().unwrap()))
                        .collect(),
                    v6: (block.v6.chunks_exact(16).enumerate())
                        .map(|(i, a)| (block.source(v4_len + i), a.try_into().unwrap()))
                        .collect(),
                    below: block.below,
                    pinned: block.flags & PINNED != 0,
                }
            };
            names.insert(block.name.into(), entry);
        }
        names
    }

    /// Encodes the names that exist (records, a zone apex, or children).
    pub(crate) fn encode(names: &Names, hasher: &foldhash::fast::RandomState) -> NameShard {
        let mut writer = NameWriter::new(hasher);
        for (name, entry) in names {
            writer.push(name, entry);
        }
        writer.finish()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let multi: usize = self
            .multi
            .iter()
            .map(|(k, e)| k.len() + e.v4.capacity() * 8 + e.v6.capacity() * 20 + 64)
            .sum();
        self.blocks.capacity() + self.index.allocation_size() + multi
    }
}

/// Writes a name shard one name at a time.
pub(crate) struct NameWriter<'h> {
    hasher: &'h foldhash::fast::RandomState,
    shard: NameShard,
    offsets: Vec<(u64, u32)>,
}

impl<'h> NameWriter<'h> {
    pub(crate) fn new(hasher: &'h foldhash::fast::RandomState) -> NameWriter<'h> {
        NameWriter {
            hasher,
            shard: NameShard {
                multi: HashMap::with_hasher(hasher.clone()),
                ..NameShard::default()
            },
            offsets: Vec::new(),
        }
    }

    /// Adds `name` if it exists (records, a zone apex, or children).
    pub(crate) fn push(&mut self, name: &[u8], entry: &NameEntry) {
        if !entry.exists() {
            return;
        }
        let shard = &mut self.shard;
        let v4 = first_of_each(entry.v4.iter().map(|(s, a)| (*s, a)), entry.v4.len());
        let v6 = first_of_each(entry.v6.iter().map(|(s, a)| (*s, a)), entry.v6.len());
        let mut flags = if entry.pinned { PINNED } else { 0 };
        if v4.len() < entry.v4.len() || v6.len() < entry.v6.len() {
            flags |= MULTI;
            let full = NameEntry {
                below: 0,
                ..entry.clone()
            };
            shard.multi.insert(name.into(), full);
        }
        let sources = || v4.iter().map(|(s, _)| s).chain(v6.iter().map(|(s, _)| s));
        let first = sources().next();
        let one_source = sources().all(|s| Some(s) == first);
        if one_source {
            flags |= ONE_SOURCE;
        }
        if entry.below > 0 {
            flags |= BELOW;
        }
        let narrow = |n: usize| u8::try_from(n).ok().filter(|&n| n < u8::MAX);
        let counts = narrow(v4.len()).zip(narrow(v6.len()));
        if counts.is_none() {
            flags |= WIDE;
        }
        let b = &mut shard.blocks;
        let offset = u32::try_from(b.len()).expect("a shard beyond 4 GiB");
        let (v4_count, v6_count) = counts.unwrap_or((u8::MAX, u8::MAX));
        b.extend_from_slice(&[flags, name.len() as u8, v4_count, v6_count]);
        b.extend_from_slice(name);
        if entry.below > 0 {
            b.extend_from_slice(&entry.below.to_le_bytes());
        }
        if counts.is_none() {
            b.extend_from_slice(&(v4.len() as u32).to_le_bytes());
            b.extend_from_slice(&(v6.len() as u32).to_le_bytes());
        }
        v4.iter().for_each(|(_, a)| b.extend_from_slice(&a[..]));
        v6.iter().for_each(|(_, a)| b.extend_from_slice(&a[..]));
        let written = if one_source { 1 } else { v4.len() + v6.len() };
        sources()
            .take(written)
            .for_each(|s| b.extend_from_slice(&s.to_le_bytes()));
        self.offsets.push((self.hasher.hash_one(name), offset));
        if entry.has_records() {
            shard.names += 1;
            shard.records += v4.len() + v6.len();
        }
    }

    pub(crate) fn finish(mut self) -> NameShard {
        let shard = &mut self.shard;
        shard.index.reserve(self.offsets.len(), |_| 0);
        for (hash, offset) in self.offsets {
            // Room was reserved: the rehash closure is never called.
            shard.index.insert_unique(hash, offset, |_| unreachable!());
        }
        // A copy of exactly its size, not `shrink_to_fit`: the grown vector goes back to
        // malloc whole, for the next shard to grow in (3 B/record less RSS at 1M lines).
        shard.blocks = shard.blocks.as_slice().to_vec();
        self.shard
    }
}

// ---------------------------------------------------------------------------- reverse

/// An address's run: `[family: u8 (4 or 6)][flags: u8][count: u8][address]`, then
/// `[count: u32]` if [`WIDE`] (255 names or more), then, for each name served,
/// `[source: u32][hash of the name: u64]`. The name itself is in its block in the name
/// index: holding it twice would cost a third of the table.
const REV_HEADER: usize = 3;
const REV_ITEM: usize = 12;

/// The names of one address, as a PTR lookup reads them.
pub(crate) struct Run<'a> {
    addr: IpAddr,
    flags: u8,
    count: usize,
    names: &'a [u8],
}

impl<'a> Run<'a> {
    fn at(runs: &'a [u8], offset: usize) -> (Run<'a>, usize) {
        let b = &runs[offset..];
        let (addr, addr_len) = match b[0] {
            4 => (
                IpAddr::from(<[u8; 4]>::try_from(&b[REV_HEADER..REV_HEADER + 4]).unwrap()),
                4,
            ),
            _ => (
                IpAddr::from(<[u8; 16]>::try_from(&b[REV_HEADER..REV_HEADER + 16]).unwrap()),
                16,
            ),
        };
        let mut start = REV_HEADER + addr_len;
        let flags = b[1];
        let mut count = b[2] as usize;
        if flags & WIDE != 0 {
            count = u32_at(b, start) as usize;
            start += 4;
        }
        let end = start + count * REV_ITEM;
        let run = Run {
            addr,
            flags,
            count,
            names: &b[start..end],
        };
        (run, offset + end)
    }

    /// (source, hash of the name) of each name served, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = (Src, u64)> + 'a {
        let names = self.names;
        (0..self.count).map(move |i| {
            let item = &names[i * REV_ITEM..];
            let hash = u64::from_le_bytes(item[4..12].try_into().unwrap());
            (u32_at(item, 0), hash)
        })
    }

    pub(crate) fn addr(&self) -> IpAddr {
        self.addr
    }
}

/// Every source's names of one address (their hashes), in source order.
pub(crate) type RevEntry = Vec<(Src, u64)>;

/// The decoded, editable form of a reverse shard.
pub(crate) type Reverse = HashMap<IpAddr, RevEntry, foldhash::fast::RandomState>;

#[derive(Default)]
pub(crate) struct RevShard {
    /// Run offsets, hashed by address.
    index: HashTable<u32>,
    runs: Vec<u8>,
    /// The full lists of the addresses given the same name by more than one source.
    multi: HashMap<IpAddr, RevEntry, foldhash::fast::RandomState>,
}

impl RevShard {
    pub(crate) fn find(&self, hash: u64, addr: &IpAddr) -> Option<Run<'_>> {
        let runs = &self.runs[..];
        let addr_at = |off: u32| -> bool {
            let b = &runs[off as usize..];
            match (b[0], addr) {
                (4, IpAddr::V4(a)) => b[REV_HEADER..REV_HEADER + 4] == a.octets(),
                (6, IpAddr::V6(a)) => b[REV_HEADER..REV_HEADER + 16] == a.octets(),
                _ => false,
            }
        };
        self.index
            .find(hash, |&off| addr_at(off))
            .map(|&off| Run::at(runs, off as usize).0)
    }

    pub(crate) fn decode(&self, hasher: &foldhash::fast::RandomState) -> Reverse {
        let mut reverse = Reverse::with_capacity_and_hasher(self.index.len(), hasher.clone());
        let mut offset = 0;
        while offset < self.runs.len() {
            let (run, next) = Run::at(&self.runs, offset);
            offset = next;
            let entry = if run.flags & MULTI != 0 {
                self.multi[&run.addr].clone()
            } else {
                run.names().collect()
            };
            reverse.insert(run.addr, entry);
        }
        reverse
    }

    pub(crate) fn encode(reverse: &Reverse, hasher: &foldhash::fast::RandomState) -> RevShard {
        let mut writer = RevWriter::new(hasher);
        for (addr, names) in reverse {
            writer.push(*addr, names);
        }
        writer.finish()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let multi: usize = self
            .multi
            .values()
            .map(|names| names.capacity() * 16 + 64)
            .sum();
        self.runs.capacity() + self.index.allocation_size() + multi
    }
}

/// Writes a reverse shard one address at a time.
pub(crate) struct RevWriter<'h> {
    hasher: &'h foldhash::fast::RandomState,
    shard: RevShard,
    offsets: Vec<(u64, u32)>,
}

impl<'h> RevWriter<'h> {
    pub(crate) fn new(hasher: &'h foldhash::fast::RandomState) -> RevWriter<'h> {
        RevWriter {
            hasher,
            shard: RevShard {
                multi: HashMap::with_hasher(hasher.clone()),
                ..RevShard::default()
            },
            offsets: Vec::new(),
        }
    }

    /// Adds `addr` with every source's names (their hashes) for it, if it has any.
    pub(crate) fn push(&mut self, addr: IpAddr, names: &[(Src, u64)]) {
        if names.is_empty() {
            return;
        }
        let shard = &mut self.shard;
        let served = first_of_each(names.iter().map(|(s, n)| (*s, n)), names.len());
        let mut flags = 0;
        if served.len() < names.len() {
            flags |= MULTI;
            shard.multi.insert(addr, names.to_vec());
        }
        let count = u8::try_from(served.len()).ok().filter(|&n| n < u8::MAX);
        if count.is_none() {
            flags |= WIDE;
        }
        let b = &mut shard.runs;
        let offset = u32::try_from(b.len()).expect("a shard beyond 4 GiB");
        let family = if addr.is_ipv4() { 4 } else { 6 };
        b.extend_from_slice(&[family, flags, count.unwrap_or(u8::MAX)]);
        match addr {
            IpAddr::V4(a) => b.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => b.extend_from_slice(&a.octets()),
        }
        if count.is_none() {
            b.extend_from_slice(&(served.len() as u32).to_le_bytes());
        }
        for (src, hash) in served {
            b.extend_from_slice(&src.to_le_bytes());
            b.extend_from_slice(&hash.to_le_bytes());
        }
        self.offsets.push((addr_hash(self.hasher, &addr), offset));
    }

    pub(crate) fn finish(mut self) -> RevShard {
        let shard = &mut self.shard;
        shard.index.reserve(self.offsets.len(), |_| 0);
        for (hash, offset) in self.offsets {
            shard.index.insert_unique(hash, offset, |_| unreachable!());
        }
        // Exactly its size, as the name shards' blocks.
        shard.runs = shard.runs.as_slice().to_vec();
        self.shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_sources_and_duplicates() {
        let hasher = foldhash::fast::RandomState::default();
        let mut names = Names::with_hasher(hasher.clone());
        names.insert(
            b"a.example.".as_slice().into(),
            NameEntry {
                v4: vec![(1, [10, 0, 0, 1]), (2, [10, 0, 0, 2]), (3, [10, 0, 0, 1])],
                v6: vec![(2, [0; 16])],
                below: 0,
                pinned: false,
            },
        );
        names.insert(
            b"example.".as_slice().into(),
            NameEntry {
                below: 1,
                pinned: true,
                ..NameEntry::default()
            },
        );
        names.insert(b"gone.".as_slice().into(), NameEntry::default());
        let shard = NameShard::encode(&names, &hasher);
        names.remove(b"gone.".as_slice());
        assert_eq!(shard.decode(&hasher), names);
        assert_eq!((shard.names, shard.records), (1, 3));
        let hit = shard
            .find(hasher.hash_one(&b"a.example."[..]), b"a.example.")
            .unwrap();
        assert_eq!(hit.v4, [10, 0, 0, 1, 10, 0, 0, 2], "the first of each");
    }

    #[test]
    fn names_round_trip_past_the_short_header() {
        let hasher = foldhash::fast::RandomState::default();
        let mut names = Names::with_hasher(hasher.clone());
        // 300 v4 addresses (past a u8 count) from two sources, and children.
        let wide = NameEntry {
            v4: (0..300u32)
                .map(|i| (i % 2, (0x0a00_0000 + i).to_be_bytes()))
                .collect(),
            v6: vec![(7, [1; 16])],
            below: 70_000,
            pinned: false,
        };
        names.insert(b"wide.example.".as_slice().into(), wide);
        // One source for both families: its source is stored once.
        let one = NameEntry {
            v4: vec![(9, [10, 0, 0, 9])],
            v6: vec![(9, [2; 16])],
            ..NameEntry::default()
        };
        names.insert(b"one.example.".as_slice().into(), one);
        let shard = NameShard::encode(&names, &hasher);
        assert_eq!(shard.decode(&hasher), names);
        let hit = shard
            .find(hasher.hash_one(&b"wide.example."[..]), b"wide.example.")
            .unwrap();
        assert_eq!((hit.v4.len(), hit.v6.len(), hit.below), (1200, 16, 70_000));
    }

    #[test]
    fn reverse_round_trips_past_the_short_header() {
        let hasher = foldhash::fast::RandomState::default();
        let mut reverse = Reverse::with_hasher(hasher.clone());
        let addr: IpAddr = "2001:db8::1".parse().unwrap();
        reverse.insert(addr, (0..300u64).map(|i| (i as Src, i)).collect());
        let shard = RevShard::encode(&reverse, &hasher);
        assert_eq!(shard.decode(&hasher), reverse);
        let run = shard.find(addr_hash(&hasher, &addr), &addr).unwrap();
        assert_eq!(run.names().count(), 300);
    }

    #[test]
    fn reverse_round_trips_with_duplicates() {
        let hasher = foldhash::fast::RandomState::default();
        let mut reverse = Reverse::with_hasher(hasher.clone());
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        reverse.insert(addr, vec![(1, 0xb), (2, 0xa), (3, 0xb)]);
        let shard = RevShard::encode(&reverse, &hasher);
        assert_eq!(shard.decode(&hasher), reverse);
        let run = shard.find(addr_hash(&hasher, &addr), &addr).unwrap();
        let served: Vec<_> = run.names().map(|(_, n)| n).collect();
        assert_eq!(served, [0xb, 0xa]);
    }
}
