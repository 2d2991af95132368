//! The configuration of one instance: the settings of one Corefile block (or of dnsctl),
//! their defaults, and the checks that can be made without etcd.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::table::TableOptions;
use crate::zones::Zones;

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

    pub(crate) fn table_options(&self) -> TableOptions {
        TableOptions {
            zones: Zones::new(&self.zones),
            ttl: self.ttl,
            no_reverse: self.no_reverse,
        }
    }
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
}
