//! `dnsctl gc`: removes a chunked key's old version records, then the blobs no version
//! kept references.
//!
//! A writer puts its blobs first and its manifest after, so a blob nothing references yet
//! may be one a writer is about to commit. gc leaves alone every blob put after the newest
//! version that is older than the grace period (a writer taking longer than that loses its
//! commit to a later one anyway), and deletes a blob only if its mod revision is still the
//! one gc saw: a writer that put the same content again keeps it.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use etcdhosts::chunked::{self, Digest, Manifest};
use serde::Serialize;

use crate::chunks::{self, Version, TXN_OPS};
use crate::error::{fail, Code, Failure, Result};
use crate::output::n_of;
use crate::store::{human_bytes, Layout, Store};
use crate::Opts;

pub struct Retention {
    /// The newest versions kept, however old.
    pub keep: usize,
    /// Versions younger than this are kept, however many.
    pub keep_for: Duration,
    /// Unreferenced blobs put after the newest version older than this are kept.
    pub grace: Duration,
    pub dry_run: bool,
}

#[derive(Serialize)]
struct Report {
    key: String,
    dry_run: bool,
    versions_removed: usize,
    versions_kept: usize,
    blobs_removed: usize,
    bytes_removed: usize,
    blobs_kept: usize,
}

/// A blob as listed: what gc compares before deleting it.
struct Blob {
    key: Vec<u8>,
    mod_revision: i64,
    bytes: usize,
}

pub async fn run(opts: Opts, retention: Retention) -> Result<()> {
    let ctx = opts.connect().await?;
    let (store, key) = (&ctx.store, ctx.target.key.as_str());
    if !store.chunkable(&ctx.target) {
        return fail(
            Code::Usage,
            format!(
                "{} is a prefix key or a fragment: only a plain key has versions and chunks",
                ctx.target.describe()
            ),
        );
    }
    let head = store.read(&ctx.target, None).await?;
    let head_rev = head.newest_mod_revision();
    let mut referenced = match &head.layout {
        Layout::Chunked { blobs, .. } => blobs.clone(),
        Layout::Plain => HashSet::new(),
    };
    let versions = chunks::versions(store, key).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let age = |v: &Version| Duration::from_secs(now.saturating_sub(v.record.meta.unix));
    let (mut kept, mut removed) = (Vec::new(), Vec::new());
    for (rank, v) in versions.iter().enumerate() {
        if rank < retention.keep || age(v) < retention.keep_for || v.revision == head_rev {
            kept.push(v);
        } else {
            removed.push(v);
        }
    }
    for v in &kept {
        let manifest = Manifest::parse(v.record.manifest.as_bytes()).map_err(|e| {
            Failure::new(
                Code::Error,
                format!(
                    "the version record {} is damaged: {e}; nothing removed",
                    v.key
                ),
            )
        })?;
        referenced.extend(chunks::referenced(store, key, &manifest, v.revision).await?);
    }
    // Blobs younger than this revision may belong to a write in progress.
    let settled = versions
        .iter()
        .find(|v| age(v) >= retention.grace)
        .map_or(0, |v| v.revision);
    let blobs = list_blobs(store, key).await?;
    let (doomed, blobs_kept): (Vec<&Blob>, Vec<&Blob>) = blobs.iter().partition(|b| {
        let digest = std::str::from_utf8(&b.key)
            .ok()
            .and_then(|k| k.strip_prefix(&chunked::blob_prefix(key)))
            .and_then(Digest::parse);
        digest.is_some_and(|d| !referenced.contains(&d)) && b.mod_revision <= settled
    });
    let report = Report {
        key: key.to_string(),
        dry_run: retention.dry_run,
        versions_removed: removed.len(),
        versions_kept: kept.len(),
        blobs_removed: doomed.len(),
        bytes_removed: doomed.iter().map(|b| b.bytes).sum(),
        blobs_kept: blobs_kept.len(),
    };
    if !retention.dry_run {
        let records: Vec<(Vec<u8>, i64)> = removed
            .iter()
            .map(|v| (v.key.as_bytes().to_vec(), v.revision))
            .collect();
        delete_unchanged(store, key, &records).await?;
        let blobs: Vec<(Vec<u8>, i64)> = doomed
            .iter()
            .map(|b| (b.key.clone(), b.mod_revision))
            .collect();
        delete_unchanged(store, key, &blobs).await?;
    }
    if ctx.out.json() {
        return ctx.out.print_json(&report);
    }
    let verb = if retention.dry_run {
        "would remove"
    } else {
        "removed"
    };
    ctx.out.print(&format!(
        "{key}: {verb} {} and {} ({}); kept {} and {}\n",
        n_of(report.versions_removed, "version record"),
        n_of(report.blobs_removed, "blob"),
        human_bytes(report.bytes_removed),
        n_of(report.versions_kept, "version"),
        n_of(report.blobs_kept, "blob")
    ))
}

/// Every blob under `KEY.chunks/`, a page at a time (a page holds at most `TXN_OPS` blobs
/// of at most 256 KiB).
async fn list_blobs(store: &Store, key: &str) -> Result<Vec<Blob>> {
    let prefix = chunked::blob_prefix(key).into_bytes();
    let mut end = prefix.clone();
    *end.last_mut().expect("the prefix ends in '/'") += 1;
    let mut out = Vec::new();
    let mut from = prefix;
    loop {
        let options = GetOptions::new()
            .with_range(end.clone())
            .with_limit(TXN_OPS as i64);
        let page = store
            .call(&format!("listing the chunks of {key}"), true, || {
                let mut kv = store.kv();
                let (from, options) = (from.clone(), options.clone());
                async move { kv.get(from, Some(options)).await }
            })
            .await?;
        for kv in page.kvs() {
            out.push(Blob {
                key: kv.key().to_vec(),
                mod_revision: kv.mod_revision(),
                bytes: kv.value().len(),
            });
        }
        match page.kvs().last() {
            Some(last) if page.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => return Ok(out),
        }
    }
}

/// Deletes `keys` (key, mod revision gc saw), `TXN_OPS` per transaction, each only if its
/// mod revision is unchanged. A transaction whose compare fails is redone key by key, so
/// only the key that changed is kept.
async fn delete_unchanged(store: &Store, key: &str, keys: &[(Vec<u8>, i64)]) -> Result<()> {
    let what = format!("removing old versions and chunks of {key}");
    let delete = async |batch: &[(Vec<u8>, i64)]| {
        let compares: Vec<Compare> = batch
            .iter()
            .map(|(k, rev)| Compare::mod_revision(k.clone(), CompareOp::Equal, *rev))
            .collect();
        let deletes: Vec<TxnOp> = batch
            .iter()
            .map(|(k, _)| TxnOp::delete(k.clone(), None))
            .collect();
        let txn = Txn::new().when(compares).and_then(deletes);
        // A guarded delete may be sent twice: the second finds the key gone, or changed.
        let response = store
            .call(&what, true, || {
                let mut kv = store.kv();
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await?;
        Ok::<bool, Failure>(response.succeeded())
    };
    for batch in keys.chunks(TXN_OPS) {
        if !delete(batch).await? && batch.len() > 1 {
            for one in batch.chunks(1) {
                delete(one).await?;
            }
        }
    }
    Ok(())
}

/// `0s`, `500ms`, `10m`, `12h`, `7d`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (write e.g. 0s, 10m, 12h or 7d)"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("1w").is_err());
    }
}
