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
    /// How long a console session lasts without a request: a duration such as `30m` or
    /// `12h` (the default), at most a week.
    pub session_idle: Option<serde_json::Value>,
}

impl Serve {
    pub fn session_idle(&self) -> Result<Duration> {
        match &self.session_idle {
            None => Ok(Duration::from_secs(12 * 3600)),
            Some(v) => parse_duration(v, 7 * 24 * 3600, "a week")
                .map_err(|m| Failure::new(Code::Config, format!("serve.session_idle: {m}"))),
        }
    }
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

/// The connection settings given on the command line, each mirroring an etcdctl flag.
/// A flag wins over its environment variable, which wins over the config file.
#[derive(Default, Clone)]
pub struct Flags {
    /// Comma-separated, as etcdctl's `--endpoints`.
    pub endpoints: Option<String>,
    pub cacert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    /// A user name only: a password on the command line would be visible to every user
    /// of the machine (`ps`), so it comes from `ETCDCTL_PASSWORD` or a prompt.
    pub user: Option<String>,
    pub dial_timeout: Option<String>,
    pub hosts_key: Option<String>,
}

/// The environment as dnsctl reads it: a variable that is set but empty counts as unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--config`, else `$DNSCTL_CONFIG` (both must exist), else `$HOME/.dnsctl.yaml` (which
/// may be missing when flags or the environment say where etcd is).
pub fn settings(config: Option<&Path>, flags: Flags, env: Env) -> Result<Settings> {
    let explicit = config
        .map(Path::to_path_buf)
        .or_else(|| env("DNSCTL_CONFIG").map(PathBuf::from));
    let path = match explicit.clone() {
        Some(p) => p,
        None => match env("HOME") {
            Some(home) => PathBuf::from(home).join(".dnsctl.yaml"),
            None => PathBuf::from("~/.dnsctl.yaml"),
        },
    };
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => Some(parse_file(&text, &path)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                Code::Config,
                format!(
                    "no config file at {} (write one with `dnsctl config > {}` and edit it)",
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
    resolve(file, &path, flags, env)
}

/// One setting's value and where it came from, so that an error names what to fix: the
/// flag, the environment variable, or the config file's setting.
struct Given<T> {
    value: T,
    from: String,
}

fn given<T>(value: T, from: &str) -> Option<Given<T>> {
    Some(Given {
        value,
        from: from.to_string(),
    })
}

fn parse_file(text: &str, path: &Path) -> Result<File> {
    // An empty file (or a bare `~`) is an empty config: reported later as having no endpoint.
    // Errors as one line, as every dnsctl error: the message with its line and column.
    let file: File = serde_saphyr::from_str::<Option<File>>(text)
        .map_err(|e| {
            Failure::new(
                Code::Config,
                format!("config {}: {}", path.display(), e.without_snippet()),
            )
        })?
        .unwrap_or_default();
    for setting in unknown_settings(&file) {
        eprintln!(
            "dnsctl: warning: config {}: unknown setting `{setting}` ignored",
            path.display()
        );
    }
    Ok(file)
}

/// Merges the flags, the environment and the config file (if there is one) into the
/// settings. `path` is where the config file is or would be, for messages.
fn resolve(file: Option<File>, path: &Path, flags: Flags, env: Env) -> Result<Settings> {
    let bad = |m: String| Failure::new(Code::Config, m);
    let have_file = file.is_some();
    let file = file.unwrap_or_default();
    let in_file = |setting: &str| format!("config {}: {setting}", path.display());
    // The flag, else the environment variable, else the config file's setting.
    let pick = |flag: Option<String>, env_name: &str, file: Option<String>, setting: &str| {
        let nonempty = |v: &String| !v.trim().is_empty();
        if let Some(value) = flag.filter(nonempty) {
            // etcdctl's flag for ETCDCTL_CACERT is --cacert, and so on.
            let flag_name = format!("--{}", env_name.trim_start_matches("ETCDCTL_"));
            return given(value, &flag_name.to_lowercase());
        }
        if let Some(value) = env(env_name).filter(nonempty) {
            return given(value, env_name);
        }
        file.filter(nonempty)
            .and_then(|value| given(value, &in_file(setting)))
    };
    let e = file.etcd;

    let file_endpoints = (!e.endpoints.is_empty()).then(|| e.endpoints.join(","));
    let endpoints: Vec<String> = pick(
        flags.endpoints,
        "ETCDCTL_ENDPOINTS",
        file_endpoints,
        "etcd.endpoints",
    )
    .map(|g| {
        g.value
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default();
    if endpoints.is_empty() {
        let hint = if have_file {
            format!("or write etcd.endpoints in {}", path.display())
        } else {
            format!(
                "or write a config file (no config file at {}: `dnsctl config` prints one to \
                 edit)",
                path.display()
            )
        };
        return Err(bad(format!(
            "no etcd endpoint is configured: pass --endpoints or set ETCDCTL_ENDPOINTS, {hint}"
        )));
    }

    let ca = pick(flags.cacert, "ETCDCTL_CACERT", e.ca, "etcd.ca");
    let cert = pick(flags.cert, "ETCDCTL_CERT", e.cert, "etcd.cert");
    let key = pick(flags.key, "ETCDCTL_KEY", e.key, "etcd.key");
    // Checked before the files are read and before a password prompt: the core's rule,
    // naming where each was given.
    let pair = etcdhosts::config::client_pair(
        cert.as_ref().map(|g| g.from.as_str()),
        key.as_ref().map(|g| g.from.as_str()),
    );
    let ways = "--cert and --key, ETCDCTL_CERT and ETCDCTL_KEY, or etcd.cert and etcd.key";
    pair.map_err(|reason| bad(format!("{reason} ({ways})")))?;
    for g in [&cert, &key, &ca].into_iter().flatten() {
        check_pem(&g.from, Path::new(&g.value)).map_err(bad)?;
    }
    let as_path = |g: Option<Given<String>>| g.map(|g| PathBuf::from(g.value));
    let (cert, key, ca) = (as_path(cert), as_path(key), as_path(ca));
    let any_https = endpoints.iter().any(|e| e.starts_with("https://"));
    let tls = (cert.is_some() || ca.is_some() || any_https).then_some(TlsFiles { cert, key, ca });

    let (username, password) = credentials(flags.user, e.username, e.password, env, &in_file)?;
    if password
        .as_ref()
        .is_some_and(|p| p.from.starts_with("config "))
    {
        warn_if_readable_by_others(path);
    }

    let as_value = |t: Option<String>| t.map(serde_json::Value::String);
    let timeout = match (
        as_value(flags.dial_timeout),
        as_value(env("ETCDCTL_DIAL_TIMEOUT")),
    ) {
        (Some(t), _) => given(t, "--dial-timeout"),
        (None, Some(t)) => given(t, "ETCDCTL_DIAL_TIMEOUT"),
        (None, None) => e.timeout.and_then(|t| given(t, &in_file("etcd.timeout"))),
    };
    let timeout = match timeout {
        None => Duration::from_secs(5),
        Some(g) => parse_timeout(&g.value).map_err(|m| bad(format!("{}: {m}", g.from)))?,
    };

    let key = match flags.hosts_key.filter(|k| !k.trim().is_empty()) {
        Some(k) => k,
        None => env("DNSCTL_HOSTS_KEY")
            .or(file.dnskey)
            .filter(|k| !k.trim().is_empty())
            .unwrap_or_else(|| "/etcdhosts".to_string()),
    };
    let config = Config {
        endpoints,
        key: key.trim().to_string(),
        username: username.map(|g| g.value),
        password: password.map(|g| g.value),
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

/// The etcd user and its password.
type Credentials = (Option<Given<String>>, Option<Given<String>>);

/// A user from `--user` or `ETCDCTL_USER` takes its password from `ETCDCTL_PASSWORD`, else
/// from a prompt on a terminal; `ETCDCTL_USER` may also be `NAME:PASSWORD`, as for etcdctl
/// (the environment is not visible to other users, the command line is). A user from the
/// config file comes with the file's password, unless `ETCDCTL_PASSWORD` is set.
fn credentials(
    flag: Option<String>,
    file_user: Option<String>,
    file_password: Option<String>,
    env: Env,
    in_file: &dyn Fn(&str) -> String,
) -> Result<Credentials> {
    let env_password = env("ETCDCTL_PASSWORD");
    let password_for = |user: &str, from: &str| match &env_password {
        Some(p) => Ok(given(p.clone(), "ETCDCTL_PASSWORD")),
        None => prompt_password(user, from).map(|p| given(p, "the prompt")),
    };
    if let Some(user) = flag.filter(|u| !u.is_empty()) {
        if user.contains(':') {
            return fail(
                Code::Usage,
                "--user takes a user name only: a password on the command line is visible to \
                 every user of the machine; set ETCDCTL_PASSWORD or type it at the prompt",
            );
        }
        let password = password_for(&user, "--user")?;
        return Ok((given(user, "--user"), password));
    }
    if let Some(user) = env("ETCDCTL_USER") {
        let (user, password) = match user.split_once(':') {
            Some((u, p)) => (u.to_string(), given(p.to_string(), "ETCDCTL_USER")),
            None => (user.clone(), password_for(&user, "ETCDCTL_USER")?),
        };
        return Ok((given(user, "ETCDCTL_USER"), password));
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let together = "etcd.username and etcd.password must be set together";
    match (nonempty(file_user), nonempty(file_password)) {
        (None, None) => Ok((None, None)),
        (Some(user), password) => {
            let password = match (env_password, password) {
                (Some(p), _) => given(p, "ETCDCTL_PASSWORD"),
                (None, Some(p)) => given(p, &in_file("etcd.password")),
                (None, None) => {
                    let from = in_file("etcd.username");
                    return fail(
                        Code::Config,
                        format!("{from} without a password: {together}"),
                    );
                }
            };
            Ok((given(user, &in_file("etcd.username")), password))
        }
        (None, Some(_)) => {
            let from = in_file("etcd.password");
            fail(
                Code::Config,
                format!("{from} without a user name: {together}"),
            )
        }
    }
}

/// Asks for the password of `user` on the terminal, without echo.
fn prompt_password(user: &str, from: &str) -> Result<String> {
    crate::output::read_secret(&format!("Password for etcd user {user}:")).ok_or_else(|| {
        Failure::new(
            Code::Config,
            format!(
                "{from} names etcd user {user} but there is no password: set ETCDCTL_PASSWORD \
                 (or run dnsctl on a terminal to be asked)"
            ),
        )
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
fn check_pem(from: &str, path: &Path) -> std::result::Result<(), String> {
    let data =
        std::fs::read(path).map_err(|e| format!("{from}: cannot read {}: {e}", path.display()))?;
    if !data.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(format!(
            "{from}: {} is not a PEM file (no -----BEGIN line)",
            path.display()
        ));
    }
    Ok(())
}

/// `5s`, `500ms`, `1m`, `1.5s`, or a bare number of seconds (`5`, `"5"`).
fn parse_timeout(value: &serde_json::Value) -> std::result::Result<Duration, String> {
    parse_duration(value, 3600, "an hour")
}

/// A number of seconds, or a number with one of the units ms, s, m, h; more than 0 and at
/// most `max_seconds` (`max_text` in words).
fn parse_duration(
    value: &serde_json::Value,
    max_seconds: u64,
    max_text: &str,
) -> std::result::Result<Duration, String> {
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
        "h" => number * 3600.0,
        _ => return Err(invalid()),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= max_seconds as f64) {
        return Err(format!(
            "{value} is out of range (more than 0, at most {max_text})"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Settings> {
        with(text, Flags::default(), &[])
    }

    /// The settings from a config file's text, flags and an environment.
    fn with(text: &str, flags: Flags, env: &[(&str, &str)]) -> Result<Settings> {
        let path = Path::new("test.yaml");
        let env = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        resolve(Some(parse_file(text, path)?), path, flags, &env)
    }

    #[test]
    fn a_flag_wins_over_the_environment_which_wins_over_the_file() {
        let (_dir, pem) = pem_file();
        let p = pem.display().to_string();
        let file = "dnskey: /file\netcd:\n  endpoints: [http://file:1]\n  timeout: 3s\n  \
                    username: fileuser\n  password: filepw\n";
        let s = parse_str(file).unwrap();
        assert_eq!(s.etcd.endpoints, ["http://file:1"]);
        assert_eq!((s.etcd.key.as_str(), s.etcd.timeout_ms), ("/file", 3000));
        assert_eq!(s.etcd.password.as_deref(), Some("filepw"));

        let env = [
            ("ETCDCTL_ENDPOINTS", "https://env:1,https://env:2"),
            ("ETCDCTL_DIAL_TIMEOUT", "2s"),
            ("ETCDCTL_CACERT", p.as_str()),
            ("ETCDCTL_USER", "envuser:envpw"),
            ("DNSCTL_HOSTS_KEY", "/env"),
        ];
        let s = with(file, Flags::default(), &env).unwrap();
        assert_eq!(s.etcd.endpoints, ["https://env:1", "https://env:2"]);
        assert_eq!((s.etcd.key.as_str(), s.etcd.timeout_ms), ("/env", 2000));
        assert_eq!(s.etcd.username.as_deref(), Some("envuser"));
        assert_eq!(s.etcd.password.as_deref(), Some("envpw"));
        assert_eq!(s.etcd.tls.unwrap().ca.as_deref(), Some(pem.as_path()));

        let flags = Flags {
            endpoints: Some("http://flag:1".into()),
            dial_timeout: Some("1s".into()),
            user: Some("flaguser".into()),
            hosts_key: Some("/flag".into()),
            ..Flags::default()
        };
        let env = [
            ("ETCDCTL_PASSWORD", "flagpw"),
            ("ETCDCTL_ENDPOINTS", "http://env:1"),
        ];
        let s = with(file, flags.clone(), &env).unwrap();
        assert_eq!(s.etcd.endpoints, ["http://flag:1"]);
        assert_eq!((s.etcd.key.as_str(), s.etcd.timeout_ms), ("/flag", 1000));
        assert_eq!(s.etcd.username.as_deref(), Some("flaguser"));
        assert_eq!(s.etcd.password.as_deref(), Some("flagpw"));

        // A password never comes from the command line.
        let e = with(
            file,
            Flags {
                user: Some("u:pw".into()),
                ..flags
            },
            &env,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, Code::Usage);
        // Errors name the flag or variable to fix.
        let e = with(file, Flags::default(), &[("ETCDCTL_CERT", p.as_str())])
            .err()
            .unwrap();
        assert!(e.message.starts_with("ETCDCTL_CERT is set alone"), "{e}");
        let flags = Flags {
            dial_timeout: Some("soon".into()),
            ..Flags::default()
        };
        let e = with(file, flags, &[]).err().unwrap();
        assert!(
            e.message
                .starts_with("--dial-timeout: \"soon\" is not a duration"),
            "{e}"
        );
    }

    #[test]
    fn no_config_file_is_needed_when_the_environment_says_enough() {
        let env = |name: &str| (name == "ETCDCTL_ENDPOINTS").then(|| "http://a:1".to_string());
        let s = resolve(
            None,
            Path::new("/home/x/.dnsctl.yaml"),
            Flags::default(),
            &env,
        )
        .unwrap();
        assert_eq!(
            (s.etcd.key.as_str(), s.etcd.endpoints.len()),
            ("/etcdhosts", 1)
        );
        let e = resolve(
            None,
            Path::new("/home/x/.dnsctl.yaml"),
            Flags::default(),
            &|_| None,
        )
        .err()
        .unwrap();
        assert!(
            e.message.contains("no config file at /home/x/.dnsctl.yaml"),
            "{e}"
        );
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
            (
                "5h",
                "\"5h\" is out of range (more than 0, at most an hour)",
            ),
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

    #[test]
    fn session_idle_is_a_duration_up_to_a_week() {
        let idle = |v: &str| {
            parse_str(&format!(
                "etcd:\n  endpoints: [http://a:1]\nserve:\n  session_idle: {v}\n"
            ))
            .unwrap()
            .serve
            .session_idle()
            .map_err(|f| f.message)
        };
        assert_eq!(idle("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(idle("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(idle("168h"), Ok(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(
            idle("169h"),
            Err(
                "serve.session_idle: \"169h\" is out of range (more than 0, at most a week)".into()
            )
        );
        assert!(idle("soon").unwrap_err().contains("not a duration"));
        let default = parse_str("etcd:\n  endpoints: [http://a:1]\n").unwrap();
        assert_eq!(
            default.serve.session_idle().ok(),
            Some(Duration::from_secs(12 * 3600))
        );
    }
}
