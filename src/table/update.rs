//! How a table takes a change: the sources that went away and the sources that came in.
//!
//! Only the shards those sources touch are decoded, edited and encoded again; every other
//! shard of the new table is the old table's, shared. A name's empty non-terminal parents
//! are kept by counting the names with records below each name, so a change touches the
//! parents only when a name appears or disappears.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use super::shard::{
    addr_hash, digest, shard_of, NameEntry, NameShard, Names, RevShard, Reverse, Src, SHARDS,
};
use super::Table;

/// One source's records, parsed: (address, lowercase FQDN) in line order.
#[derive(Default)]
pub(crate) struct Records {
    pairs: Vec<(IpAddr, u32, u8)>,
    names: Vec<u8>,
}

impl Records {
    pub(crate) fn push(&mut self, addr: IpAddr, name: &[u8]) {
        self.pairs
            .push((addr, self.names.len() as u32, name.len() as u8));
        self.names.extend_from_slice(name);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpAddr, &[u8])> {
        self.pairs
            .iter()
            .map(|&(a, at, len)| (a, &self.names[at as usize..at as usize + len as usize]))
    }
}

/// The shards a source wrote to (where to look when it goes away), each with the digest
/// of the source's records there (see [`digest`]): a new version of the source is compared
/// with the old one shard by shard without reading the shards.
#[derive(Debug, Clone, Default)]
pub(crate) struct Footprint {
    pub(crate) names: Box<[u16]>,
    pub(crate) reverse: Box<[u16]>,
    name_digests: Box<[u64]>,
    reverse_digests: Box<[u64]>,
}

impl Footprint {
    /// The footprint of `records` from one source.
    pub(crate) fn of(
        hasher: &foldhash::fast::RandomState,
        records: &Records,
        reverse: bool,
    ) -> Self {
        ByShard::new(hasher, records, reverse).footprint(hasher)
    }

    /// The digest of the source's records in name shard `shard` (0: none there).
    fn name_digest(&self, shard: u16) -> u64 {
        self.names
            .binary_search(&shard)
            .map_or(0, |i| self.name_digests[i])
    }

    fn reverse_digest(&self, shard: u16) -> u64 {
        self.reverse
            .binary_search(&shard)
            .map_or(0, |i| self.reverse_digests[i])
    }
}

/// The shards a change made, by shard number: name shards, then reverse shards.
pub(crate) type NewShards = (Vec<(usize, Arc<NameShard>)>, Vec<(usize, Arc<RevShard>)>);

/// A change being made to a table: the decoded shards, edited in place.
pub(crate) struct Update<'t> {
    table: &'t Table,
    /// Each source's place in the data's order.
    rank: &'t dyn Fn(Src) -> u32,
    /// The decoded shards, by shard number; None where untouched.
    names: Vec<Option<Names>>,
    reverse: Vec<Option<Reverse>>,
    /// Whether each touched name existed before the change.
    counted: HashMap<Box<[u8]>, bool, foldhash::fast::RandomState>,
}

impl<'t> Update<'t> {
    pub(crate) fn new(table: &'t Table, rank: &'t dyn Fn(Src) -> u32) -> Update<'t> {
        Update {
            table,
            rank,
            names: (0..SHARDS).map(|_| None).collect(),
            reverse: (0..SHARDS).map(|_| None).collect(),
            counted: HashMap::with_hasher(table.hasher.clone()),
        }
    }

    fn names_shard(&mut self, shard: usize) -> &mut Names {
        let table = self.table;
        self.names[shard].get_or_insert_with(|| table.names[shard].decode(&table.hasher))
    }

    fn reverse_shard(&mut self, shard: usize) -> &mut Reverse {
        let table = self.table;
        self.reverse[shard].get_or_insert_with(|| table.reverse[shard].decode(&table.hasher))
    }

    /// The entry of `name`, created if new; notes whether it counted for its parents.
    fn entry(&mut self, name: &[u8]) -> &mut NameEntry {
        let shard = shard_of(self.table.hasher.hash_one(name));
        let table = self.table;
        let names =
            self.names[shard].get_or_insert_with(|| table.names[shard].decode(&table.hasher));
        if !names.contains_key(name) {
            names.insert(name.into(), NameEntry::default());
        }
        let entry = names.get_mut(name).unwrap();
        if !self.counted.contains_key(name) {
            self.counted.insert(name.into(), entry.exists());
        }
        entry
    }

    /// Marks the zone apexes: they exist whether or not they have records.
    pub(crate) fn pin(&mut self, name: &[u8]) {
        self.entry(name).pinned = true;
    }

    /// Takes out every record of the sources `gone`, which wrote to the shards of their
    /// footprints.
    pub(crate) fn remove(&mut self, gone: &[(Src, &Footprint)]) {
        let mut by_shard: HashMap<usize, Vec<Src>> = HashMap::new();
        let mut by_rev_shard: HashMap<usize, Vec<Src>> = HashMap::new();
        for (src, footprint) in gone {
            for &s in footprint.names.iter() {
                by_shard.entry(s as usize).or_default().push(*src);
            }
            for &s in footprint.reverse.iter() {
                by_rev_shard.entry(s as usize).or_default().push(*src);
            }
        }
        for (shard, srcs) in by_shard {
            self.remove_names(shard, &srcs);
        }
        for (shard, srcs) in by_rev_shard {
            self.remove_reverse(shard, &srcs);
        }
    }

    fn remove_names(&mut self, shard: usize, srcs: &[Src]) {
        let names = self.names_shard(shard);
        let mut touched = Vec::new();
        for (name, entry) in names.iter_mut() {
            let had = entry.exists();
            let before = entry.v4.len() + entry.v6.len();
            entry.v4.retain(|(s, _)| !srcs.contains(s));
            entry.v6.retain(|(s, _)| !srcs.contains(s));
            if entry.v4.len() + entry.v6.len() != before {
                touched.push((name.clone(), had));
            }
        }
        for (name, had) in touched {
            self.counted.entry(name).or_insert(had);
        }
    }

    fn remove_reverse(&mut self, shard: usize, srcs: &[Src]) {
        for names in self.reverse_shard(shard).values_mut() {
            names.retain(|(s, _)| !srcs.contains(s));
        }
    }

    fn add_name(&mut self, src: Src, name: &[u8], addr: IpAddr) {
        let (rank, mine) = (self.rank, (self.rank)(src));
        let entry = self.entry(name);
        match addr {
            IpAddr::V4(a) => insert_once(rank, mine, &mut entry.v4, src, a.octets()),
            IpAddr::V6(a) => insert_once(rank, mine, &mut entry.v6, src, a.octets()),
        }
    }

    fn add_reverse(&mut self, src: Src, addr: IpAddr, name_hash: u64) {
        let (rank, mine) = (self.rank, (self.rank)(src));
        let shard = shard_of(addr_hash(&self.table.hasher, &addr));
        let names = self.reverse_shard(shard).entry(addr).or_default();
        insert_once(rank, mine, names, src, name_hash);
    }

    /// Adds the records of source `src`, placing them by the source's rank; returns the
    /// shards it wrote to.
    pub(crate) fn add(&mut self, src: Src, records: &Records, reverse: bool) -> Footprint {
        let by_shard = ByShard::new(&self.table.hasher, records, reverse);
        for (name, addr) in by_shard.names.values().flatten() {
            self.add_name(src, name, *addr);
        }
        for (addr, name_hash) in by_shard.reverse.values().flatten() {
            self.add_reverse(src, *addr, *name_hash);
        }
        by_shard.footprint(&self.table.hasher)
    }

    /// Puts the records of a new version of source `src` in place of the old one's, which
    /// wrote to the shards of `old`. A shard where the source's records are the same is
    /// left alone: an edited line changes one or two shards, not every one its run of
    /// lines reaches.
    pub(crate) fn replace(
        &mut self,
        src: Src,
        old: &Footprint,
        records: &Records,
        reverse: bool,
    ) -> Footprint {
        let by_shard = ByShard::new(&self.table.hasher, records, reverse);
        let footprint = by_shard.footprint(&self.table.hasher);
        let mut shards: BTreeSet<u16> = old.names.iter().copied().collect();
        shards.extend(by_shard.names.keys());
        for shard in shards {
            let new = by_shard.names.get(&shard).map_or(&[][..], Vec::as_slice);
            let i = shard as usize;
            let same = old.name_digest(shard) == footprint.name_digest(shard);
            if self.names[i].is_none() && same {
                continue;
            }
            self.remove_names(i, &[src]);
            for (name, addr) in new {
                self.add_name(src, name, *addr);
            }
        }
        let mut shards: BTreeSet<u16> = old.reverse.iter().copied().collect();
        shards.extend(by_shard.reverse.keys());
        for shard in shards {
            let new = by_shard.reverse.get(&shard).map_or(&[][..], Vec::as_slice);
            let i = shard as usize;
            let same = old.reverse_digest(shard) == footprint.reverse_digest(shard);
            if self.reverse[i].is_none() && same {
                continue;
            }
            self.remove_reverse(i, &[src]);
            for (addr, name_hash) in new {
                self.add_reverse(src, *addr, *name_hash);
            }
        }
        footprint
    }

    /// Counts the names that appeared or disappeared in their parents, and encodes the new
    /// table: the edited shards new, the others shared.
    pub(crate) fn finish(mut self) -> NewShards {
        // A name that appeared or disappeared changes its parent's count of children,
        // which may make the parent appear or disappear in turn. Deepest names first, so a
        // parent's count is final before it is looked at.
        let mut by_depth: BTreeMap<usize, Vec<Box<[u8]>>> = BTreeMap::new();
        for name in self.counted.keys() {
            by_depth.entry(depth(name)).or_default().push(name.clone());
        }
        while let Some((_, names)) = by_depth.pop_last() {
            for name in names {
                let before = self.counted[&name];
                let shard = shard_of(self.table.hasher.hash_one(&name[..]));
                let now = self.names[shard]
                    .as_ref()
                    .and_then(|names| names.get(&name))
                    .is_some_and(|e| e.exists());
                let Some(parent) = parent(&name).filter(|_| now != before) else {
                    continue;
                };
                if !self.counted.contains_key(parent) {
                    by_depth
                        .entry(depth(parent))
                        .or_default()
                        .push(parent.into());
                }
                let entry = self.entry(parent);
                entry.below = if now {
                    entry.below + 1
                } else {
                    entry.below - 1
                };
            }
        }
        // Encoding is most of a big change's cost, and shards are independent: two threads.
        let hasher = &self.table.hasher;
        let (names, reverse) = std::thread::scope(|scope| {
            let names = scope.spawn(|| {
                (self.names.iter().enumerate())
                    .filter_map(|(i, n)| {
                        Some((i, Arc::new(NameShard::encode(n.as_ref()?, hasher))))
                    })
                    .collect::<Vec<_>>()
            });
            let reverse = (self.reverse.iter().enumerate())
                .filter_map(|(i, r)| Some((i, Arc::new(RevShard::encode(r.as_ref()?, hasher)))))
                .collect::<Vec<_>>();
            (names.join().expect("encoding panicked"), reverse)
        });
        (names, reverse)
    }
}

/// A source's records split by the shard they go to, in line order.
struct ByShard<'r> {
    names: BTreeMap<u16, Vec<(&'r [u8], IpAddr)>>,
    /// (address, hash of the name) by reverse shard.
    reverse: BTreeMap<u16, Vec<(IpAddr, u64)>>,
}

impl<'r> ByShard<'r> {
    fn new(hasher: &foldhash::fast::RandomState, records: &'r Records, reverse: bool) -> Self {
        let mut by_shard = ByShard {
            names: BTreeMap::new(),
            reverse: BTreeMap::new(),
        };
        for (addr, name) in records.iter() {
            let hash = hasher.hash_one(name);
            let shard = shard_of(hash) as u16;
            by_shard.names.entry(shard).or_default().push((name, addr));
            // Wildcards name no single host, so they make no PTR.
            if reverse && name.first() != Some(&b'*') {
                let shard = shard_of(addr_hash(hasher, &addr)) as u16;
                by_shard
                    .reverse
                    .entry(shard)
                    .or_default()
                    .push((addr, hash));
            }
        }
        by_shard
    }

    /// The shards, with the digest of the records in each: a name's addresses as a shard
    /// holds them (grouped, IPv4 first), an address's name hashes.
    fn footprint(&self, hasher: &foldhash::fast::RandomState) -> Footprint {
        let sum = |digests: &mut dyn Iterator<Item = u64>| digests.fold(0, u64::wrapping_add);
        Footprint {
            names: self.names.keys().copied().collect(),
            reverse: self.reverse.keys().copied().collect(),
            name_digests: (self.names.values())
                .map(|pairs| {
                    sum(&mut v4_first(grouped(pairs))
                        .iter()
                        .map(|(k, v)| digest(hasher, k, v)))
                })
                .collect(),
            reverse_digests: (self.reverse.values())
                .map(|pairs| sum(&mut grouped(pairs).iter().map(|(k, v)| digest(hasher, k, v))))
                .collect(),
        }
    }
}

/// (key, value) pairs grouped by key, each key's values in order without repeats: how a
/// shard holds one source's records.
pub(crate) fn grouped<K: Ord + Clone, V: PartialEq + Clone>(
    pairs: &[(K, V)],
) -> BTreeMap<K, Vec<V>> {
    let mut out: BTreeMap<K, Vec<V>> = BTreeMap::new();
    for (k, v) in pairs {
        let values = out.entry(k.clone()).or_default();
        if !values.contains(v) {
            values.push(v.clone());
        }
    }
    out
}

/// Labels in a lowercase FQDN: 0 for the root.
fn depth(name: &[u8]) -> usize {
    if name == b"." {
        0
    } else {
        name.iter().filter(|&&b| b == b'.').count()
    }
}

/// The parent of a lowercase FQDN; None for the root.
pub(crate) fn parent(name: &[u8]) -> Option<&[u8]> {
    if name == b"." {
        return None;
    }
    let dot = name.iter().position(|&b| b == b'.')?;
    Some(if dot + 1 == name.len() {
        b"."
    } else {
        &name[dot + 1..]
    })
}

/// Each name's addresses with the IPv4 ones first, as a name's block holds them.
fn v4_first<K>(mut map: BTreeMap<K, Vec<IpAddr>>) -> BTreeMap<K, Vec<IpAddr>> {
    for addrs in map.values_mut() {
        addrs.sort_by_key(|a| a.is_ipv6());
    }
    map
}

/// Inserts `item` from source `src` (ranked `mine`) unless that source already gave it.
fn insert_once<T: PartialEq>(
    rank: &dyn Fn(Src) -> u32,
    mine: u32,
    list: &mut Vec<(Src, T)>,
    src: Src,
    item: T,
) {
    let at = place(rank, mine, list);
    let start = list[..at].partition_point(|(s, _)| rank(*s) < mine);
    if !list[start..at].iter().any(|(_, x)| *x == item) {
        list.insert(at, (src, item));
    }
}

/// Where a record of the source ranked `mine` goes in a list kept in source order: after
/// those of every earlier source and its own earlier ones, so a source keeps its line order.
fn place<T>(rank: &dyn Fn(Src) -> u32, mine: u32, list: &[(Src, T)]) -> usize {
    list.partition_point(|(s, _)| rank(*s) <= mine)
}
