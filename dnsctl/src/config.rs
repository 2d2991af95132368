//! `~/.dnsctl.yaml`: the format existing dnsctl users have, plus optional `username`,
//! `password` and `timeout`. Turned into the library's [`etcdhosts::Config`], so dnsctl
//! connects exactly as the plugin does (TLS, auth, keepalive).

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcdhosts::{Config, TlsFiles};
use serde::Deserialize;

use crate::error::{fail, Code, Failure, Result};

pub const EXAMPLE: &str = "\
# dnsctl configuration. Save it as ~/.dnsctl.yaml, or pass --config FILE
# (or set DNSCTL_CONFIG).

# The etcd key holding the hosts file: the `key` of the etcdhosts block in the
# Corefile. A key ending in '/' is a prefix: every key under it is a fragment of
# the hosts file, merged in key order.
dnskey: /etcdhosts

etcd:
  endpoints:
    - https://172.16.11.71:2379
    - https://172.16.11.72:2379
    - https://172.16.11.73:2379
  # TLS, all optional: a CA alone verifies the server; cert and key add a client
  # certificate. Without a CA, https endpoints are checked against the system roots.
  cert: /etc/etcd/ssl/etcd.pem
  key: /etc/etcd/ssl/etcd-key.pem
  ca: /etc/etcd/ssl/etcd-root-ca.pem
  # etcd authentication, optional:
  # username: dnsctl
  # password: secret
  # How long to wait for etcd (a duration such as 5s or 500ms, or seconds):
  # timeout: 5s

# The web console, `dnsctl serve` (all optional):
# serve:
#   listen: 127.0.0.1:8053
#   status_key: /etcdhosts-status/   # the status_key of the Corefile blocks
#   users:                           # needed to listen beyond loopback
#     alice: \"$argon2id$...\"         # from: dnsctl serve --hash-password
";

/// What the commands need from the config file.
pub struct Settings {
    /// The library config used to connect (endpoints, credentials, TLS, timeout, key).
    pub etcd: Config,
    /// The web console's settings (`dnsctl serve`).
    pub serve: Serve,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct File {
    dnskey: Option<String>,
    etcd: Etcd,
    serve: Serve,
}

/// The `serve:` section: where the console listens and who may log in.
#[derive(Deserialize, Default, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct Serve {
    pub listen: Option<String>,
    /// The prefix the CoreDNS instances' `status_key` option writes under.
    pub status_key: Option<String>,
    /// User name -> argon2 password hash (`dnsctl serve --hash-password`). With users,
    /// every page needs a login; without, the console only listens on loopback.
    pub users: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Etcd {
    endpoints: Vec<String>,
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    username: Option<String>,
    password: Option<String>,
    timeout: Option<serde_yaml::Value>,
}

const KNOWN_TOP: &[&str] = &["dnskey", "etcd", "serve"];
const KNOWN_ETCD: &[&str] = &[
    "endpoints",
    "cert",
    "key",
    "ca",
    "username",
    "password",
    "timeout",
];

/// `--config`, else `$DNSCTL_CONFIG`, else `$HOME/.dnsctl.yaml`.
pub fn default_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("DNSCTL_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".dnsctl.yaml")),
        None => fail(
            Code::Config,
            "no config: $HOME is not set; pass --config FILE",
        ),
    }
}

pub fn load(path: &Path) -> Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                Code::Config,
                format!(
                    "no config file at {} (write one with `dnsctl config > {}` and edit it, \
                     or pass --config FILE)",
                    path.display(),
                    path.display()
                ),
            )
        }
        Err(e) => {
            return fail(
                Code::Config,
                format!("cannot read config {}: {e}", path.display()),
            )
        }
    };
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Settings> {
    let bad = |m: String| Failure::new(Code::Config, format!("config {}: {m}", path.display()));
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
    warn_unknown(&value, path);
    let file: File = if value.is_null() {
        File::default()
    } else {
        serde_yaml::from_value(value).map_err(|e| bad(e.to_string()))?
    };
    let e = file.etcd;
    let endpoints: Vec<String> = e
        .endpoints
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if endpoints.is_empty() {
        return Err(bad("etcd.endpoints: no etcd endpoint is configured".into()));
    }
    // Existing configs written by the old dnsctl may carry `cert: ""`: empty means unset.
    let file_path = |v: Option<String>| v.filter(|s| !s.trim().is_empty()).map(PathBuf::from);
    let (cert, key, ca) = (file_path(e.cert), file_path(e.key), file_path(e.ca));
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let (username, password) = (nonempty(e.username), nonempty(e.password));
    if username.is_some() != password.is_some() {
        return Err(bad(
            "etcd.username and etcd.password must be set together".into()
        ));
    }
    if cert.is_some() != key.is_some() {
        return Err(bad(
            "etcd.cert and etcd.key must be set together (a client certificate needs its key)"
                .into(),
        ));
    }
    for (name, file) in [("cert", &cert), ("key", &key), ("ca", &ca)] {
        if let Some(file) = file {
            check_pem(name, file).map_err(bad)?;
        }
    }
    let any_https = endpoints.iter().any(|e| e.starts_with("https://"));
    let tls = (cert.is_some() || ca.is_some() || any_https).then_some(TlsFiles { cert, key, ca });
    let timeout = match e.timeout {
        None => Duration::from_secs(5),
        Some(v) => parse_timeout(&v).map_err(|m| bad(format!("etcd.timeout: {m}")))?,
    };
    if password.is_some() {
        warn_if_readable_by_others(path);
    }
    let key = file
        .dnskey
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "/etcdhosts".to_string());
    let config = Config {
        endpoints,
        key,
        username,
        password,
        tls,
        timeout_ms: (timeout.as_millis() as u64).max(1),
        ..Config::default()
    };
    config.validate().map_err(bad)?;
    Ok(Settings {
        etcd: config,
        serve: file.serve,
    })
}

/// A typo (`endpoint:`) must not silently fall back to a default.
fn warn_unknown(value: &serde_yaml::Value, path: &Path) {
    let Some(top) = value.as_mapping() else {
        return;
    };
    for (k, v) in top {
        let k = k.as_str().unwrap_or("?");
        if !KNOWN_TOP.contains(&k) {
            eprintln!(
                "dnsctl: warning: config {}: unknown setting `{k}` ignored",
                path.display()
            );
        } else if k == "etcd" {
            for (k2, _) in v.as_mapping().into_iter().flatten() {
                let k2 = k2.as_str().unwrap_or("?");
                if !KNOWN_ETCD.contains(&k2) {
                    eprintln!(
                        "dnsctl: warning: config {}: unknown setting `etcd.{k2}` ignored",
                        path.display()
                    );
                }
            }
        }
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o044 != 0 {
            eprintln!(
                "dnsctl: warning: config {} holds a password and is readable by others \
                 (chmod 600 it)",
                path.display()
            );
        }
    }
}

/// Reads a TLS file now, so a wrong path is one clear line rather than a handshake error.
fn check_pem(name: &str, path: &Path) -> std::result::Result<(), String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("etcd.{name}: cannot read {}: {e}", path.display()))?;
    if !data.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(format!(
            "etcd.{name}: {} is not a PEM file (no -----BEGIN line)",
            path.display()
        ));
    }
    Ok(())
}

/// `5s`, `500ms`, `1m`, `1.5s`, or a bare number of seconds (`5`, `"5"`).
pub fn parse_timeout(value: &serde_yaml::Value) -> std::result::Result<Duration, String> {
    let invalid = || format!("{value:?} is not a duration (write e.g. 5s, 500ms or 5)");
    let (number, unit): (f64, &str) = match value {
        serde_yaml::Value::Number(n) => (n.as_f64().ok_or_else(invalid)?, "s"),
        serde_yaml::Value::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            (num.parse().map_err(|_| invalid())?, unit.trim())
        }
        _ => return Err(invalid()),
    };
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        _ => return Err(invalid()),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        return Err(format!(
            "{value:?} is out of range (more than 0, at most an hour)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Settings> {
        parse(text, Path::new("test.yaml"))
    }

    #[test]
    fn timeouts() {
        let d = |s: &str| parse_timeout(&serde_yaml::from_str(s).unwrap());
        assert_eq!(d("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(d("5"), Ok(Duration::from_secs(5)));
        assert_eq!(d("\"7\""), Ok(Duration::from_secs(7)));
        assert_eq!(d("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(d("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        for bad in ["0", "-1", "5h", "soon", "[1]", "\"\""] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_issue_format_and_the_example_parse() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("x.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let p = pem.display();
        let s = parse_str(&format!(
            "dnskey: /etcdhosts\netcd:\n  cert: {p}\n  key: {p}\n  ca: {p}\n  endpoints:\n    - \
             https://172.16.11.71:2379\n    - https://172.16.11.72:2379\n"
        ))
        .unwrap();
        assert_eq!(s.etcd.key, "/etcdhosts");
        assert_eq!(s.etcd.endpoints.len(), 2);
        assert_eq!(s.etcd.timeout_ms, 5000);
        assert!(s.etcd.tls.as_ref().unwrap().ca.is_some());

        let s = parse_str(
            "etcd:\n  endpoints: [http://127.0.0.1:2379]\n  cert: \"\"\n  username: u\n  \
             password: p\n  timeout: 2s\n",
        )
        .unwrap();
        assert_eq!(s.etcd.key, "/etcdhosts");
        assert!(s.etcd.tls.is_none());
        assert_eq!(s.etcd.timeout_ms, 2000);
        assert_eq!(s.etcd.username.as_deref(), Some("u"));

        // The example only fails on its (absent) certificate files.
        let e = parse_str(EXAMPLE).err().unwrap();
        assert!(e.message.contains("/etc/etcd/ssl/etcd.pem"), "{e}");
    }

    #[test]
    fn config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let not_pem = format!(
            "etcd:\n  endpoints: [http://a:1]\n  ca: {}\n",
            not_pem.display()
        );
        for (text, needle) in [
            ("dnskey: /x\n", "no etcd endpoint"),
            ("etcd: [1, 2]\n", "config test.yaml"),
            (
                "etcd:\n  endpoints: [http://a:1]\n  username: u\n",
                "set together",
            ),
            (
                "etcd:\n  endpoints: [https://a:1]\n  cert: /nonexistent.pem\n  key: /k.pem\n",
                "etcd.cert: cannot read /nonexistent.pem",
            ),
            (not_pem.as_str(), "not a PEM file"),
            (
                "etcd:\n  endpoints: [http://a:1]\n  timeout: forever\n",
                "etcd.timeout",
            ),
        ] {
            let e = parse_str(text).err().unwrap_or_else(|| panic!("{text}"));
            assert_eq!(e.code, Code::Config);
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }
}
