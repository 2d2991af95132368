//! dnsctl on the chunked layout: the built binary against a real etcd with default limits.

// The real-etcd harness the core's tests use too.
#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{block_on, Etcd};
use etcd_client::GetOptions;
use etcdhosts::chunked::{self, Digest};
use run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_dnsctl");
const KEY: &str = "/etcdhosts";

/// A config for one etcd and a blob cache of its own, in a temp dir that also holds the
/// test's files.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(etcd: &Etcd) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("dnsctl.yaml");
        std::fs::write(
            &config,
            format!(
                "dnskey: {KEY}\netcd:\n  endpoints:\n    - {}\n  timeout: 5s\n",
                etcd.url
            ),
        )
        .unwrap();
        Env { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// dnsctl with the given blob cache.
    fn command_with_cache(&self, cache: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("DNSCTL_CONFIG")
            .env("DNSCTL_CACHE_DIR", cache)
            .env("TMPDIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_cache(&self.cache(), args)
    }

    fn run_with_cache(&self, cache: &Path, args: &[&str]) -> Run {
        Run::from(self.command_with_cache(cache, args).output().unwrap())
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command_with_cache(&self.cache(), args)
            .spawn()
            .unwrap()
    }

    fn upload(&self, name: &str, text: &[u8]) -> Run {
        let f = self.file(name, text);
        self.run(&["upload", f.to_str().unwrap()])
    }

    /// `dump`'s output, which must succeed.
    fn dump(&self) -> Vec<u8> {
        let out = self
            .command_with_cache(&self.cache(), &["dump"])
            .output()
            .unwrap();
        assert!(out.status.success(), "dump: {}", Run::from(out).stderr);
        out.stdout
    }
}

/// `lines` hosts lines; `tag` makes texts of the same size differ in every chunk.
fn hosts(lines: usize, tag: &str) -> Vec<u8> {
    (0..lines)
        .map(|i| {
            format!(
                "10.{}.{}.{} host{i}.{tag}.example.org\n",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// The keys under `prefix` with their mod revisions (keys only: a large layout's blobs
/// would not fit the test client's response limit).
fn keys_under(etcd: &Etcd, prefix: &str) -> Vec<(String, i64)> {
    block_on(async {
        let r = etcd
            .client()
            .await
            .unwrap()
            .get(
                prefix,
                Some(GetOptions::new().with_prefix().with_keys_only()),
            )
            .await
            .unwrap();
        r.kvs()
            .iter()
            .map(|kv| (kv.key_str().unwrap().to_string(), kv.mod_revision()))
            .collect()
    })
}

fn raw(etcd: &Etcd, key: &str) -> Option<(Vec<u8>, i64)> {
    block_on(async {
        let r = etcd.client().await.unwrap().get(key, None).await.unwrap();
        r.kvs()
            .first()
            .map(|kv| (kv.value().to_vec(), kv.mod_revision()))
    })
}

fn blobs(etcd: &Etcd) -> Vec<(String, i64)> {
    keys_under(etcd, &chunked::blob_prefix(KEY))
}

/// The blob keys a text's layout needs.
fn needed(text: &[u8]) -> Vec<String> {
    let mut keys: Vec<String> = chunked::store(text)
        .blobs
        .iter()
        .map(|(d, _)| chunked::blob_key(KEY, d))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A chunk (not an index) of the current layout, with its content.
fn some_chunk(etcd: &Etcd) -> (String, Vec<u8>) {
    blobs(etcd)
        .into_iter()
        .map(|(key, _)| {
            let value = raw(etcd, &key).unwrap().0;
            (key, value)
        })
        .find(|(_, v)| !v.starts_with(b"# etcdhosts chunk index"))
        .expect("a chunk")
}

#[test]
fn a_large_file_is_stored_chunked_and_edited_a_chunk_at_a_time() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd);
    let text = hosts(100_000, "big");
    assert!(
        text.len() > 3 << 19,
        "more than etcd's 1.5 MiB request limit"
    );
    env.upload("big.hosts", &text).ok();
    assert_eq!(env.dump(), text, "dump gives the upload byte for byte");
    let (manifest, _) = raw(&etcd, KEY).unwrap();
    assert!(manifest.starts_with(chunked::MAGIC.as_bytes()));
    let layout = env.run(&["-o", "json", "layout"]).ok().json();
    assert_eq!(layout["layout"], "chunked");
    assert_eq!(layout["lines"], 100_000);
    assert_eq!(layout["bytes"], text.len());
    assert!(layout["chunks"].as_u64().unwrap() > 100, "{layout}");
    let version = env.run(&["-o", "json", "version"]).ok().json();
    assert_eq!(version["layout"], "chunked");
    assert_eq!(version["records"], 100_000);

    // A dump with an empty cache fetches everything again, and gets the same.
    let fresh = env.path("fresh-cache");
    let out = env.command_with_cache(&fresh, &["dump"]).output().unwrap();
    assert_eq!(out.stdout, text);

    let before: Vec<String> = blobs(&etcd).into_iter().map(|(k, _)| k).collect();
    env.run(&["add", "new.example.org", "10.200.0.1"]).ok();
    let after: Vec<String> = blobs(&etcd).into_iter().map(|(k, _)| k).collect();
    let new = after.iter().filter(|k| !before.contains(k)).count();
    assert!((1..=2).contains(&new), "an add writes {new} blobs");
    let get = env.run(&["-o", "json", "get", "new.example.org"]).ok();
    assert!(get.stdout.contains("10.200.0.1"), "{get:#?}");

    env.run(&["del", "host50000.big.example.org"]).ok();
    let last: Vec<String> = blobs(&etcd).into_iter().map(|(k, _)| k).collect();
    let new = last.iter().filter(|k| !after.contains(k)).count();
    assert!((1..=2).contains(&new), "a del writes {new} blobs");
    let mut expected = String::from_utf8(text).unwrap();
    expected = expected.replace("10.0.195.80 host50000.big.example.org\n", "");
    expected.push_str("10.200.0.1 new.example.org\n");
    assert_eq!(String::from_utf8(env.dump()).unwrap(), expected);

    // Too large for a plain value: refused, nothing written.
    let rev = raw(&etcd, KEY).unwrap().1;
    env.run(&["layout", "plain", "-y"])
        .fails(1, "stays chunked");
    assert_eq!(raw(&etcd, KEY).unwrap().1, rev);
}

#[test]
fn layout_converts_both_ways_and_concurrent_adds_lose_nothing() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd);
    let text = hosts(3000, "small");
    env.upload("small.hosts", &text).ok();
    assert_eq!(raw(&etcd, KEY).unwrap().0, text, "small data stays plain");
    assert_eq!(
        env.run(&["-o", "json", "layout"]).ok().json()["layout"],
        "plain"
    );

    assert_eq!(
        env.run(&["-o", "json", "version"]).ok().json()["layout"],
        "plain"
    );
    let converted = env
        .run(&["-o", "json", "layout", "chunked", "-y"])
        .ok()
        .json();
    assert_eq!(converted["converted"], true);
    assert_eq!(converted["layout"], "chunked");
    assert!(chunked::is_manifest(&raw(&etcd, KEY).unwrap().0));
    assert_eq!(env.dump(), text);

    env.run(&["layout", "plain", "-y"]).ok();
    assert_eq!(raw(&etcd, KEY).unwrap().0, text);
    assert_eq!(env.dump(), text);
    env.run(&["layout", "chunked", "-y"]).ok();

    let writers: Vec<(String, Child)> = (0..8)
        .map(|i| {
            let name = format!("writer{i}.example.org");
            let ip = format!("10.250.0.{i}");
            let child = env.spawn(&["add", &name, &ip]);
            (name, child)
        })
        .collect();
    for (name, child) in writers {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}: {}", Run::from(out).stderr);
    }
    let dumped = String::from_utf8(env.dump()).unwrap();
    assert!(dumped.starts_with(std::str::from_utf8(&text).unwrap()));
    for i in 0..8 {
        let line = format!("10.250.0.{i} writer{i}.example.org\n");
        assert!(dumped.contains(&line), "{line} lost");
    }
    assert!(
        chunked::is_manifest(&raw(&etcd, KEY).unwrap().0),
        "it stays chunked"
    );
}

#[test]
fn history_and_rollback_outlive_compaction() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd);
    let texts: Vec<Vec<u8>> = (0..3).map(|i| hosts(2000 + i, &format!("v{i}"))).collect();
    env.upload("v0.hosts", &texts[0]).ok();
    env.run(&["layout", "chunked", "-y"]).ok();
    env.upload("v1.hosts", &texts[1]).ok();
    env.upload("v2.hosts", &texts[2]).ok();
    etcd.compact();

    let history = env.run(&["-o", "json", "history"]).ok().json();
    let entries = history["entries"].as_array().unwrap();
    let commands: Vec<&str> = entries
        .iter()
        .map(|e| e["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["upload", "upload", "layout"], "{history}");
    assert_eq!(entries[0]["lines"], 2002);
    let revision = |i: usize| entries[i]["revision"].as_i64().unwrap().to_string();
    let text = env.run(&["history"]).ok().stdout;
    assert!(text.contains("LINES"), "{text}");
    assert!(
        text.contains(&format!("{}       2002  ", revision(0))),
        "{text}"
    );
    assert!(
        text.contains("the oldest version kept is revision"),
        "{text}"
    );
    // etcd no longer holds these revisions: the version records do.
    assert_eq!(
        env.run(&["dump", "--rev", &revision(1)])
            .ok()
            .stdout
            .as_bytes(),
        texts[1]
    );
    let diff = env.run(&["diff", &revision(2), &revision(1)]).ok();
    assert!(
        diff.stdout.contains("+10.0.0.0 host0.v1.example.org"),
        "{diff:#?}"
    );
    assert!(
        diff.stdout.contains("-10.0.0.0 host0.v0.example.org"),
        "{diff:#?}"
    );

    env.run(&["rollback", &revision(2), "-y"]).ok();
    assert_eq!(env.dump(), texts[0]);
    let history = env.run(&["-o", "json", "history"]).ok().json();
    assert_eq!(history["entries"][0]["command"], "rollback");
}

#[test]
fn gc_removes_what_no_kept_version_uses_and_never_what_a_write_needs() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd);
    let mut last = Vec::new();
    for i in 0..3 {
        last = hosts(40_000, &format!("gc{i}"));
        env.upload(&format!("gc{i}.hosts"), &last).ok();
    }
    let dry = env
        .run(&[
            "-o",
            "json",
            "gc",
            "--keep",
            "1",
            "--keep-for",
            "0s",
            "--grace",
            "0s",
            "-n",
        ])
        .ok()
        .json();
    assert_eq!(dry["versions_removed"], 2, "{dry}");
    assert!(
        blobs(&etcd).len() > needed(&last).len(),
        "a dry run removes nothing"
    );

    // By default every version is younger than 7 days: nothing goes.
    let kept = env.run(&["-o", "json", "gc"]).ok().json();
    assert_eq!(
        (
            kept["versions_removed"].as_u64(),
            kept["blobs_removed"].as_u64()
        ),
        (Some(0), Some(0))
    );

    let report = env
        .run(&[
            "-o",
            "json",
            "gc",
            "--keep",
            "1",
            "--keep-for",
            "0s",
            "--grace",
            "0s",
        ])
        .ok()
        .json();
    assert!(
        report["bytes_removed"].as_u64().unwrap() > 1 << 20,
        "{report}"
    );
    let left: Vec<String> = blobs(&etcd).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        left,
        needed(&last),
        "exactly the current version's blobs are left"
    );
    assert_eq!(keys_under(&etcd, &chunked::versions_prefix(KEY)).len(), 1);
    let fresh = env.path("fresh-cache");
    let out = env.command_with_cache(&fresh, &["dump"]).output().unwrap();
    assert_eq!(out.stdout, last);

    // gc racing uploads: no blob an upload's version references goes.
    for round in 0..3 {
        let text = hosts(40_000, &format!("race{round}"));
        let file = env.file("race.hosts", &text);
        let upload = env.spawn(&["upload", file.to_str().unwrap()]);
        let grace = if round == 0 { "10m" } else { "0s" };
        let gcs: Vec<Child> = (0..2)
            .map(|_| env.spawn(&["gc", "--keep", "1", "--keep-for", "0s", "--grace", grace]))
            .collect();
        let out = upload.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", Run::from(out).stderr);
        for gc in gcs {
            let out = gc.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", Run::from(out).stderr);
        }
        let fresh = env.path(&format!("race-cache-{round}"));
        let out = env.command_with_cache(&fresh, &["dump"]).output().unwrap();
        assert!(out.status.success(), "{}", Run::from(out).stderr);
        assert_eq!(out.stdout, text, "round {round}");
    }
}

#[test]
fn a_missing_or_corrupt_blob_is_named_and_nothing_is_written() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd);
    let text = hosts(5000, "damage");
    env.upload("d.hosts", &text).ok();
    env.run(&["layout", "chunked", "-y"]).ok();
    let (_, head) = raw(&etcd, KEY).unwrap();
    let (chunk, content) = some_chunk(&etcd);
    let empty = |name: &str| env.path(name);

    // A reader takes blobs at the head's revision, so damage done later shows once etcd
    // compacts that revision away.
    etcd.delete(&chunk);
    etcd.compact();
    env.run_with_cache(&empty("c1"), &["dump"])
        .fails(1, &chunk)
        .fails(1, "missing")
        .fails(1, &format!("revision {head}"));
    env.run_with_cache(&empty("c2"), &["add", "x.example.org", "10.9.9.9"])
        .fails(1, &chunk);
    assert_eq!(raw(&etcd, KEY).unwrap().1, head, "nothing written");

    etcd.put(&chunk, b"10.6.6.6 forged.example.org\n".to_vec());
    etcd.compact();
    env.run_with_cache(&empty("c3"), &["dump"])
        .fails(1, &chunk)
        .fails(1, "corrupt");
    assert_eq!(raw(&etcd, KEY).unwrap().1, head, "nothing written");

    etcd.put(&chunk, content);
    assert_eq!(env.dump(), text);
}

#[test]
fn a_damaged_cache_file_is_fetched_again() {
    let etcd = Etcd::start();
    let env = Env::new(&etcd);
    let text = hosts(5000, "cache");
    env.upload("c.hosts", &text).ok();
    env.run(&["layout", "chunked", "-y"]).ok();
    assert_eq!(env.dump(), text);
    let files: Vec<PathBuf> = std::fs::read_dir(env.cache())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), needed(&text).len(), "one file per blob");
    let victim = &files[0];
    std::fs::write(victim, b"10.6.6.6 forged.example.org\n").unwrap();
    assert_eq!(env.dump(), text);
    let name = victim.file_name().unwrap().to_str().unwrap();
    let digest = Digest::parse(name).unwrap();
    assert!(
        chunked::check_blob(&digest, &std::fs::read(victim).unwrap()).is_ok(),
        "the damaged file was written again"
    );

    // A cache that cannot be written costs speed, not the answer: one warning.
    let not_a_dir = env.file("not-a-dir", b"");
    let out = env
        .command_with_cache(&not_a_dir, &["dump"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, text);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("cannot write the chunk cache").count(),
        1,
        "{stderr}"
    );
}
