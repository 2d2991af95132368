//! One running instance, from start to stop: it serves the inline lines (and the snapshot)
//! at once, starts the etcd watch and the status writer, and stops them when dropped.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::config::Config;
use crate::runtime::{runtime, Supervised};
use crate::snapshot;
use crate::state::{unix_ms, State, Stats};
use crate::status_writer::StatusTask;
use crate::table::{Answer, Table};
use crate::zones::Zones;

/// A running instance. Dropping it stops its etcd task and closes its connections.
pub struct Engine {
    state: Arc<State>,
    /// The etcd watch: on a panic, not ready until its restart has read etcd again.
    watch: Supervised,
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
        let state = Arc::new(State::new(config));
        if let Some(path) = &state.config.snapshot {
            if let Some((revision, text)) = snapshot::load(path) {
                let source = path.display().to_string();
                let texts = [(source.as_bytes(), Some(&text[..]))];
                state.publish(&texts, true, revision, &format!("snapshot {source}"));
            }
        }
        let (first_read_tx, first_read_rx) = mpsc::channel();
        let mut first_read = Some(first_read_tx);
        let (watching, stale) = (state.clone(), state.clone());
        let watch = Supervised::spawn(
            format!("the etcd watch of {}", state.config.key),
            move || stale.lost_watch(),
            move || crate::etcd::run(watching.clone(), first_read.take()),
        );
        let status = StatusTask::spawn(&state, started_unix_ms);
        let _ = first_read_rx.recv_timeout(state.config.timeout());
        Ok(Engine {
            state,
            watch,
            status,
        })
    }

    /// Answers one query, its records into `out`; see [`Table::lookup`].
    pub fn lookup(&self, qname: &[u8], qtype: u16, out: &mut [u8]) -> Answer {
        self.state.table().lookup(qname, qtype, out)
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The zones answered for: [`Answer::zone`] is an index into these.
    pub fn zones(&self) -> &Zones {
        self.state.zones()
    }

    /// The table being served now.
    pub fn table(&self) -> Arc<Table> {
        arc_swap::Guard::into_inner(self.state.table())
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.watch.cancel();
        // Meanwhile the status writer removes its key and revokes its lease, within `timeout`.
        let status = self.status.take().map(StatusTask::stop);
        // Wait until the tasks are gone (their clients and connections with them), so that
        // CoreDNS reloads do not pile up connections. Never block a runtime thread: there
        // the status writer cleans up on its own, and its lease expires if it cannot.
        if tokio::runtime::Handle::try_current().is_err() {
            let watch = &mut self.watch;
            let limit = self.state.config.timeout();
            runtime().block_on(async {
                let etcd = tokio::time::timeout(Duration::from_secs(5), watch.finished());
                let status = async {
                    if let Some(mut status) = status {
                        if tokio::time::timeout(limit, status.finished())
                            .await
                            .is_err()
                        {
                            status.cancel();
                        }
                    }
                };
                let _ = tokio::join!(etcd, status);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_is_served_while_etcd_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.snap");
        snapshot::write(&path, 42, &[b"10.0.0.1 a\n10.0.0.2 b"]).unwrap();
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

    static LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    extern "C" fn collect_log(_level: i32, msg: *const u8, len: usize) {
        // SAFETY: the logger passes `len` readable bytes, valid during the call.
        let text = unsafe { std::slice::from_raw_parts(msg, len) };
        LOG.lock()
            .unwrap()
            .push(String::from_utf8_lossy(text).into_owned());
    }

    /// A watch that panics is logged, makes the instance not ready (what it serves may be
    /// stale), and is restarted: once the fault is gone, the restart serves etcd's data.
    #[test]
    fn a_panicking_watch_is_logged_unready_and_restarted() {
        use crate::etcd::tests::PANIC_KEY;
        use crate::test_etcd::{wait_for, Etcd};
        crate::log::set_callback(collect_log);
        let deadline = Duration::from_secs(15);
        let etcd = Etcd::start();
        etcd.put("/panics", "10.0.0.1 a.example.org\n");
        let engine = Engine::start(Config {
            endpoints: vec![etcd.url.clone()],
            key: "/panics".into(),
            timeout_ms: 2000,
            ..Config::default()
        })
        .unwrap();
        assert!(engine.stats().ready);
        wait_for("watch connected", deadline, || {
            engine.stats().watch_connected
        });

        *PANIC_KEY.lock().unwrap() = Some("/panics".into());
        let rev = etcd.put("/panics", "10.0.0.2 a.example.org\n");
        wait_for("not ready after the panic", deadline, || {
            !engine.stats().ready
        });
        wait_for("the panic logged", deadline, || {
            LOG.lock().unwrap().iter().any(|l| {
                l.contains("the etcd watch of /panics panicked")
                    && l.contains("injected panic")
                    && l.contains("restarting")
            })
        });
        assert!(!engine.stats().watch_connected);
        assert_eq!(engine.table().lookup_v4("a.example.org.").len(), 1);

        *PANIC_KEY.lock().unwrap() = None;
        wait_for("the restarted watch serving etcd's data", deadline, || {
            let stats = engine.stats();
            stats.ready && stats.revision == rev && stats.watch_connected
        });
        assert_eq!(
            engine.table().lookup_v4("a.example.org."),
            ["10.0.0.2".parse::<std::net::Ipv4Addr>().unwrap()]
        );
    }
}
