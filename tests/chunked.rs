//! The plugin's reading of the chunked layout, against a real etcd with default limits.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::{wait_for, Etcd};
use etcdhosts::chunked::{self, Digest};
use etcdhosts::{Config, Engine};

const DEADLINE: Duration = Duration::from_secs(15);
const KEY: &str = "/etcdhosts";

fn config(etcd: &Etcd) -> Config {
    Config {
        endpoints: vec![etcd.url.clone()],
        key: KEY.into(),
        timeout_ms: 2000,
        ..Config::default()
    }
}

fn hosts(lines: usize, changed: Option<usize>) -> Vec<u8> {
    (0..lines)
        .map(|i| {
            let host = if Some(i) == changed {
                "changed"
            } else {
                "host"
            };
            format!(
                "10.{}.{}.{} {host}{i}.example.org\n",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// Writes `text` in the chunked layout as a writer does: the blobs etcd lacks (not in
/// `held`), then the manifest. Returns the manifest's revision and the blobs it names.
fn upload(etcd: &Etcd, text: &[u8], held: &HashSet<Digest>) -> (i64, HashSet<Digest>) {
    let stored = chunked::store(text);
    for (digest, blob) in &stored.blobs {
        if !held.contains(digest) {
            etcd.put(&chunked::blob_key(KEY, digest), blob.to_vec());
        }
    }
    let revision = etcd.put(KEY, stored.manifest.render(KEY));
    (revision, stored.blobs.iter().map(|(d, _)| *d).collect())
}

fn a(engine: &Engine, name: &str) -> Vec<Ipv4Addr> {
    engine.table().lookup_v4(name)
}

#[test]
fn a_chunked_key_is_served_and_follows_edits_and_layout_changes() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("hosts.snap");
    // 60k lines: over 1.5 MiB, more than one key could hold on this etcd.
    let v1 = hosts(60_000, None);
    assert!(v1.len() > 1536 * 1024);
    let (rev1, held) = upload(&etcd, &v1, &HashSet::new());
    let engine = Engine::start(Config {
        snapshot: Some(snapshot.clone()),
        ..config(&etcd)
    })
    .unwrap();
    let stats = engine.stats();
    assert!(
        stats.ready && stats.revision == rev1 && stats.records == 60_000,
        "{stats:?}"
    );
    assert_eq!(
        a(&engine, "host12345.example.org."),
        ["10.0.48.57".parse::<Ipv4Addr>().unwrap()]
    );
    wait_for("watch connected", DEADLINE, || {
        engine.stats().watch_connected
    });

    // A one-line edit: one new chunk, one new index, a new manifest.
    let v2 = hosts(60_000, Some(30_000));
    let (rev2, _) = upload(&etcd, &v2, &held);
    wait_for("the edit served", DEADLINE, || {
        engine.stats().revision == rev2
    });
    assert_eq!(a(&engine, "changed30000.example.org.").len(), 1);
    assert!(a(&engine, "host30000.example.org.").is_empty());
    assert_eq!(engine.stats().records, 60_000);
    // The snapshot is written right after the table is swapped in.
    wait_for(
        "the snapshot holds the materialized version",
        DEADLINE,
        || {
            let written = std::fs::read(&snapshot).unwrap_or_default();
            let body = written
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| &written[i + 1..]);
            body == Some(&v2[..])
        },
    );

    // Back to a plain value, and chunked again: each layout is read as it comes.
    let rev3 = etcd.put(KEY, "10.1.1.1 plain.example.org\n");
    wait_for("the plain value served", DEADLINE, || {
        engine.stats().revision == rev3
    });
    assert_eq!(engine.stats().records, 1);
    let (rev4, _) = upload(&etcd, &v1, &held);
    wait_for("chunked again", DEADLINE, || {
        engine.stats().revision == rev4
    });
    assert_eq!(engine.stats().records, 60_000);
    assert!(a(&engine, "plain.example.org.").is_empty());
}

#[test]
fn a_missing_or_corrupt_chunk_keeps_the_last_good_version() {
    let etcd = Etcd::start();
    let v1 = hosts(5_000, None);
    let (rev1, held) = upload(&etcd, &v1, &HashSet::new());
    let engine = Engine::start(config(&etcd)).unwrap();
    assert_eq!(engine.stats().revision, rev1);
    wait_for("watch connected", DEADLINE, || {
        engine.stats().watch_connected
    });

    // A manifest that names a chunk nobody wrote.
    let v2 = hosts(5_000, Some(2_500));
    let stored = chunked::store(&v2);
    let new: Vec<_> = stored
        .blobs
        .iter()
        .filter(|(d, _)| !held.contains(d))
        .collect();
    assert_eq!(new.len(), 2, "one chunk and one index");
    let (chunk, chunk_text) = new
        .iter()
        .find(|(_, b)| !b.starts_with(b"# etcdhosts chunk index"))
        .unwrap();
    for (digest, blob) in &new {
        if digest != chunk {
            etcd.put(&chunked::blob_key(KEY, digest), blob.to_vec());
        }
    }
    let errors = engine.stats().bad_versions;
    let rev2 = etcd.put(KEY, stored.manifest.render(KEY));
    wait_for("the missing chunk counted", DEADLINE, || {
        engine.stats().bad_versions > errors
    });
    let stats = engine.stats();
    assert_eq!(stats.revision, rev1, "the last good version stays");
    assert_eq!(a(&engine, "host2500.example.org.").len(), 1);
    assert!(a(&engine, "changed2500.example.org.").is_empty());

    // Corrupt: the chunk's key holds other bytes.
    let errors = engine.stats().bad_versions;
    etcd.put(
        &chunked::blob_key(KEY, chunk),
        b"10.6.6.6 evil.example.org\n".to_vec(),
    );
    wait_for("the corrupt chunk counted", DEADLINE, || {
        engine.stats().bad_versions > errors
    });
    assert_eq!(engine.stats().revision, rev1);
    assert!(a(&engine, "evil.example.org.").is_empty());

    // Repaired: the retry serves the new version.
    etcd.put(&chunked::blob_key(KEY, chunk), chunk_text.to_vec());
    wait_for("the repaired version served", DEADLINE, || {
        engine.stats().revision == rev2
    });
    assert_eq!(a(&engine, "changed2500.example.org.").len(), 1);
}
