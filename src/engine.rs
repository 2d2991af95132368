//! One running instance, from start to stop: it serves the inline lines (and the snapshot)
//! at once, starts the etcd watch and the status writer, and stops them when dropped.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::config::Config;
use crate::runtime::runtime;
use crate::snapshot;
use crate::state::{unix_ms, State, Stats};
use crate::status_writer::StatusTask;
use crate::table::{Outcome, Table};

/// A running instance. Dropping it stops its etcd task and closes its connections.
pub struct Engine {
    state: Arc<State>,
    watch: tokio::task::JoinHandle<()>,
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
                state.publish(&[(&source, &text)], revision, &format!("snapshot {source}"));
            }
        }
        let (first_read_tx, first_read_rx) = mpsc::channel();
        let watch = runtime().spawn(crate::etcd::run(state.clone(), first_read_tx));
        let status = StatusTask::spawn(&state, started_unix_ms);
        let _ = first_read_rx.recv_timeout(state.config.timeout());
        Ok(Engine {
            state,
            watch,
            status,
        })
    }

    /// Answers one query into `out`; see [`Table::lookup`].
    pub fn lookup(&self, qname: &[u8], qtype: u16, out: &mut [u8]) -> (Outcome, usize) {
        self.state.table().lookup(qname, qtype, out)
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
        self.watch.abort();
        // Meanwhile the status writer removes its key and revokes its lease, within `timeout`.
        let status = self.status.take().map(StatusTask::stop);
        // Wait until the tasks are gone (their clients and connections with them), so that
        // CoreDNS reloads do not pile up connections. Never block a runtime thread: there
        // the status writer cleans up on its own, and its lease expires if it cannot.
        if tokio::runtime::Handle::try_current().is_err() {
            let watch = &mut self.watch;
            let limit = self.state.config.timeout();
            runtime().block_on(async {
                let etcd = tokio::time::timeout(Duration::from_secs(5), watch);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_is_served_while_etcd_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.snap");
        snapshot::write(&path, 42, &[b"10.0.0.1 a\n10.0.0.2 b".to_vec()]).unwrap();
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
