//! One running etcdhosts instance: its config, the published table, its counters and the
//! task that keeps the table in step with etcd.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Deserialize;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::hosts::Zones;
use crate::status::StatusTask;
use crate::table::{Outcome, Table, TableBuilder, TableOptions};

/// The whole configuration of one Corefile block, as JSON across the C ABI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub endpoints: Vec<String>,
    pub key: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Present means TLS is on; each file is optional (CoreDNS's 0-3 argument convention).
    pub tls: Option<TlsFiles>,
    pub timeout_ms: u64,
    pub ttl: u32,
    pub zones: Vec<String>,
    pub no_reverse: bool,
    /// Hosts lines written in the Corefile block itself.
    pub inline: String,
    /// Re-read the key on this period as well as watching it; 0 = off.
    pub force_reload_ms: u64,
    pub snapshot: Option<PathBuf>,
    /// Fleet status: keep a lease-backed key `PREFIX + instance` describing this
    /// instance (see `status`). None = write nothing at all.
    pub status_key: Option<String>,
    /// This instance's name in the fleet, `<hostname>/<listen address>`; set by the Go shim.
    pub instance: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoints: vec!["http://127.0.0.1:2379".to_string()],
            key: "/etcdhosts".to_string(),
            username: None,
            password: None,
            tls: None,
            timeout_ms: 5000,
            ttl: 3600,
            zones: vec![".".to_string()],
            no_reverse: false,
            inline: String::new(),
            force_reload_ms: 0,
            snapshot: None,
            status_key: None,
            instance: String::new(),
        }
    }
}

impl Config {
    pub fn from_json(json: &[u8]) -> Result<Config, String> {
        let config: Config =
            serde_json::from_slice(json).map_err(|e| format!("invalid config: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what can be checked without etcd, so a bad Corefile stops CoreDNS at once.
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("endpoint: at least one etcd endpoint is needed".into());
        }
        if self.key.is_empty() {
            return Err("key: the etcd key is empty".into());
        }
        if !(1..=65535).contains(&self.ttl) {
            return Err(format!("ttl: {} is not in 1..65535", self.ttl));
        }
        if self.timeout_ms == 0 {
            return Err("timeout: must be positive".into());
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("credentials: both a username and a password are needed".into());
        }
        if let Some(tls) = &self.tls {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err("tls: a client certificate needs its key".into());
            }
            for path in [&tls.cert, &tls.key, &tls.ca].into_iter().flatten() {
                std::fs::metadata(path)
                    .map_err(|e| format!("tls: cannot read {}: {e}", path.display()))?;
            }
            if let Some(e) = self.endpoints.iter().find(|e| e.starts_with("http://")) {
                return Err(format!("endpoint: {e} is plain http but tls is set"));
            }
        }
        if let Some(prefix) = self.status_prefix() {
            if self.status_key.as_deref() == Some("") {
                return Err("status_key: the prefix is empty".into());
            }
            if self.instance.is_empty() {
                return Err("status_key: the instance name is empty".into());
            }
            // A status key the hosts watch sees would reload the table on every status
            // write, and every reload writes the status again.
            if (self.is_prefix() && prefix.starts_with(&self.key)) || self.key.starts_with(&prefix)
            {
                return Err(format!(
                    "status_key: {prefix} overlaps the hosts key {}; use a prefix of its own",
                    self.key
                ));
            }
        }
        Ok(())
    }

    /// The status prefix, always ending in `/`; None without `status_key`.
    pub fn status_prefix(&self) -> Option<String> {
        let prefix = self.status_key.as_deref()?;
        Some(if prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// A key ending in `/` is a prefix: every key under it is a fragment of the hosts file.
    pub fn is_prefix(&self) -> bool {
        self.key.ends_with('/')
    }

    fn table_options(&self) -> TableOptions {
        TableOptions {
            zones: Zones::new(&self.zones),
            ttl: self.ttl,
            no_reverse: self.no_reverse,
        }
    }
}

/// Counters for metrics and readiness. Mirrors `etcdhosts_stats` in the C ABI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records (name, address pairs) being served, inline ones included.
    pub entries: u64,
    /// etcd revision of the data being served; 0 before the first read.
    pub revision: i64,
    /// Tables published from etcd or the snapshot.
    pub reloads: u64,
    pub last_reload_unix_ms: i64,
    /// Skipped lines in the data being served.
    pub invalid_lines: u64,
    pub etcd_errors: u64,
    pub watch_connected: bool,
    /// The first full read (from etcd, or from the snapshot) is done.
    pub ready: bool,
}

/// State shared between the query path (readers) and the etcd task (the one writer).
pub(crate) struct Shared {
    pub(crate) config: Config,
    options: TableOptions,
    table: ArcSwap<Table>,
    reloads: AtomicU64,
    last_reload_unix_ms: AtomicI64,
    etcd_errors: AtomicU64,
    watch_connected: AtomicBool,
    ready: AtomicBool,
    /// Bumped when what the status key reports changes (a publish, the watch going up or
    /// down); the status writer waits on it. Works without receivers.
    pub(crate) changed: watch::Sender<()>,
}

impl Shared {
    /// Builds a table from etcd's hosts texts (with their keys) plus the inline lines and
    /// swaps it in. Readers see the old table or the new one, never a mix.
    pub(crate) fn publish(&self, parts: &[(&str, &[u8])], revision: i64, origin: &str) {
        let started = Instant::now();
        let mut builder = TableBuilder::new(self.options.clone());
        for (source, text) in parts {
            builder.add_text(source, text);
        }
        builder.add_text("inline", self.config.inline.as_bytes());
        let table = builder.build(revision);
        let built = started.elapsed();
        for (source, d) in table.diagnostics() {
            tracing::warn!("skipped {source} {d}");
        }
        let shown = table.diagnostics().len();
        if table.invalid_lines() > shown {
            tracing::warn!(
                "skipped {} more invalid lines",
                table.invalid_lines() - shown
            );
        }
        tracing::info!(
            "serving {} records ({} names) from {origin} at revision {revision}, built in {:.1} ms",
            table.records(),
            table.names(),
            built.as_secs_f64() * 1000.0
        );
        self.table.store(Arc::new(table));
        release_free_memory();
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.last_reload_unix_ms.store(unix_ms(), Ordering::Relaxed);
        self.ready.store(true, Ordering::Release);
        self.changed.send_replace(());
    }

    pub(crate) fn count_error(&self) {
        self.etcd_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_watch_connected(&self, connected: bool) {
        if self.watch_connected.swap(connected, Ordering::Relaxed) != connected {
            self.changed.send_replace(());
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let table = self.table.load();
        Stats {
            entries: table.records() as u64,
            revision: table.revision(),
            reloads: self.reloads.load(Ordering::Relaxed),
            last_reload_unix_ms: self.last_reload_unix_ms.load(Ordering::Relaxed),
            invalid_lines: table.invalid_lines() as u64,
            etcd_errors: self.etcd_errors.load(Ordering::Relaxed),
            watch_connected: self.watch_connected.load(Ordering::Relaxed),
            ready: self.ready.load(Ordering::Acquire),
        }
    }
}

/// The old table and the build's scratch space went back to malloc, which keeps freed
/// pages for reuse; give them back to the kernel, so that RSS follows the table's size
/// (27 B/record of garbage at 1M records otherwise, see BENCHMARKS.md).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The process-wide runtime: one worker thread shared by every instance, started by the
/// first instance (never by a library constructor).
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("etcdhosts")
            .on_thread_start(block_signals)
            .enable_all()
            .build()
            .expect("cannot start the etcdhosts runtime")
    })
}

/// Runtime threads must not take signals meant for CoreDNS: SIGPIPE from a closed socket
/// would kill the process, and SIGUSR1 (reload) or SIGTERM must reach Go's handler.
fn block_signals() {
    // SAFETY: plain libc calls on a sigset_t we own; only this thread's mask changes.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGCHLD,
            libc::SIGWINCH,
        ] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A running instance. Dropping it stops its etcd task and closes its connections.
pub struct Engine {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    /// The status writer, with `status_key` only.
    status: Option<StatusTask>,
}

impl Engine {
    /// Validates `config`, serves inline (and snapshot) records at once, starts watching
    /// etcd, and waits for the first etcd read to succeed or fail, at most `timeout`, so
    /// that a healthy etcd's records are served from the first query on.
    pub fn start(config: Config) -> Result<Engine, String> {
        config.validate()?;
        let started_unix_ms = unix_ms();
        let options = config.table_options();
        let mut inline_only = TableBuilder::new(options.clone());
        inline_only.add_text("inline", config.inline.as_bytes());
        let inline_only = inline_only.build(0);
        for (source, d) in inline_only.diagnostics() {
            tracing::warn!("skipped {source} {d}");
        }
        let shared = Arc::new(Shared {
            options,
            table: ArcSwap::from_pointee(inline_only),
            reloads: AtomicU64::new(0),
            last_reload_unix_ms: AtomicI64::new(0),
            etcd_errors: AtomicU64::new(0),
            watch_connected: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            changed: watch::Sender::new(()),
            config,
        });
        if let Some(path) = &shared.config.snapshot {
            load_snapshot(&shared, path);
        }
        let (first_read_tx, first_read_rx) = mpsc::channel();
        let task = runtime().spawn(crate::etcd::run(shared.clone(), first_read_tx));
        let status = StatusTask::spawn(&shared, started_unix_ms);
        let _ = first_read_rx.recv_timeout(shared.config.timeout());
        Ok(Engine {
            shared,
            task,
            status,
        })
    }

    /// Answers one query into `out`; see [`Table::lookup`].
    pub fn lookup(&self, qname: &[u8], qtype: u16, out: &mut [u8]) -> (Outcome, usize) {
        self.shared.table.load().lookup(qname, qtype, out)
    }

    /// The table being served now.
    pub fn table(&self) -> Arc<Table> {
        self.shared.table.load_full()
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.task.abort();
        // Meanwhile the status writer removes its key and revokes its lease, within `timeout`.
        let status = self.status.take().map(StatusTask::stop);
        // Wait until the tasks are gone (their clients and connections with them), so that
        // CoreDNS reloads do not pile up connections. Never block a runtime thread: there
        // the status writer cleans up on its own, and its lease expires if it cannot.
        if tokio::runtime::Handle::try_current().is_err() {
            let task = &mut self.task;
            let limit = self.shared.config.timeout();
            runtime().block_on(async {
                let etcd = tokio::time::timeout(Duration::from_secs(5), task);
                let status = async {
                    if let Some(mut status) = status {
                        if tokio::time::timeout(limit, &mut status).await.is_err() {
                            status.abort();
                        }
                    }
                };
                let _ = tokio::join!(etcd, status);
            });
        }
    }
}

const SNAPSHOT_HEADER: &str = "# etcdhosts snapshot, revision ";

/// Serves the snapshot file, if there is one, until etcd can be read.
fn load_snapshot(shared: &Shared, path: &Path) {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!("cannot read snapshot {}: {e}", path.display());
            return;
        }
    };
    let revision = text
        .strip_prefix(SNAPSHOT_HEADER.as_bytes())
        .and_then(|rest| rest.split(|b| !b.is_ascii_digit()).next())
        .and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok())
        .unwrap_or(0);
    let source = path.display().to_string();
    shared.publish(&[(&source, &text)], revision, &format!("snapshot {source}"));
}

/// Writes the hosts data being served to `path` atomically (temp file, fsync, rename), so a
/// crash mid-write never leaves a torn snapshot.
pub(crate) fn write_snapshot(path: &Path, revision: i64, parts: &[Vec<u8>]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "{SNAPSHOT_HEADER}{revision}")?;
    for part in parts {
        file.write_all(part)?;
        if !part.ends_with(b"\n") {
            file.write_all(b"\n")?;
        }
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let c = Config::from_json(b"{}").unwrap();
        assert_eq!(c.key, "/etcdhosts");
        assert_eq!(c.ttl, 3600);
        for (json, needle) in [
            (r#"{"ttl":0}"#, "ttl"),
            (r#"{"ttl":70000}"#, "ttl"),
            (r#"{"endpoints":[]}"#, "endpoint"),
            (r#"{"username":"u"}"#, "credentials"),
            (r#"{"tls":{"ca":"/nonexistent/ca.pem"}}"#, "tls"),
            (
                r#"{"tls":{}, "endpoints":["http://127.0.0.1:1"]}"#,
                "plain http",
            ),
            (r#"{"bogus":1}"#, "bogus"),
            (r#"{"ttl":"x"}"#, "invalid config"),
            (
                r#"{"status_key":"/s/"}"#,
                "status_key: the instance name is empty",
            ),
            (r#"{"status_key":"","instance":"h/:53"}"#, "status_key"),
            (
                r#"{"status_key":"/etcdhosts/status","instance":"h/:53","key":"/etcdhosts/"}"#,
                "status_key: /etcdhosts/status/ overlaps",
            ),
            (
                r#"{"status_key":"/s","instance":"h/:53","key":"/s/hosts"}"#,
                "overlaps",
            ),
        ] {
            let e = Config::from_json(json.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{json}: {e}");
        }
        assert_eq!(c.status_prefix(), None);
        let c =
            Config::from_json(br#"{"status_key":"/etcdhosts-status","instance":"h/:53"}"#).unwrap();
        assert_eq!(c.status_prefix().as_deref(), Some("/etcdhosts-status/"));
        // A plain hosts key beside the prefix is fine.
        Config::from_json(br#"{"status_key":"/etcdhosts/","instance":"h/:53"}"#).unwrap();
    }

    #[test]
    fn runtime_threads_block_process_signals() {
        let mask = runtime().block_on(async {
            tokio::spawn(async { std::fs::read_to_string("/proc/thread-self/status").unwrap() })
                .await
                .unwrap()
        });
        let blocked = mask
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .unwrap();
        for signal in [libc::SIGPIPE, libc::SIGUSR1, libc::SIGTERM, libc::SIGHUP] {
            assert_ne!(
                blocked & (1 << (signal - 1)),
                0,
                "signal {signal} not blocked"
            );
        }
    }

    #[test]
    fn snapshot_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.snap");
        write_snapshot(
            &path,
            42,
            &[b"10.0.0.1 a".to_vec(), b"10.0.0.2 b\n".to_vec()],
        )
        .unwrap();
        let config = Config {
            endpoints: vec!["http://127.0.0.1:1".into()],
            timeout_ms: 200,
            snapshot: Some(path),
            ..Config::default()
        };
        let engine = Engine::start(config).unwrap();
        let table = engine.table();
        assert_eq!(
            table.lookup_v4("a."),
            ["10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        assert_eq!(table.lookup_v4("b.").len(), 1);
        let stats = engine.stats();
        assert!(stats.ready);
        assert_eq!(stats.revision, 42);
    }
}
