//! How every etcd connection is made, by the watch, the status writer and dnsctl:
//! timeouts, keepalive, credentials, TLS, and the largest response accepted.

use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};

use crate::config::Config;

/// HTTP/2 keepalive: without it a stalled etcd leaves the watch silent forever. etcd drops
/// clients that ping more often than every 5 s (`--grpc-keepalive-min-time`).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest etcd response we accept. etcd's own request limit (1.5 MiB by default) caps one
/// value; a prefix of many fragments can be read in one response up to this.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;

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
