//! `~/.dnsctl.yaml`: the format existing dnsctl users have, plus optional `username`,
//! `password` and `timeout`. Turned into the library's [`etcdhosts::Config`], so dnsctl
//! connects exactly as the plugin does (TLS, auth, keepalive).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcdhosts::{Config, TlsFiles};
use serde::de::IgnoredAny;
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
    #[serde(deserialize_with = "empty_is_default")]
    etcd: Etcd,
    #[serde(deserialize_with = "empty_is_default")]
    serve: Serve,
    /// Any other setting: warned about and ignored (see [`unknown_settings`]).
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
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
    #[serde(deserialize_with = "empty_is_default")]
    pub users: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Etcd {
    #[serde(deserialize_with = "empty_is_default")]
    endpoints: Vec<String>,
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// A number of seconds or a string such as `5s`: any value, so that [`parse_timeout`]
    /// can say why a wrong one is not a duration.
    timeout: Option<serde_json::Value>,
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

/// A setting present but empty (`serve:` with everything under it commented out) means
/// the same as a missing one.
fn empty_is_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

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
    // An empty file (or a bare `~`) is an empty config: reported below as having no endpoint.
    // Errors as one line, as every dnsctl error: the message with its line and column.
    let file: File = serde_saphyr::from_str::<Option<File>>(text)
        .map_err(|e| bad(e.without_snippet().to_string()))?
        .unwrap_or_default();
    for setting in unknown_settings(&file) {
        eprintln!(
            "dnsctl: warning: config {}: unknown setting `{setting}` ignored",
            path.display()
        );
    }
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

/// The settings dnsctl does not know, such as `etcd.endpoint`: a typo must not silently fall
/// back to a default, but an old or newer config must still work, so they are warned about.
fn unknown_settings(file: &File) -> Vec<String> {
    let top = file.unknown.keys().cloned();
    let etcd = file.etcd.unknown.keys().map(|k| format!("etcd.{k}"));
    top.chain(etcd).collect()
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
fn parse_timeout(value: &serde_json::Value) -> std::result::Result<Duration, String> {
    let invalid = || format!("{value} is not a duration (write e.g. 5s, 500ms or 5)");
    let (number, unit): (f64, &str) = match value {
        serde_json::Value::Number(n) => (n.as_f64().ok_or_else(invalid)?, "s"),
        serde_json::Value::String(s) => {
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
            "{value} is out of range (more than 0, at most an hour)"
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

    /// A file that passes the PEM check, in a temp dir removed when the guard drops.
    fn pem_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("x.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        (dir, pem)
    }

    /// The timeout of a config that says `timeout: {written}`.
    fn timeout(written: &str) -> std::result::Result<Duration, String> {
        parse_str(&format!(
            "etcd:\n  endpoints: [http://a:1]\n  timeout: {written}\n"
        ))
        .map(|s| Duration::from_millis(s.etcd.timeout_ms))
        .map_err(|e| e.message)
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(timeout("5"), Ok(Duration::from_secs(5)));
        assert_eq!(timeout("\"7\""), Ok(Duration::from_secs(7)));
        assert_eq!(timeout("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(timeout("2m"), Ok(Duration::from_secs(120)));
        // Present but empty: the default.
        assert_eq!(timeout(""), Ok(Duration::from_secs(5)));
        assert_eq!(timeout("~"), Ok(Duration::from_secs(5)));
        for (bad, shown) in [
            ("0", "0 is out of range"),
            ("-1", "-1 is out of range"),
            ("5h", "\"5h\" is not a duration"),
            ("soon", "\"soon\" is not a duration"),
            ("[1]", "[1] is not a duration"),
            ("\"\"", "\"\" is not a duration"),
            ("true", "true is not a duration"),
        ] {
            let e = timeout(bad).unwrap_err();
            assert!(e.contains(&format!("etcd.timeout: {shown}")), "{bad}: {e}");
        }
    }

    #[test]
    fn the_issue_format_and_the_example_parse() {
        let (_dir, pem) = pem_file();
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

    /// Every setting `~/.dnsctl.yaml` has, written the ways operators write them.
    #[test]
    fn a_full_config_keeps_its_meaning() {
        let (_dir, pem) = pem_file();
        let text = [
            "# dnsctl",
            "dnskey: /hosts/            # a prefix",
            "etcd:",
            "  endpoints:",
            "    - https://10.0.0.1:2379",
            "    - \" https://10.0.0.2:2379 \"",
            "    - \"\"",
            "  cert: PEM",
            "  key: 'PEM'",
            "  ca: \"PEM\"",
            "  username: dnsctl",
            "  password: \"s3cret: #1\"",
            "  timeout: 500ms",
            "serve:",
            "  listen: 10.0.0.5:8053",
            "  status_key: /etcdhosts-status/",
            "  users:",
            "    alice: $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "    bob: \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$Ym9i\"",
        ]
        .join("\n")
        .replace("PEM", &pem.display().to_string());
        let s = parse_str(&text).unwrap();
        let c = &s.etcd;
        assert_eq!(c.key, "/hosts/");
        assert_eq!(
            c.endpoints,
            ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
        );
        let tls = c.tls.as_ref().unwrap();
        for file in [&tls.cert, &tls.key, &tls.ca] {
            assert_eq!(file.as_deref(), Some(pem.as_path()));
        }
        assert_eq!(c.username.as_deref(), Some("dnsctl"));
        assert_eq!(c.password.as_deref(), Some("s3cret: #1"));
        assert_eq!(c.timeout_ms, 500);
        assert_eq!(s.serve.listen.as_deref(), Some("10.0.0.5:8053"));
        assert_eq!(s.serve.status_key.as_deref(), Some("/etcdhosts-status/"));
        assert_eq!(
            s.serve.users.get("alice").map(String::as_str),
            Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        );
        assert_eq!(
            s.serve.users.get("bob").map(String::as_str),
            Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$Ym9i")
        );
        // Without a serve section: no users, no listen address.
        let s = parse_str("etcd:\n  endpoints: [http://a:1]\n").unwrap();
        assert!(s.serve.users.is_empty() && s.serve.listen.is_none());
        assert!(s.etcd.tls.is_none() && s.etcd.username.is_none());
    }

    #[test]
    fn empty_settings_mean_missing_ones() {
        let s = parse_str(
            "dnskey:\netcd:\n  endpoints: [http://a:1]\n  cert:\n  key:\n  ca:\n  \
             username:\n  password:\n  timeout:\nserve:\n",
        )
        .unwrap();
        assert_eq!(s.etcd.key, "/etcdhosts");
        assert!(s.etcd.tls.is_none() && s.etcd.username.is_none());
        assert_eq!(s.etcd.timeout_ms, 5000);
        let s =
            parse_str("etcd:\n  endpoints: [http://a:1]\nserve:\n  users:\n  listen:\n").unwrap();
        assert!(s.serve.users.is_empty() && s.serve.listen.is_none());
        // A number where text is expected is that text.
        let s = parse_str("etcd:\n  endpoints: [http://a:1]\n  username: 7\n  password: 12345\n")
            .unwrap();
        assert_eq!(s.etcd.username.as_deref(), Some("7"));
        assert_eq!(s.etcd.password.as_deref(), Some("12345"));
    }

    #[test]
    fn unknown_settings_are_named_and_ignored() {
        let text = "endpoint: http://a:1\ndnskey: /k\netcd:\n  endpoints: [http://a:1]\n  \
                    timout: 2s\n  extra: {a: [1, 2]}\n";
        let file: File = serde_saphyr::from_str(text).unwrap();
        assert_eq!(
            unknown_settings(&file),
            ["endpoint", "etcd.extra", "etcd.timout"]
        );
        let s = parse_str(text).unwrap();
        assert_eq!(s.etcd.key, "/k");
        assert_eq!(s.etcd.timeout_ms, 5000);
        // The console's settings are checked strictly: a typo there would open it wider.
        let e = parse_str("etcd:\n  endpoints: [http://a:1]\nserve:\n  user: {a: b}\n")
            .err()
            .unwrap();
        assert!(e.message.contains("user"), "{e}");
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
            ("", "no etcd endpoint"),
            ("# nothing yet\n\n", "no etcd endpoint"),
            ("~\n", "no etcd endpoint"),
            ("etcd:\n", "no etcd endpoint"),
            ("etcd:\n  endpoints:\n", "no etcd endpoint"),
            ("etcd: [1, 2]\n", "config test.yaml"),
            ("etcd:\n  endpoints: [http://a:1\n", "config test.yaml"),
            ("etcd:\n  endpoints: http://a:1\n", "config test.yaml"),
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
            assert!(!e.message.contains('\n'), "one line: {e}");
        }
    }
}
