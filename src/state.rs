//! What one instance serves and reports: the published table, the counters for metrics and
//! readiness, and the signal the status writer waits on. The query path only reads it; the
//! etcd task is its one writer.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::config::Config;
use crate::dataset::{Dataset, Value, ValueChange};
use crate::table::Table;
use crate::zones::Zones;

/// Counters for metrics and readiness. Mirrors `etcdhosts_stats` in the C ABI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records (name, address pairs) being served, inline ones included.
    pub records: u64,
    /// etcd revision of the data being served; 0 before the first read.
    pub revision: i64,
    /// Tables published from etcd or the snapshot.
    pub reloads: u64,
    pub last_reload_unix_ms: i64,
    /// Skipped lines in the data being served.
    pub invalid_lines: u64,
    pub etcd_errors: u64,
    /// Versions of the chunked layout not served: a chunk missing or corrupt.
    pub bad_versions: u64,
    pub watch_connected: bool,
    /// The first full read (from etcd, or from the snapshot) is done.
    pub ready: bool,
}

pub(crate) struct State {
    pub(crate) config: Config,
    zones: Zones,
    /// The sources of the table, and how to change them: the etcd task's alone.
    dataset: Mutex<Dataset>,
    table: ArcSwap<Table>,
    reloads: AtomicU64,
    last_reload_unix_ms: AtomicI64,
    etcd_errors: AtomicU64,
    bad_versions: AtomicU64,
    watch_connected: AtomicBool,
    ready: AtomicBool,
    /// Bumped when what the status key reports changes (a publish, the watch going up or
    /// down); the status writer waits on it. Works without receivers.
    pub(crate) changed: watch::Sender<()>,
}

impl State {
    /// Serves the inline lines, not ready: nothing has been read yet.
    pub(crate) fn new(config: Config) -> State {
        let options = config.table_options();
        let dataset = Dataset::new(options.clone(), config.inline.as_bytes());
        let inline_only = dataset.table().clone();
        log_diagnostics(&inline_only);
        State {
            zones: options.zones,
            dataset: Mutex::new(dataset),
            table: ArcSwap::new(inline_only),
            reloads: AtomicU64::new(0),
            last_reload_unix_ms: AtomicI64::new(0),
            etcd_errors: AtomicU64::new(0),
            bad_versions: AtomicU64::new(0),
            watch_connected: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            changed: watch::Sender::new(()),
            config,
        }
    }

    /// Applies new values of hosts texts (etcd keys, or the snapshot; `complete`: these
    /// are all there are) and swaps in the table that results. Readers see the old table or
    /// the new one, never a mix. Only the chunks of text that changed are parsed, and only
    /// the shards they touch are rebuilt; a first read of 1M lines still takes a while, so
    /// this does not run on the runtime's worker.
    pub(crate) fn publish(
        &self,
        changes: &[(&[u8], Option<&[u8]>)],
        complete: bool,
        revision: i64,
        origin: &str,
    ) {
        let values: Vec<ValueChange<'_>> = changes
            .iter()
            .map(|&(key, value)| (key, value.map(Value::Text)))
            .collect();
        if self.publish_values(&values, complete, revision, origin) {
            release_free_memory();
        }
    }

    /// Which pieces of a text the table lacks; see [`Dataset::needed`].
    pub(crate) fn needed(&self, key: &[u8], pieces: &[(u128, u32)]) -> std::ops::Range<usize> {
        let dataset = self.dataset.lock().unwrap_or_else(|e| e.into_inner());
        dataset.needed(key, pieces)
    }

    /// Like [`publish`](Self::publish), for texts given whole or already cut. Returns
    /// whether the change replaced much of the table: then the caller, once it dropped what
    /// it read, calls [`release_free_memory`].
    pub(crate) fn publish_values(
        &self,
        changes: &[ValueChange<'_>],
        complete: bool,
        revision: i64,
        origin: &str,
    ) -> bool {
        let started = Instant::now();
        let table = self
            .dataset
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .update_values(changes, complete, revision);
        let took = started.elapsed();
        log_diagnostics(&table);
        tracing::info!(
            "serving {} records ({} names) from {origin} at revision {revision}, updated in {:.1} ms",
            table.records(),
            table.names(),
            took.as_secs_f64() * 1000.0
        );
        let replaced_much = table.replaced_much();
        self.table.store(table);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.last_reload_unix_ms.store(unix_ms(), Ordering::Relaxed);
        self.ready.store(true, Ordering::Release);
        self.changed.send_replace(());
        replaced_much
    }

    pub(crate) fn zones(&self) -> &Zones {
        &self.zones
    }

    /// The table being served now.
    pub(crate) fn table(&self) -> arc_swap::Guard<Arc<Table>> {
        self.table.load()
    }

    /// The etcd task died: what is served may be stale until its restart reads etcd again.
    pub(crate) fn lost_watch(&self) {
        self.ready.store(false, Ordering::Release);
        self.set_watch_connected(false);
    }

    pub(crate) fn count_error(&self) {
        self.etcd_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_bad_version(&self) {
        self.bad_versions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_watch_connected(&self, connected: bool) {
        if self.watch_connected.swap(connected, Ordering::Relaxed) != connected {
            self.changed.send_replace(());
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let table = self.table.load();
        Stats {
            records: table.records() as u64,
            revision: table.revision(),
            reloads: self.reloads.load(Ordering::Relaxed),
            last_reload_unix_ms: self.last_reload_unix_ms.load(Ordering::Relaxed),
            invalid_lines: table.invalid_lines() as u64,
            etcd_errors: self.etcd_errors.load(Ordering::Relaxed),
            bad_versions: self.bad_versions.load(Ordering::Relaxed),
            watch_connected: self.watch_connected.load(Ordering::Relaxed),
            ready: self.ready.load(Ordering::Acquire),
        }
    }
}

/// The first few skipped lines a change brought, and how many the data holds in all.
fn log_diagnostics(table: &Table) {
    for (source, d) in table.diagnostics() {
        tracing::warn!("skipped {source} {d}");
    }
    let shown = table.diagnostics().len();
    if shown > 0 && table.invalid_lines() > shown {
        tracing::warn!("skipped {} invalid lines in all", table.invalid_lines());
    }
}

/// The old table and the build's scratch space went back to malloc, which keeps freed
/// pages for reuse; give them back to the kernel, so that RSS follows the table's size
/// (27 B/record of garbage at 1M records otherwise, see BENCHMARKS.md). Only after a big
/// change or a big read: a one-line change of a small text frees a few shards, and
/// trimming walks the whole heap.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
