//! The chunked layout from dnsctl's side (the layout itself is `etcdhosts::chunked`):
//! putting a manifest back together into the hosts text, writing a text as blobs then
//! manifest, and the version records that let history and rollback outlive etcd's
//! compaction. Blobs never change, so they are kept in a local cache (`cache`): a read
//! after the first fetches the head and the blobs it has not seen.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use etcd_client::{GetOptions, Txn, TxnOp, TxnOpResponse};
use etcdhosts::chunked::{self, Digest, Entry, Manifest};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{Code, Failure, Result};
use crate::store::{Kv, Layout, Meta, State, Store};

/// A plain value larger than this is written chunked: etcd's default request limit is
/// 1.5 MiB, and the transaction carries the key and the metadata too.
pub const PLAIN_MAX_BYTES: usize = 1 << 20;
/// Operations per transaction (etcd's --max-txn-ops is 128 by default).
pub const TXN_OPS: usize = 64;
/// Bytes of values put by one transaction: well under the 1.5 MiB request limit.
const PUT_TXN_BYTES: usize = 1 << 20;
/// Bytes one read transaction should return (by the sizes the indexes announce).
const GET_TXN_BYTES: usize = 4 << 20;
/// What an index blob is assumed to weigh before it is read (512 entries of ~85 bytes).
const INDEX_SIZE_GUESS: u64 = 48 << 10;
/// Transactions in flight at once.
const IN_FLIGHT: usize = 4;

/// What dnsctl records for each chunked write, under `KEY.versions/`: who and when, and
/// the manifest, which with the immutable blobs is the whole text of that version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    #[serde(flatten)]
    pub meta: Meta,
    pub lines: u64,
    pub bytes: u64,
    pub manifest: String,
}

/// A version record as read: its key and mod revision, which is the revision the
/// manifest was written at (same transaction).
#[derive(Debug, Clone)]
pub struct Version {
    pub key: String,
    pub revision: i64,
    pub record: VersionRecord,
}

/// `KEY.versions/<unix ms, 13 digits>-<12 hex of the manifest's SHA-256>`: in time order,
/// and two writers in the same millisecond write different keys.
pub fn version_key(key: &str, unix_ms: u128, manifest: &[u8]) -> String {
    let digest = Digest::of(manifest).to_string();
    format!(
        "{}{unix_ms:013}-{}",
        chunked::versions_prefix(key),
        &digest[..12]
    )
}

fn blob_failure(key: &str, digest: &Digest, head_rev: i64, why: &str) -> Failure {
    Failure::new(
        Code::Error,
        format!(
            "blob {} {why}; {key} at revision {head_rev} needs it, so its text cannot be \
             read (restore it with `dnsctl upload` of a backup, or `dnsctl rollback`)",
            chunked::blob_key(key, digest)
        ),
    )
}

/// The head's value `manifest` (written at `head_rev`) as text, reading blobs at
/// `head_rev` (they are all there at the manifest's revision).
pub async fn materialize_head(
    store: &Store,
    key: &str,
    manifest: &[u8],
    head_rev: i64,
) -> Result<(Vec<u8>, Layout)> {
    let manifest = Manifest::parse(manifest).map_err(|e| {
        Failure::new(
            Code::Error,
            format!("{key} at revision {head_rev} holds a damaged manifest: {e}"),
        )
    })?;
    materialize(store, key, manifest, Some(head_rev), head_rev).await
}

/// The text a manifest stands for, with its layout (every digest it references).
pub async fn materialize(
    store: &Store,
    key: &str,
    manifest: Manifest,
    at: Option<i64>,
    head_rev: i64,
) -> Result<(Vec<u8>, Layout)> {
    let (indexes, chunk_list) = read_indexes(store, key, &manifest, at, head_rev).await?;
    let wanted: Vec<(Digest, u64)> = chunk_list.iter().map(|e| (e.digest, e.bytes)).collect();
    let chunks = fetch(store, key, &wanted, at, head_rev).await?;
    let mut text = Vec::with_capacity(manifest.bytes() as usize);
    for e in &chunk_list {
        text.extend_from_slice(&chunks[&e.digest]);
    }
    if text.len() as u64 != manifest.bytes() {
        return Err(Failure::new(
            Code::Error,
            format!(
                "{key} at revision {head_rev}: its chunks add up to {} bytes, its manifest \
                 says {}",
                text.len(),
                manifest.bytes()
            ),
        ));
    }
    let blobs = indexes.into_iter().chain(chunks.into_keys()).collect();
    Ok((
        text,
        Layout::Chunked {
            manifest,
            blobs,
            chunks: chunk_list.len(),
        },
    ))
}

/// Every blob a manifest references (its indexes and their chunks), reading only indexes.
pub async fn referenced(
    store: &Store,
    key: &str,
    manifest: &Manifest,
    head_rev: i64,
) -> Result<HashSet<Digest>> {
    let (indexes, chunk_list) = read_indexes(store, key, manifest, None, head_rev).await?;
    Ok(indexes
        .into_iter()
        .chain(chunk_list.iter().map(|e| e.digest))
        .collect())
}

/// The manifest's index digests and, in order, the chunks they list.
async fn read_indexes(
    store: &Store,
    key: &str,
    manifest: &Manifest,
    at: Option<i64>,
    head_rev: i64,
) -> Result<(HashSet<Digest>, Vec<Entry>)> {
    let wanted: Vec<(Digest, u64)> = manifest
        .indexes
        .iter()
        .map(|e| (e.digest, INDEX_SIZE_GUESS))
        .collect();
    let indexes = fetch(store, key, &wanted, at, head_rev).await?;
    let mut chunk_list = Vec::new();
    for e in &manifest.indexes {
        let entries = chunked::parse_index(&indexes[&e.digest])
            .map_err(|why| blob_failure(key, &e.digest, head_rev, &format!("is damaged: {why}")))?;
        chunk_list.extend(entries);
    }
    Ok((indexes.into_keys().collect(), chunk_list))
}

/// The blobs `wanted` (digest, expected size), from the cache or from etcd at `at` (or
/// now, if `at` was compacted: blobs never change), each checked against its digest.
async fn fetch(
    store: &Store,
    key: &str,
    wanted: &[(Digest, u64)],
    at: Option<i64>,
    head_rev: i64,
) -> Result<HashMap<Digest, Vec<u8>>> {
    let mut got = HashMap::new();
    let mut missing = Vec::new();
    let mut seen = HashSet::new();
    for &(digest, size) in wanted {
        if !seen.insert(digest) {
            continue;
        }
        match cache::get(&digest) {
            Some(blob) => {
                got.insert(digest, blob);
            }
            None => missing.push((digest, size)),
        }
    }
    let mut gets = Vec::new();
    for batch in batches(&missing, |&(_, size)| size as usize, GET_TXN_BYTES) {
        gets.push(get_batch(store, key, batch, at));
    }
    let answers = in_flight(gets).await?;
    for (digest, blob) in answers.into_iter().flatten() {
        let Some(blob) = blob else {
            return Err(blob_failure(key, &digest, head_rev, "is missing from etcd"));
        };
        if chunked::check_blob(&digest, &blob).is_err() {
            return Err(blob_failure(
                key,
                &digest,
                head_rev,
                "is corrupt (its content does not hash to its name)",
            ));
        }
        cache::put(&digest, &blob);
        got.insert(digest, blob);
    }
    Ok(got)
}

/// One transaction of gets; `None` for a blob etcd does not hold.
async fn get_batch(
    store: &Store,
    key: &str,
    batch: &[(Digest, u64)],
    at: Option<i64>,
) -> Result<Vec<(Digest, Option<Vec<u8>>)>> {
    let txn = |at: Option<i64>| {
        let options = at.map_or_else(GetOptions::new, |rev| GetOptions::new().with_revision(rev));
        let ops: Vec<TxnOp> = batch
            .iter()
            .map(|(d, _)| TxnOp::get(chunked::blob_key(key, d), Some(options.clone())))
            .collect();
        Txn::new().and_then(ops)
    };
    let what = format!("reading the chunks of {key}");
    let run = |txn: Txn| {
        store.call(&what, true, move || {
            let mut kv = store.kv();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
    };
    let response = match run(txn(at)).await {
        Err(f) if at.is_some() && f.message.contains("has been compacted") => {
            run(txn(None)).await?
        }
        other => other?,
    };
    let mut out = Vec::with_capacity(batch.len());
    for ((digest, _), answer) in batch.iter().zip(response.op_responses()) {
        let blob = match answer {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.value().to_vec()),
            _ => None,
        };
        out.push((*digest, blob));
    }
    Ok(out)
}

/// One transaction of puts; sent again if the connection broke (a put of a blob is the
/// same whenever it lands).
async fn put_batch(store: &Store, key: &str, txn: Txn) -> Result<()> {
    let what = format!("writing the chunks of {key}");
    store
        .call(&what, true, || {
            let mut kv = store.kv();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await?;
    Ok(())
}

/// Runs `jobs` with at most [`IN_FLIGHT`] at a time; the first failure ends them all.
async fn in_flight<T, F: Future<Output = Result<T>>>(jobs: Vec<F>) -> Result<Vec<T>> {
    let mut jobs = jobs.into_iter();
    let mut running = FuturesUnordered::new();
    let mut out = Vec::new();
    running.extend(jobs.by_ref().take(IN_FLIGHT));
    while let Some(done) = running.next().await {
        out.push(done?);
        running.extend(jobs.next());
    }
    Ok(out)
}

/// Splits `items` into runs of at most [`TXN_OPS`] whose `size` adds up to at most
/// `max_bytes` (an item larger than that goes alone).
pub fn batches<T>(items: &[T], size: impl Fn(&T) -> usize, max_bytes: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && (i - start >= TXN_OPS || bytes + n > max_bytes) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// Puts every blob of `text` that `base` does not reference (idempotent: blobs are named
/// by their content), and returns the operations of the guarded transaction: the manifest
/// and the version record.
pub async fn prepare(
    store: &Store,
    key: &str,
    base: &State,
    text: &[u8],
    meta: &Meta,
) -> Result<Vec<TxnOp>> {
    let stored = chunked::store(text);
    let have = match &base.layout {
        Layout::Chunked { blobs, .. } => blobs.clone(),
        Layout::Plain => HashSet::new(),
    };
    let mut seen = HashSet::new();
    let missing: Vec<(Digest, &[u8])> = stored
        .blobs
        .iter()
        .filter(|(d, _)| !have.contains(d) && seen.insert(*d))
        .map(|(d, b)| (*d, b.as_ref()))
        .collect();
    let mut puts = Vec::new();
    for batch in batches(&missing, |(_, b)| b.len(), PUT_TXN_BYTES) {
        let ops: Vec<TxnOp> = batch
            .iter()
            .map(|(d, b)| TxnOp::put(chunked::blob_key(key, d), b.to_vec(), None))
            .collect();
        puts.push(put_batch(store, key, Txn::new().and_then(ops)));
    }
    in_flight(puts).await?;
    for (digest, blob) in &missing {
        cache::put(digest, blob);
    }
    let manifest = stored.manifest.render(key);
    let record = VersionRecord {
        meta: meta.clone(),
        lines: stored.manifest.lines(),
        bytes: stored.manifest.bytes(),
        manifest: String::from_utf8_lossy(&manifest).into_owned(),
    };
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Ok(vec![
        TxnOp::put(
            version_key(key, unix_ms, &manifest),
            serde_json::to_vec(&record).unwrap_or_default(),
            None,
        ),
        TxnOp::put(key, manifest, None),
    ])
}

/// Every version record of `key`, newest first. A record that cannot be read is left out.
pub async fn versions(store: &Store, key: &str) -> Result<Vec<Version>> {
    let prefix = chunked::versions_prefix(key);
    let response = store
        .call(&format!("reading the versions of {key}"), true, || {
            let mut kv = store.kv();
            let prefix = prefix.clone();
            async move { kv.get(prefix, Some(GetOptions::new().with_prefix())).await }
        })
        .await?;
    let mut out: Vec<Version> = response
        .kvs()
        .iter()
        .filter_map(|kv| {
            Some(Version {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                revision: kv.mod_revision(),
                record: serde_json::from_slice(kv.value()).ok()?,
            })
        })
        .collect();
    out.sort_by_key(|v| std::cmp::Reverse(v.revision));
    Ok(out)
}

/// `key` as it was at `rev`, from the version records, when etcd compacted that revision:
/// the newest version written at or before `rev`. `None` if there is none.
pub async fn read_version(store: &Store, key: &str, rev: i64) -> Result<Option<State>> {
    let versions = versions(store, key).await?;
    let Some(version) = versions.into_iter().find(|v| v.revision <= rev) else {
        return Ok(None);
    };
    let manifest = Manifest::parse(version.record.manifest.as_bytes()).map_err(|e| {
        Failure::new(
            Code::Error,
            format!("the version record {} is damaged: {e}", version.key),
        )
    })?;
    let (text, layout) = materialize(store, key, manifest, None, version.revision).await?;
    Ok(Some(State {
        at: rev,
        kvs: vec![Kv {
            key: key.as_bytes().to_vec(),
            value: text,
            mod_revision: version.revision,
            create_revision: 0,
            version: 0,
        }],
        layout,
    }))
}

/// The local cache of blobs: one file per digest, named by it, checked when read.
pub mod cache {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use etcdhosts::chunked::{check_blob, Digest};

    /// `$DNSCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/dnsctl/blobs`, else
    /// `~/.cache/dnsctl/blobs`.
    pub fn dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("DNSCTL_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("dnsctl").join("blobs"))
    }

    /// The blob if the cache holds it intact (a damaged file is as good as none).
    pub fn get(digest: &Digest) -> Option<Vec<u8>> {
        get_in(&dir()?, digest)
    }

    /// Keeps a blob already checked against its digest. Failing costs only speed.
    pub fn put(digest: &Digest, blob: &[u8]) {
        static WARNED: AtomicBool = AtomicBool::new(false);
        let Some(dir) = dir() else { return };
        if let Err(e) = put_in(&dir, digest, blob) {
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "dnsctl: warning: cannot write the chunk cache {}: {e} (set \
                     DNSCTL_CACHE_DIR to a writable directory; reading without it)",
                    dir.display()
                );
            }
        }
    }

    pub fn get_in(dir: &Path, digest: &Digest) -> Option<Vec<u8>> {
        let blob = std::fs::read(dir.join(digest.to_string())).ok()?;
        check_blob(digest, &blob).is_ok().then_some(blob)
    }

    /// Written to a temporary file and renamed, so a reader sees the whole blob or none;
    /// an intact copy is left as it is.
    pub fn put_in(dir: &Path, digest: &Digest, blob: &[u8]) -> std::io::Result<()> {
        static TEMP: AtomicU64 = AtomicU64::new(0);
        if get_in(dir, digest).is_some() {
            return Ok(());
        }
        let tmp = dir.join(format!(
            ".{digest}.{}.{}",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, blob))
            .and_then(|()| std::fs::rename(&tmp, dir.join(digest.to_string())));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn blobs_are_kept_whole_and_a_damaged_one_is_not_read() {
            let dir = tempfile::tempdir().unwrap();
            let blobs = dir.path().join("blobs");
            let (a, b) = (b"10.0.0.1 a\n".as_slice(), b"10.0.0.2 b\n".as_slice());
            let (da, db) = (Digest::of(a), Digest::of(b));
            assert_eq!(get_in(&blobs, &da), None);
            put_in(&blobs, &da, a).unwrap();
            assert_eq!(get_in(&blobs, &da).as_deref(), Some(a));
            std::fs::write(blobs.join(db.to_string()), a).unwrap();
            assert_eq!(get_in(&blobs, &db), None, "content that is not its name's");
            put_in(&blobs, &db, b).unwrap();
            assert_eq!(get_in(&blobs, &db).as_deref(), Some(b), "written again");
            let names: Vec<_> = std::fs::read_dir(&blobs).unwrap().collect();
            assert_eq!(names.len(), 2, "no temporary file is left");
            let unwritable = dir.path().join("file");
            std::fs::write(&unwritable, b"").unwrap();
            assert!(put_in(&unwritable, &da, a).is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_op_and_byte_limits() {
        let sizes = vec![100usize; 200];
        let b = batches(&sizes, |&n| n, 1 << 20);
        assert_eq!(
            b.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [64, 64, 64, 8]
        );
        let big = vec![400usize, 400, 400, 2000, 10];
        let b = batches(&big, |&n| n, 1000);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [2, 1, 1, 1]);
        assert!(batches(&Vec::<usize>::new(), |&n| n, 10).is_empty());
    }

    #[test]
    fn version_keys_sort_by_time() {
        let a = version_key("/etcdhosts", 999_999_999_999, b"a");
        let b = version_key("/etcdhosts", 1_700_000_000_000, b"b");
        assert!(a.starts_with("/etcdhosts.versions/0999999999999-"), "{a}");
        assert_eq!(b.len(), a.len());
        assert!(a < b);
    }
}
