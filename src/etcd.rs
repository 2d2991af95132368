//! The etcd session: read the key (or prefix), publish, watch from the read revision + 1,
//! and on any trouble start over with a fresh read, so that no update is ever missed.
//!
//! Endpoints are used one at a time and rotated on error: the etcd client's balancer keeps
//! handing requests to a dead member, while rotating is predictable and moves past it at
//! once. After every endpoint failed in a row, wait with capped exponential backoff.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, WatchOptions,
};
use tokio::time::timeout;

use crate::engine::{write_snapshot, Config, Shared};

/// HTTP/2 keepalive: without it a stalled etcd leaves the watch silent forever. etcd drops
/// clients that ping more often than every 5 s (`--grpc-keepalive-min-time`).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest etcd response we accept. etcd's own request limit (1.5 MiB by default) caps one
/// value; a prefix of many fragments can be read in one response up to this.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Runs until the engine is dropped (the task is aborted). `first_read` is told once, when
/// the first read from etcd succeeded or failed.
pub(crate) async fn run(shared: Arc<Shared>, first_read: mpsc::Sender<()>) {
    let config = &shared.config;
    let mut first_read = Some(first_read);
    let mut endpoint = 0;
    let mut failures_in_a_row = 0usize;
    let mut backoff = BACKOFF_START;
    let mut quiet = QuietLog::default();
    loop {
        let url = &config.endpoints[endpoint];
        let mut session = Session {
            shared: &shared,
            read_done: false,
        };
        let result = session.run(url, &mut first_read).await;
        shared.set_watch_connected(false);
        if result.is_err() {
            // Counted before the first-read signal, so stats right after start include it.
            shared.count_error();
        }
        if let Some(tx) = first_read.take() {
            let _ = tx.send(());
        }
        if session.read_done {
            failures_in_a_row = 0;
            backoff = BACKOFF_START;
            quiet.recovered();
        }
        match result {
            // A planned re-read (force_reload): start over at once, same endpoint.
            Ok(()) => continue,
            Err(e) => {
                let e = with_tls_verdict(config, url, e).await;
                quiet.warn(&format!("etcd {url}: {e}; retrying"))
            }
        }
        endpoint = (endpoint + 1) % config.endpoints.len();
        failures_in_a_row += 1;
        if failures_in_a_row % config.endpoints.len() == 0 {
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_CAP);
        }
    }
}

/// A hang-up right after the TLS handshake hides why etcd hung up: ask etcd once more.
async fn with_tls_verdict(config: &Config, url: &str, message: String) -> String {
    if !crate::tls_probe::worth_probing(config, url, &message) {
        return message;
    }
    match crate::tls_probe::refusal(config, url).await {
        Some(alert) => {
            let hint = tls_hint(&alert).unwrap_or("etcd refused the TLS connection");
            format!("{message}; a second handshake got \"{alert}\" ({hint})")
        }
        None => message,
    }
}

/// While etcd stays down, retries happen every few seconds: log each distinct failure once
/// a minute at most, instead of a line per retry. (The status writer uses one too.)
#[derive(Default)]
pub(crate) struct QuietLog {
    logged: std::collections::HashMap<String, std::time::Instant>,
    suppressed: usize,
}

impl QuietLog {
    pub(crate) fn warn(&mut self, message: &str) {
        let now = std::time::Instant::now();
        let recent = |at: &std::time::Instant| now.duration_since(*at) < Duration::from_secs(60);
        if self.logged.get(message).is_some_and(recent) {
            self.suppressed += 1;
            tracing::debug!("{message}");
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                "{message} ({} repeated failures not shown)",
                self.suppressed
            );
        } else {
            tracing::warn!("{message}");
        }
        self.logged.retain(|_, at| recent(at));
        self.logged.insert(message.to_string(), now);
        self.suppressed = 0;
    }

    fn recovered(&mut self) {
        self.recovered_saying("etcd reachable again");
    }

    /// Logs `message` if failures were logged since the last success.
    pub(crate) fn recovered_saying(&mut self, message: &str) {
        if !self.logged.is_empty() {
            tracing::info!("{message}");
        }
        self.logged.clear();
        self.suppressed = 0;
    }
}

/// Spreads retries of a fleet of CoreDNS servers by up to +-25%.
pub(crate) fn jitter(d: Duration) -> Duration {
    use std::hash::BuildHasher;
    let r = foldhash::fast::RandomState::default().hash_one(std::time::Instant::now()) % 500;
    d.mul_f64(0.75 + r as f64 / 1000.0)
}

struct Session<'a> {
    shared: &'a Shared,
    /// Set once this session read the key successfully (resets the backoff).
    read_done: bool,
}

impl Session<'_> {
    async fn run(
        &mut self,
        url: &str,
        first_read: &mut Option<mpsc::Sender<()>>,
    ) -> Result<(), String> {
        let config = &self.shared.config;
        let limit = config.timeout();
        let client = timeout(
            limit,
            Client::connect([url], Some(connect_options(config)?)),
        )
        .await
        .map_err(|_| format!("no connection within {limit:?}"))?
        .map_err(|e| explain(config, e))?;

        let mut kv = client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES);
        let get_options = config.is_prefix().then(|| GetOptions::new().with_prefix());
        let mut response = timeout(limit, kv.get(config.key.as_str(), get_options))
            .await
            .map_err(|_| format!("read of {} timed out after {limit:?}", config.key))?
            .map_err(|e| explain(config, e))?;
        let read_revision = response.header().map_or(0, |h| h.revision());
        // Move the values out (no copy), and let the response go before the long watch:
        // a 1M-line file would otherwise stay in memory twice.
        let mut fragments: BTreeMap<Vec<u8>, (i64, Vec<u8>)> = response
            .take_kvs()
            .into_iter()
            .map(|kv| {
                let revision = kv.mod_revision();
                let (key, value) = kv.into_key_value();
                (key, (revision, value))
            })
            .collect();
        drop(response);
        self.publish(&mut fragments, read_revision).await;
        self.read_done = true;
        if let Some(tx) = first_read.take() {
            let _ = tx.send(());
        }

        let mut watch_options = WatchOptions::new().with_start_revision(read_revision + 1);
        if config.is_prefix() {
            watch_options = watch_options.with_prefix();
        }
        let mut stream = timeout(
            limit,
            client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES)
                .watch(config.key.as_str(), Some(watch_options)),
        )
        .await
        .map_err(|_| format!("watch of {} not created within {limit:?}", config.key))?
        .map_err(|e| explain(config, e))?;
        self.shared.set_watch_connected(true);

        let force_reload =
            (config.force_reload_ms > 0).then(|| Duration::from_millis(config.force_reload_ms));
        loop {
            let message = match force_reload {
                Some(period) => match timeout(period, stream.message()).await {
                    Ok(m) => m,
                    Err(_) => return Ok(()),
                },
                None => stream.message().await,
            };
            let response = match message {
                Ok(Some(r)) => r,
                Ok(None) => return Err("watch stream closed".into()),
                Err(e) => return Err(format!("watch failed: {}", explain(config, e))),
            };
            if response.canceled() || response.compact_revision() > 0 {
                // Compaction, an expired auth token, leader loss: re-read, then re-watch.
                return Err(format!(
                    "watch canceled (reason {:?}, compact revision {})",
                    response.cancel_reason(),
                    response.compact_revision()
                ));
            }
            if response.events().is_empty() {
                continue; // the "created" notice or a progress notification
            }
            let mut revision = response.header().map_or(0, |h| h.revision());
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                revision = revision.max(kv.mod_revision());
                match event.event_type() {
                    EventType::Put => {
                        fragments
                            .insert(kv.key().to_vec(), (kv.mod_revision(), kv.value().to_vec()));
                    }
                    EventType::Delete => {
                        fragments.remove(kv.key());
                    }
                }
            }
            // The values are copied out: let the response go before the table is built.
            drop(response);
            self.publish(&mut fragments, revision).await;
        }
    }

    /// Publishes the fragments (one, for a plain key) and writes the snapshot. The revision
    /// served is the newest mod revision of the data, so every server holding the same data
    /// reports the same revision; an empty key falls back to the read's revision.
    ///
    /// For a plain key the text is dropped once published: the next change brings the whole
    /// value again, and a 1M-line file is ~40 bytes a record. A prefix keeps its fragments,
    /// since a change to one is merged with the others.
    async fn publish(&self, fragments: &mut BTreeMap<Vec<u8>, (i64, Vec<u8>)>, read_revision: i64) {
        let revision = fragments
            .values()
            .map(|(rev, _)| *rev)
            .max()
            .unwrap_or(read_revision);
        let keys: Vec<String> = fragments
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        let parts: Vec<(&str, &[u8])> = keys
            .iter()
            .zip(fragments.values())
            .map(|(k, (_, v))| (k.as_str(), v.as_slice()))
            .collect();
        let origin = format!("etcd key {}", self.shared.config.key);
        if fragments.is_empty() {
            tracing::info!("etcd key {} is missing or empty", self.shared.config.key);
        }
        self.shared.publish(&parts, revision, &origin);

        if let Some(path) = self.shared.config.snapshot.clone() {
            let values: Vec<Vec<u8>> = fragments.values().map(|(_, v)| v.clone()).collect();
            let written =
                tokio::task::spawn_blocking(move || write_snapshot(&path, revision, &values)).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                tracing::warn!("cannot write snapshot: {e}");
            }
        }
        if !self.shared.config.is_prefix() {
            for (_, value) in fragments.values_mut() {
                *value = Vec::new();
            }
        }
    }
}

/// Client options from a config: timeouts, keepalive, credentials, TLS. Shared with dnsctl.
pub fn connect_options(config: &Config) -> Result<ConnectOptions, String> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(config.timeout())
        .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
        .with_keep_alive_while_idle(true)
        // A member cut off from its leader must not keep a silent watch open.
        .with_require_leader(true);
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        options = options
            .with_user(user.clone(), password.clone())
            .with_auto_token_refresh(true);
    }
    if let Some(files) = &config.tls {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("tls: cannot read {}: {e}", path.display()))
        };
        let mut tls = TlsOptions::new();
        match &files.ca {
            Some(ca) => tls = tls.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => tls = tls.with_native_roots(),
        }
        if let (Some(cert), Some(key)) = (&files.cert, &files.key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(tls);
    }
    Ok(options)
}

/// An etcd error as an operator can act on it. Never includes the password.
pub fn explain(config: &Config, e: etcd_client::Error) -> String {
    let text = e.to_string();
    if text.contains("message length too large") || text.contains("decoded message length") {
        return format!(
            "{text}: the hosts data is larger than the {} MiB this client accepts; split it \
             into fragments under a prefix key (a key ending in '/')",
            MAX_RESPONSE_BYTES >> 20
        );
    }
    if text.contains("authentication failed") || text.contains("invalid auth") {
        let user = config.username.as_deref().unwrap_or("(none)");
        return format!("{text} (user {user:?}; check the credentials option)");
    }
    if text.contains("permission denied") {
        return format!("{text} (the etcd user needs read access to {})", config.key);
    }
    // tonic's transport errors hide the cause in the source chain.
    let mut message = text;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(hint) = tls_hint(&message) {
        message.push_str(" (");
        message.push_str(hint);
        message.push(')');
    }
    message
}

/// What a TLS failure buried in a transport error means for the `tls` option. rustls words
/// a certificate etcd refused as the TLS alert etcd sent, and a certificate we refused as
/// "invalid peer certificate".
fn tls_hint(message: &str) -> Option<&'static str> {
    const REFUSED_ALERTS: [&str; 6] = [
        "received fatal alert: BadCertificate",
        "received fatal alert: CertificateExpired",
        "received fatal alert: CertificateRequired",
        "received fatal alert: UnknownCA",
        "received fatal alert: CertificateUnknown",
        "received fatal alert: UnsupportedCertificate",
    ];
    if REFUSED_ALERTS.iter().any(|alert| message.contains(alert)) {
        return Some(
            "etcd refused the client certificate: it is missing, expired, or not signed by a \
             CA etcd trusts (--trusted-ca-file); check the certificate and key of the tls option",
        );
    }
    if !message.contains("invalid peer certificate") {
        return None;
    }
    Some(if message.contains("UnknownIssuer") {
        "etcd's server certificate is not signed by the CA of the tls option"
    } else if message.contains("Expired") {
        "etcd's server certificate has expired (or is not valid yet: check the clock)"
    } else if message.contains("NotValidForName") {
        "etcd's server certificate does not name the endpoint's host"
    } else {
        "etcd's server certificate was not accepted; check the CA of the tls option"
    })
}

#[cfg(test)]
mod tests {
    use super::tls_hint;

    #[test]
    fn tls_failures_get_a_hint_naming_the_side_at_fault() {
        let refused = "grpc request error: transport error: received fatal alert: BadCertificate";
        assert!(tls_hint(refused)
            .unwrap()
            .contains("refused the client certificate"));
        let unknown = "tcp connect error: invalid peer certificate: UnknownIssuer";
        assert!(tls_hint(unknown).unwrap().contains("not signed by the CA"));
        let expired = "invalid peer certificate: Expired";
        assert!(tls_hint(expired).unwrap().contains("expired"));
        assert_eq!(tls_hint("tcp connect error: Connection refused"), None);
    }
}
