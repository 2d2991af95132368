//! The watch's reader of the chunked layout ([`crate::chunked`]): from a manifest to the
//! chunks the table lacks, fetched at the manifest's revision and checked against their
//! digests. A manifest that names a missing or corrupt blob is an error, and the version
//! being served stays: a partial version is never served.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{GetOptions, KvClient};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::chunked::{self, Digest, Entry, Manifest};
use crate::dataset::Piece;
use crate::state::State;

/// Blob reads in flight at once: enough to hide the round trips of a first read of
/// thousands of chunks, few enough not to crowd the etcd member.
const IN_FLIGHT: usize = 16;

/// What the reader keeps of the version being served.
#[derive(Default)]
pub(crate) struct ChunkReader {
    /// Its indexes, by digest: a new manifest usually names all of them but one.
    indexes: HashMap<Digest, Arc<Vec<Entry>>>,
    /// Its chunks' texts, by digest, only while a snapshot file needs the whole text.
    texts: Option<HashMap<Digest, Arc<[u8]>>>,
}

/// Why a version could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// etcd did not answer: nothing is known about the version.
    Etcd(String),
    /// The version names a blob that is missing or corrupt, or is unreadable itself.
    BadVersion(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Etcd(e) | ReadError::BadVersion(e) => f.write_str(e),
        }
    }
}

/// A version, read: its chunks in order, and the texts of those the table needs.
pub(crate) struct Version {
    chunks: Vec<Entry>,
    texts: Vec<Option<Arc<[u8]>>>,
    indexes: HashMap<Digest, Arc<Vec<Entry>>>,
}

impl Version {
    /// The pieces to hand to the dataset.
    pub(crate) fn pieces(&self) -> Vec<Piece<'_>> {
        self.chunks
            .iter()
            .zip(&self.texts)
            .map(|(e, text)| Piece {
                hash: e.digest.short(),
                lines: e.lines as u32,
                text: text.as_deref(),
            })
            .collect()
    }
}

impl ChunkReader {
    pub(crate) fn new(keep_texts: bool) -> ChunkReader {
        ChunkReader {
            indexes: HashMap::new(),
            texts: keep_texts.then(HashMap::new),
        }
    }

    /// Reads the version `manifest` (the hosts key's value at `revision`) names: the
    /// indexes not already held, then the chunks the table lacks for `state`'s key.
    pub(crate) async fn read(
        &self,
        kv: &KvClient,
        state: &State,
        manifest: &[u8],
        revision: i64,
    ) -> Result<Version, ReadError> {
        let config = &state.config;
        let key = config.key.as_str();
        let manifest = Manifest::parse(manifest)
            .map_err(|e| ReadError::BadVersion(format!("{key} at revision {revision}: {e}")))?;
        let missing: Vec<Digest> = manifest
            .indexes
            .iter()
            .map(|e| e.digest)
            .filter(|d| !self.indexes.contains_key(d))
            .collect();
        let fetched = fetch(kv, key, &missing, revision, config.timeout()).await?;
        let mut indexes = HashMap::new();
        for (digest, blob) in missing.iter().zip(fetched) {
            let entries = chunked::parse_index(&blob).map_err(|e| {
                ReadError::BadVersion(format!("{}: {e}", chunked::blob_key(key, digest)))
            })?;
            indexes.insert(*digest, Arc::new(entries));
        }
        let mut chunks = Vec::new();
        for e in &manifest.indexes {
            let entries = indexes
                .get(&e.digest)
                .or_else(|| self.indexes.get(&e.digest));
            let entries = entries.expect("every index was held or fetched").clone();
            indexes.insert(e.digest, entries.clone());
            chunks.extend(entries.iter().copied());
        }
        let hashes: Vec<(u128, u32)> = chunks
            .iter()
            .map(|e| (e.digest.short(), e.lines as u32))
            .collect();
        let needed = state.needed(key.as_bytes(), &hashes);
        let mut texts: Vec<Option<Arc<[u8]>>> = vec![None; chunks.len()];
        let mut wanted = Vec::new();
        for (i, e) in chunks.iter().enumerate() {
            match self.texts.as_ref().map(|t| t.get(&e.digest)) {
                Some(Some(text)) => texts[i] = Some(text.clone()),
                // Kept for the snapshot: every chunk's text is wanted.
                Some(None) => wanted.push(i),
                None if needed.contains(&i) => wanted.push(i),
                None => {}
            }
        }
        let digests: Vec<Digest> = wanted.iter().map(|&i| chunks[i].digest).collect();
        let fetched = fetch(kv, key, &digests, revision, config.timeout()).await?;
        for (i, blob) in wanted.into_iter().zip(fetched) {
            texts[i] = Some(Arc::from(blob));
        }
        Ok(Version {
            chunks,
            texts,
            indexes,
        })
    }

    /// The version is being served: keep what the next one will need of it. Returns the
    /// whole text when a snapshot file needs it.
    pub(crate) fn served(&mut self, version: Version) -> Option<Vec<u8>> {
        self.indexes = version.indexes;
        let texts = self.texts.as_mut()?;
        texts.clear();
        let mut whole = Vec::new();
        for (e, text) in version.chunks.iter().zip(version.texts) {
            let text = text.expect("every chunk's text is read while a snapshot is kept");
            whole.extend_from_slice(&text);
            texts.insert(e.digest, text);
        }
        Some(whole)
    }
}

/// Reads blobs at `revision` (or now, if etcd compacted it; blobs never change), at most
/// [`IN_FLIGHT`] at once, each checked against its digest. In the order asked.
async fn fetch(
    kv: &KvClient,
    key: &str,
    digests: &[Digest],
    revision: i64,
    limit: Duration,
) -> Result<Vec<Vec<u8>>, ReadError> {
    let mut out: Vec<Option<Vec<u8>>> = vec![None; digests.len()];
    let mut tasks = JoinSet::new();
    let mut next = 0;
    loop {
        while next < digests.len() && tasks.len() < IN_FLIGHT {
            let (kv, digest, at) = (kv.clone(), digests[next], next);
            let blob_key = chunked::blob_key(key, &digest);
            tasks
                .spawn(async move { (at, fetch_one(kv, blob_key, digest, revision, limit).await) });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (at, blob) =
            joined.map_err(|e| ReadError::Etcd(format!("a chunk read failed: {e}")))?;
        out[at] = Some(blob?);
    }
    Ok(out.into_iter().map(|b| b.unwrap_or_default()).collect())
}

async fn fetch_one(
    mut kv: KvClient,
    blob_key: String,
    digest: Digest,
    revision: i64,
    limit: Duration,
) -> Result<Vec<u8>, ReadError> {
    let mut get = async |options: Option<GetOptions>| {
        timeout(limit, kv.get(blob_key.as_str(), options))
            .await
            .map_err(|_| format!("timed out after {limit:?}"))?
            .map_err(|e| e.to_string())
    };
    // At the manifest's revision first: a blob a gc removed since is still there. A blob
    // missing there may have been put back since (a repair): content is checked anyway.
    let mut response = match get(Some(GetOptions::new().with_revision(revision))).await {
        Err(e) if e.contains("compacted") => get(None).await,
        other => other,
    }
    .map_err(|e| ReadError::Etcd(format!("reading {blob_key}: {e}")))?;
    if response.kvs().is_empty() {
        response = get(None)
            .await
            .map_err(|e| ReadError::Etcd(format!("reading {blob_key}: {e}")))?;
    }
    let Some(found) = response.kvs().first() else {
        return Err(ReadError::BadVersion(format!(
            "{blob_key}, named by the version at revision {revision}, is missing"
        )));
    };
    chunked::check_blob(&digest, found.value())
        .map_err(|e| ReadError::BadVersion(format!("{e} (key {blob_key}, revision {revision})")))?;
    Ok(found.value().to_vec())
}
