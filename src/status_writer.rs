//! The writer of the fleet status key (`status_key`, the record is in `status`).
//!
//! The key hangs on a 10 s lease kept alive every 3 s, so it disappears soon after the
//! process dies or freezes, with nobody cleaning up. It is written when what it says changes
//! (a publish, the watch going up or down) and when it had to be recreated, never on a
//! timer: every put bumps etcd's revision, which every watcher of the store sees.
//!
//! The writer is a task of its own with a client of its own: its failures are logged and
//! retried and never touch the table, the watch or DNS answers.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, GetOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn,
    TxnOp,
};
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant, MissedTickBehavior};

use crate::client::connect_options;
use crate::etcd_error::{explain_needing, is_permission_denied};
use crate::identity;
use crate::retry::{jitter, QuietLog, Retry};
use crate::runtime::Supervised;
use crate::state::State;
use crate::status::{instance_name, rfc3339, InstanceStatus, LEASE_TTL_SECONDS};

/// Keepalive period, and of the check that the key is still there on our lease: three
/// chances per TTL, so one lost keepalive does not drop the key.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(3);
/// Changes this close together make one put (a publish, then the watch coming up).
const SETTLE: Duration = Duration::from_millis(50);
/// Permission denied needs an operator, not a quick retry.
const PERMISSION_BACKOFF: Duration = Duration::from_secs(30);

/// The running writer of one engine.
pub(crate) struct StatusTask {
    stop: watch::Sender<bool>,
    task: Supervised,
}

impl StatusTask {
    /// Starts the writer if the config has `status_key`. A panic restarts it with a new
    /// client and lease; readiness stays as it is, since the writer never touches what is
    /// served.
    pub(crate) fn spawn(state: &Arc<State>, started_unix_ms: i64) -> Option<StatusTask> {
        let prefix = state.config.status_prefix()?;
        let hostname = identity::hostname();
        let instance = instance_name(&hostname, &state.config.listen);
        let key = format!("{prefix}{instance}");
        let access =
            format!("write access to the status prefix {prefix}, or remove the status_key option");
        let started = rfc3339(started_unix_ms);
        let (stop, stopped) = watch::channel(false);
        let state = state.clone();
        let task = Supervised::spawn(
            format!("the writer of status key {key}"),
            || {},
            move || {
                let writer = Writer {
                    claim: Claim::new(&key),
                    state: state.clone(),
                    access: access.clone(),
                    key: key.clone(),
                    hostname: hostname.clone(),
                    instance: instance.clone(),
                    started: started.clone(),
                    retry: Retry::new(&state.config.endpoints),
                    client: None,
                    lease: None,
                    keeper: None,
                    written: None,
                    wrote_on_lease: false,
                    quiet: QuietLog::default(),
                };
                writer.run(stopped.clone())
            },
        );
        Some(StatusTask { stop, task })
    }

    /// Tells the writer to remove its key and revoke its lease; it ends within the config's
    /// `timeout` after that.
    pub(crate) fn stop(self) -> Supervised {
        self.stop.send_replace(true);
        self.task
    }
}

/// Instances of one process with the same name (two server blocks on one address, or the
/// old and the new instance during a CoreDNS reload) would take the key from each other on
/// every check: only the newest of them writes it. Oldest first.
static CLAIMS: Mutex<Vec<ClaimEntry>> = Mutex::new(Vec::new());
static NEXT_CLAIM: AtomicU64 = AtomicU64::new(0);

struct ClaimEntry {
    key: String,
    id: u64,
    /// Turns true once that instance has put the key, or failed to.
    settled: watch::Receiver<bool>,
}

struct Claim {
    key: String,
    id: u64,
    settled: watch::Sender<bool>,
}

impl Claim {
    fn new(key: &str) -> Claim {
        let id = NEXT_CLAIM.fetch_add(1, Ordering::Relaxed);
        let (settled, settled_rx) = watch::channel(false);
        let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
        if claims.iter().any(|c| c.key == key) {
            tracing::debug!("status key {key}: taken over from an older instance of this process");
        }
        claims.push(ClaimEntry {
            key: key.to_string(),
            id,
            settled: settled_rx,
        });
        Claim {
            key: key.to_string(),
            id,
            settled,
        }
    }

    /// The newest instance with this key in the process, if it is not this one.
    fn successor(&self) -> Option<watch::Receiver<bool>> {
        let claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
        let newest = claims.iter().rev().find(|c| c.key == self.key)?;
        (newest.id != self.id).then(|| newest.settled.clone())
    }

    /// This is the newest instance with this key in the process.
    fn active(&self) -> bool {
        self.successor().is_none()
    }

    /// The first put is done, or failed: an older instance waiting to revoke can go on.
    fn settle(&self) {
        self.settled.send_replace(true);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
        claims.retain(|c| c.id != self.id);
    }
}

struct Writer {
    claim: Claim,
    state: Arc<State>,
    /// What the etcd user needs for this writer, for the hint on a permission error.
    access: String,
    key: String,
    hostname: String,
    /// `<hostname>/<listen>`: the key is the status prefix followed by this.
    instance: String,
    started: String,
    retry: Retry,
    client: Option<Client>,
    lease: Option<i64>,
    keeper: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    /// The value last put, while it is (as far as we know) in etcd on our lease.
    written: Option<String>,
    /// A put was sent on the current lease: there may be a key to remove at the end.
    wrote_on_lease: bool,
    quiet: QuietLog,
}

impl Writer {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut changed = self.state.changed.subscribe();
        tokio::select! {
            _ = self.write(&mut changed) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
        self.remove().await;
    }

    /// Keeps the key written until the task is stopped; never returns.
    async fn write(&mut self, changed: &mut watch::Receiver<()>) {
        // The first put should already say what is served: wait for the first table, but
        // not longer than `timeout` (an instance that cannot read still shows up).
        if !self.state.stats().ready {
            let _ = timeout(self.state.config.timeout(), changed.changed()).await;
            sleep(SETTLE).await;
        }
        changed.borrow_and_update();
        loop {
            let url = self.retry.endpoint().to_string();
            let Err(e) = self.session(&url, changed).await;
            self.client = None;
            self.keeper = None;
            self.claim.settle();
            let message = format!("status key {}: etcd {url}: {e}; retrying", self.key);
            let denied = is_permission_denied(&e);
            if self.state.stats().watch_connected || denied {
                self.quiet.warn(&message);
            } else {
                // etcd is away for the watch too, and the etcd task says so already.
                tracing::debug!("{message}");
            }
            let mut wait = self.retry.failed();
            if denied {
                wait = wait.max(jitter(PERMISSION_BACKOFF));
            }
            sleep(wait).await;
        }
    }

    async fn session(
        &mut self,
        url: &str,
        changed: &mut watch::Receiver<()>,
    ) -> Result<Infallible, String> {
        let state = self.state.clone();
        let limit = state.config.timeout();
        let client = timeout(
            limit,
            Client::connect([url], Some(connect_options(&state.config)?)),
        )
        .await
        .map_err(|_| format!("no connection within {limit:?}"))?
        .map_err(|e| self.explain(e))?;
        self.client = Some(client);
        self.keep_lease().await?;
        // After a reconnect: the key may have gone while we could not see it.
        self.check().await?;

        let mut tick = tokio::time::interval_at(Instant::now() + KEEPALIVE_EVERY, KEEPALIVE_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if self.claim.active() {
                self.put_if_changed().await?;
            }
            // Connected, on a live lease, and the key written (or not ours to write).
            self.retry.succeeded();
            let tick_now = tokio::select! {
                r = changed.changed() => {
                    if r.is_err() {
                        // The engine is gone (cannot happen while we hold `state`).
                        std::future::pending::<()>().await;
                    }
                    false
                }
                _ = tick.tick() => true,
            };
            if tick_now {
                self.keep_alive().await?;
                self.check().await?;
            } else {
                sleep(SETTLE).await;
                changed.borrow_and_update();
            }
        }
    }

    /// What the key says now.
    fn status(&self) -> InstanceStatus {
        let config = &self.state.config;
        let stats = self.state.stats();
        InstanceStatus {
            instance: self.instance.clone(),
            hostname: self.hostname.clone(),
            listen: config.listen.clone(),
            pid: std::process::id(),
            key: config.key.clone(),
            revision: stats.revision,
            entries: stats.records,
            invalid_lines: stats.invalid_lines,
            last_reload: rfc3339(stats.last_reload_unix_ms),
            last_reload_unix_ms: stats.last_reload_unix_ms,
            started: self.started.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            etcd_connected: stats.watch_connected,
        }
    }

    /// Puts the status unless etcd already has exactly this value on our lease.
    async fn put_if_changed(&mut self) -> Result<(), String> {
        let value = serde_json::to_string(&self.status()).map_err(|e| e.to_string())?;
        if self.written.as_deref() == Some(value.as_str()) {
            return Ok(());
        }
        let (Some(client), Some(lease)) = (self.client.as_mut(), self.lease) else {
            return Err("not connected".into());
        };
        let limit = self.state.config.timeout();
        self.wrote_on_lease = true;
        let put = client.put(
            self.key.as_str(),
            value.as_str(),
            Some(PutOptions::new().with_lease(lease)),
        );
        match timeout(limit, put).await {
            Err(_) => return Err(format!("put timed out after {limit:?}")),
            Ok(Err(e)) => {
                if e.to_string().contains("lease not found") {
                    self.lease = None; // expired meanwhile: the next session grants one
                }
                return Err(self.explain(e));
            }
            Ok(Ok(_)) => {}
        }
        self.written = Some(value);
        self.claim.settle();
        let key = self.key.clone();
        self.quiet
            .recovered(&format!("status key {key} written again"));
        Ok(())
    }

    /// Keeps the current lease alive on this connection, or grants a new one if there is
    /// none or etcd lost it (the process was frozen, or etcd was away, beyond the TTL).
    async fn keep_lease(&mut self) -> Result<(), String> {
        let limit = self.state.config.timeout();
        let Some(client) = self.client.as_mut() else {
            return Err("not connected".into());
        };
        if let Some(id) = self.lease {
            match timeout(limit, client.lease_keep_alive(id)).await {
                Err(_) => return Err(format!("lease keepalive timed out after {limit:?}")),
                Ok(Ok(keeper)) => {
                    self.keeper = Some(keeper);
                    return Ok(());
                }
                // What the client says when etcd answers TTL 0: the lease is gone.
                Ok(Err(etcd_client::Error::LeaseKeepAliveError(_))) => {}
                Ok(Err(e)) => return Err(self.explain(e)),
            }
            tracing::info!(
                "status key {}: lease {id:x} expired; granting a new one",
                self.key
            );
        }
        self.lease = None;
        self.keeper = None;
        self.written = None;
        self.wrote_on_lease = false;
        let Some(client) = self.client.as_mut() else {
            return Err("not connected".into());
        };
        let granted = timeout(limit, client.lease_grant(LEASE_TTL_SECONDS, None))
            .await
            .map_err(|_| format!("lease grant timed out after {limit:?}"))?
            .map_err(|e| self.explain(e))?;
        let id = granted.id();
        self.lease = Some(id);
        let Some(client) = self.client.as_mut() else {
            return Err("not connected".into());
        };
        let keeper = timeout(limit, client.lease_keep_alive(id))
            .await
            .map_err(|_| format!("lease keepalive timed out after {limit:?}"))?
            .map_err(|e| self.explain(e))?;
        self.keeper = Some(keeper);
        Ok(())
    }

    async fn keep_alive(&mut self) -> Result<(), String> {
        let limit = self.state.config.timeout();
        let Some((keeper, stream)) = self.keeper.as_mut() else {
            return self.keep_lease().await;
        };
        keeper
            .keep_alive()
            .await
            .map_err(|e| format!("lease keepalive: {e}"))?;
        let response = timeout(limit, stream.message())
            .await
            .map_err(|_| format!("lease keepalive not answered within {limit:?}"))?
            .map_err(|e| format!("lease keepalive: {e}"))?;
        match response {
            Some(r) if r.ttl() > 0 => Ok(()),
            Some(_) => {
                // Expired or revoked: etcd deleted the key with it.
                self.keeper = None;
                self.keep_lease().await
            }
            None => Err("lease keepalive stream closed".into()),
        }
    }

    /// A cheap look (keys only) at whether the key is still there on our lease: it may
    /// have been deleted, or an older instance's put may have landed after ours.
    async fn check(&mut self) -> Result<(), String> {
        if self.written.is_none() || !self.claim.active() {
            return Ok(()); // a put is due anyway, or not ours to write
        }
        let limit = self.state.config.timeout();
        let (Some(client), Some(lease)) = (self.client.as_mut(), self.lease) else {
            return Err("not connected".into());
        };
        let get = client.get(self.key.as_str(), Some(GetOptions::new().with_keys_only()));
        let response = timeout(limit, get)
            .await
            .map_err(|_| format!("read timed out after {limit:?}"))?
            .map_err(|e| self.explain(e))?;
        match response.kvs().first() {
            Some(kv) if kv.lease() == lease => return Ok(()),
            Some(kv) => tracing::info!(
                "status key {} is on lease {:x}, not ours ({lease:x}); writing it again",
                self.key,
                kv.lease()
            ),
            None => tracing::info!("status key {} is gone; writing it again", self.key),
        }
        self.written = None;
        Ok(())
    }

    /// At the end: deletes the key if it is still on our lease (after a reload the new
    /// instance may own it already), then revokes the lease; at most `timeout` in all.
    async fn remove(mut self) {
        let Some(lease) = self.lease else { return };
        let limit = self.state.config.timeout();
        let deadline = Instant::now() + limit;
        if let Some(mut successor) = self.claim.successor() {
            // A reload: let the new instance's first put move the key to its lease, or
            // deleting (and revoking) ours would make the key vanish for a moment.
            // (If that put fails, it says so at once: no waiting out the timeout.)
            let _ = tokio::time::timeout_at(deadline, successor.wait_for(|w| *w)).await;
        }
        let key = self.key.clone();
        let url = self.retry.endpoint().to_string();
        let wrote = self.wrote_on_lease;
        let client = self.client.take();
        let state = self.state.clone();
        let removed = tokio::time::timeout_at(deadline, async move {
            let mut client = match client {
                Some(client) => client,
                None => Client::connect([url.as_str()], Some(connect_options(&state.config)?))
                    .await
                    .map_err(|e| e.to_string())?,
            };
            let mut deleted = false;
            if wrote {
                let txn = Txn::new()
                    .when([Compare::lease(key.as_str(), CompareOp::Equal, lease)])
                    .and_then([TxnOp::delete(key.as_str(), None)]);
                // Refused (a user without access to the prefix wrote nothing): revoking
                // the lease still removes whatever hangs on it.
                match client.txn(txn).await {
                    Ok(r) => deleted = r.succeeded(),
                    Err(e) => tracing::debug!("status key {key}: not deleted: {e}"),
                }
            }
            client
                .lease_revoke(lease)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<bool, String>(deleted)
        })
        .await;
        match removed {
            Ok(Ok(true)) => tracing::debug!("status key {} removed", self.key),
            Ok(Ok(false)) => tracing::debug!("status lease of {} revoked", self.key),
            Ok(Err(e)) => tracing::warn!(
                "status key {}: not removed ({e}); it expires within {LEASE_TTL_SECONDS} s",
                self.key
            ),
            Err(_) => tracing::warn!(
                "status key {}: not removed within {limit:?}; it expires within {LEASE_TTL_SECONDS} s",
                self.key
            ),
        }
    }

    /// An etcd error as an operator can act on it.
    fn explain(&self, e: etcd_client::Error) -> String {
        explain_needing(&self.state.config, e, &self.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_claim_writes() {
        let old = Claim::new("/status/test-claims/h/:53");
        assert!(old.active());
        let new = Claim::new("/status/test-claims/h/:53");
        let other = Claim::new("/status/test-claims/h/:54");
        assert!(new.active() && !old.active() && other.active());
        let successor = old.successor().unwrap();
        assert!(!*successor.borrow());
        new.settle();
        assert!(*successor.borrow());
        drop(new);
        assert!(old.active());
    }
}
