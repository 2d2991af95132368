//! A table built at once from every source, for a first read (from etcd or the snapshot).
//!
//! The same table [`super::update`] would make by adding the sources one by one, made
//! without the editable maps: each shard's records are sorted by name (a stable sort, so a
//! name's records keep the data's order) and written straight into blocks. The empty
//! non-terminals come from counting each name's children once, over every shard.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use super::shard::{
    addr_hash, shard_of, NameEntry, NameShard, NameWriter, RevShard, RevWriter, Src, SHARDS,
};
use super::update::{parent, Footprint, Records};

/// The shards of a table holding `sources` (in the data's order) and the zone apexes, and
/// the shards each source wrote to.
pub(crate) fn build(
    hasher: &foldhash::fast::RandomState,
    apexes: &[&[u8]],
    sources: &[(Src, &Records)],
    reverse: bool,
) -> (Vec<Arc<NameShard>>, Vec<Arc<RevShard>>, Vec<Footprint>) {
    // Every record into its shards, in the data's order.
    let mut names: Vec<Vec<(&[u8], Src, IpAddr)>> = vec![Vec::new(); SHARDS];
    let mut addrs: Vec<Vec<(IpAddr, Src, u64)>> = vec![Vec::new(); SHARDS];
    let mut footprints = Vec::with_capacity(sources.len());
    for &(src, records) in sources {
        for (addr, name) in records.iter() {
            let hash = hasher.hash_one(name);
            names[shard_of(hash)].push((name, src, addr));
            // Wildcards name no single host, so they make no PTR.
            if reverse && name.first() != Some(&b'*') {
                let shard = shard_of(addr_hash(hasher, &addr));
                addrs[shard].push((addr, src, hash));
            }
        }
        footprints.push(Footprint::of(hasher, records, reverse));
    }
    for shard in &mut names {
        shard.sort_by(|a, b| a.0.cmp(b.0));
    }
    for shard in &mut addrs {
        shard.sort_by_key(|r| r.0);
    }

    // Count the children of every name that exists, going up from each name with
    // records (and each apex) until a parent that was already counted.
    let has_records = |name: &[u8]| {
        let shard = &names[shard_of(hasher.hash_one(name))];
        shard.binary_search_by(|r| r.0.cmp(name)).is_ok()
    };
    let pinned: HashSet<&[u8]> = apexes.iter().copied().collect();
    let mut children: HashMap<&[u8], u32, _> = HashMap::with_hasher(hasher.clone());
    let with_records = names.iter().flat_map(|shard| {
        shard
            .iter()
            .enumerate()
            .filter(|(i, r)| *i == 0 || shard[i - 1].0 != r.0)
            .map(|(_, r)| r.0)
    });
    for name in with_records.chain(apexes.iter().copied()) {
        let mut child = name;
        while let Some(up) = parent(child) {
            let count = children.entry(up).or_insert(0);
            *count += 1;
            if *count > 1 || has_records(up) || pinned.contains(up) {
                break;
            }
            child = up;
        }
    }
    // Names without records that exist: apexes and empty non-terminals.
    let mut bare: Vec<Vec<&[u8]>> = vec![Vec::new(); SHARDS];
    let bare_names: HashSet<&[u8]> = children
        .keys()
        .copied()
        .chain(apexes.iter().copied())
        .collect();
    for name in bare_names {
        if !has_records(name) {
            bare[shard_of(hasher.hash_one(name))].push(name);
        }
    }

    let mut entry = NameEntry::default();
    let name_shards = (0..SHARDS)
        .map(|shard| {
            let mut writer = NameWriter::new(hasher);
            let records = &names[shard];
            let mut at = 0;
            while at < records.len() {
                let name = records[at].0;
                let end = at + records[at..].iter().take_while(|r| r.0 == name).count();
                entry.v4.clear();
                entry.v6.clear();
                for &(_, src, addr) in &records[at..end] {
                    match addr {
                        IpAddr::V4(a) => push_once(&mut entry.v4, src, a.octets()),
                        IpAddr::V6(a) => push_once(&mut entry.v6, src, a.octets()),
                    }
                }
                entry.below = children.get(name).copied().unwrap_or(0);
                entry.pinned = pinned.contains(name);
                writer.push(name, &entry);
                at = end;
            }
            for &name in &bare[shard] {
                let bare = NameEntry {
                    below: children.get(name).copied().unwrap_or(0),
                    pinned: pinned.contains(name),
                    ..NameEntry::default()
                };
                writer.push(name, &bare);
            }
            Arc::new(writer.finish())
        })
        .collect();

    let mut run: Vec<(Src, u64)> = Vec::new();
    let rev_shards = addrs
        .iter()
        .map(|records| {
            let mut writer = RevWriter::new(hasher);
            let mut at = 0;
            while at < records.len() {
                let addr = records[at].0;
                let end = at + records[at..].iter().take_while(|r| r.0 == addr).count();
                run.clear();
                for &(_, src, name) in &records[at..end] {
                    push_once(&mut run, src, name);
                }
                writer.push(addr, &run);
                at = end;
            }
            Arc::new(writer.finish())
        })
        .collect();
    (name_shards, rev_shards, footprints)
}

/// A source gives a name an address (or an address a name) once, however often it says so.
/// `list` is in source order, so only the last source's run needs looking at.
fn push_once<T: PartialEq>(list: &mut Vec<(Src, T)>, src: Src, item: T) {
    let mine = list.len() - list.iter().rev().take_while(|(s, _)| *s == src).count();
    if !list[mine..].iter().any(|(_, x)| *x == item) {
        list.push((src, item));
    }
}
