//! The configuration of one instance: its settings, their defaults, and every check that
//! can be made without etcd.
//!
//! A Corefile block arrives as its tokens ([`Block`], from the Go shim) and is turned into a
//! [`Config`] here; dnsctl builds a `Config` itself. Either way [`Config::validate`] is the
//! one place a setting's value is checked.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::hosts;
use crate::table::TableOptions;
use crate::zones::Zones;

/// The etcd endpoint without `endpoint`; its scheme follows `tls`.
const DEFAULT_ENDPOINT: &str = "127.0.0.1:2379";
const DEFAULT_KEY: &str = "/etcdhosts";
const DEFAULT_TTL: u32 = 3600;
const DEFAULT_TIMEOUT_MS: u64 = 5000;
/// `force_reload` periods shorter than this would re-read etcd all the time.
const MIN_FORCE_RELOAD_MS: u64 = 1000;

/// One `etcdhosts` block of a Corefile, as the Go shim hands it over: tokens, nothing
/// interpreted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Block {
    /// The block's zones, as CoreDNS gives them: the directive's arguments, else the
    /// server block's keys.
    pub zones: Vec<String>,
    /// Each line inside the braces, as its tokens: an option and its arguments, or an
    /// inline hosts line.
    pub lines: Vec<Vec<String>>,
    /// The server's `root`, against which relative paths are resolved.
    pub root: String,
    /// The server block's `bind` addresses and its port.
    pub listen_hosts: Vec<String>,
    pub port: String,
}

/// Why a config was refused: the option and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The line of the [`Block`] at fault (an index into `lines`), if one is.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The settings of one instance.
#[derive(Debug, Clone)]
pub struct Config {
    pub endpoints: Vec<String>,
    pub key: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Present means TLS is on; each file is optional (CoreDNS's 0-3 argument convention).
    pub tls: Option<TlsFiles>,
    pub timeout_ms: u64,
    pub ttl: u32,
    /// The zones answered for; none means every name.
    pub zones: Vec<String>,
    pub no_reverse: bool,
    /// Hosts lines written in the Corefile block itself.
    pub inline: String,
    /// Re-read the key when the watch has been silent this long; 0 = never.
    pub force_reload_ms: u64,
    pub snapshot: Option<PathBuf>,
    /// Fleet status: keep a lease-backed key under this prefix describing this instance
    /// (see `status`). None = write nothing at all.
    pub status_key: Option<String>,
    /// The address the server block listens on, `IP:PORT` or `:PORT`: with the host name,
    /// the instance's name in the fleet status.
    pub listen: String,
}

#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoints: vec![with_scheme(DEFAULT_ENDPOINT, false)],
            key: DEFAULT_KEY.to_string(),
            username: None,
            password: None,
            tls: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            ttl: DEFAULT_TTL,
            zones: Vec::new(),
            no_reverse: false,
            inline: String::new(),
            force_reload_ms: 0,
            snapshot: None,
            status_key: None,
            listen: String::new(),
        }
    }
}

impl Config {
    /// The config of a Corefile block sent as JSON ([`Block`]), validated.
    pub fn from_block_json(json: &[u8]) -> Result<Config, ConfigError> {
        let block: Block = serde_json::from_slice(json).map_err(|e| ConfigError {
            line: None,
            message: format!("invalid block: {e}"),
        })?;
        Config::from_block(&block)
    }

    /// The config of a Corefile block, validated.
    pub fn from_block(block: &Block) -> Result<Config, ConfigError> {
        let mut config = Config {
            zones: block.zones.clone(),
            listen: listen_address(&block.listen_hosts, &block.port),
            ..Config::default()
        };
        let mut seen = HashSet::new();
        let mut endpoints: Vec<(usize, &str)> = Vec::new();
        for (at, line) in block.lines.iter().enumerate() {
            let at_line = |message: String| ConfigError {
                line: Some(at),
                message,
            };
            let Some((name, args)) = line.split_first() else {
                continue;
            };
            if hosts::parse_addr(name.as_bytes()).is_some() {
                if args.is_empty() {
                    return Err(at_line(format!("inline hosts line '{name}' has no names")));
                }
                config.inline.push_str(&line.join(" "));
                config.inline.push('\n');
                continue;
            }
            let set =
                match name.as_str() {
                    "ttl" => one(args, "number of seconds").and_then(|v| {
                        config.ttl = v
                            .parse()
                            .map_err(|_| format!("needs a number of seconds, got '{v}'"))?;
                        Ok(())
                    }),
                    "no_reverse" if args.is_empty() => {
                        config.no_reverse = true;
                        Ok(())
                    }
                    "no_reverse" => Err("takes no arguments".into()),
                    // Its zones are the Go shim's: CoreDNS's `fall` package.
                    "fallthrough" => Ok(()),
                    "key" => one(args, "etcd key").map(|v| config.key = v.to_string()),
                    "endpoint" if args.is_empty() => Err("needs at least one URL".into()),
                    "endpoint" => {
                        endpoints.extend(args.iter().map(|a| (at, a.as_str())));
                        Ok(())
                    }
                    "credentials" => match args {
                        [user, password] => {
                            config.username = Some(user.clone());
                            config.password = Some(password.clone());
                            Ok(())
                        }
                        _ => Err("needs a user name and a password".into()),
                    },
                    "tls" => tls_files(&block.root, args).map(|files| config.tls = Some(files)),
                    "timeout" => duration(args).map(|d| config.timeout_ms = d.as_millis() as u64),
                    "force_reload" => {
                        duration(args).map(|d| config.force_reload_ms = d.as_millis() as u64)
                    }
                    "snapshot" => one(args, "file path")
                        .map(|v| config.snapshot = Some(absolute(&block.root, v))),
                    "status_key" => one(args, "etcd key prefix")
                        .map(|v| config.status_key = Some(v.to_string())),
                    _ => return Err(at_line(format!("unknown property '{name}'"))),
                };
            set.map_err(|reason| at_line(format!("{name}: {reason}")))?;
            if name != "endpoint" && !seen.insert(name.as_str()) {
                return Err(at_line(format!("{name}: given more than once")));
            }
        }

        // An https:// endpoint means TLS (with the system roots unless `tls` names a CA);
        // a bare host:port then gets https:// too.
        if endpoints.iter().any(|(_, e)| has_scheme(e, "https")) {
            config.tls.get_or_insert_with(TlsFiles::default);
        }
        let tls = config.tls.is_some();
        config.endpoints = if endpoints.is_empty() {
            vec![with_scheme(DEFAULT_ENDPOINT, tls)]
        } else {
            endpoints
                .iter()
                .map(|&(at, e)| {
                    endpoint_url(e, tls).map_err(|reason| ConfigError {
                        line: Some(at),
                        message: format!("endpoint: '{e}' is invalid: {reason}"),
                    })
                })
                .collect::<Result<_, _>>()?
        };

        config.check().map_err(|(option, reason)| ConfigError {
            line: block
                .lines
                .iter()
                .position(|l| l.first().map(String::as_str) == Some(option)),
            message: format!("{option}: {reason}"),
        })?;
        Ok(config)
    }

    /// Checks every setting that can be checked without etcd, so that a bad Corefile stops
    /// CoreDNS at once. The message names the option (as the Corefile spells it).
    pub fn validate(&self) -> Result<(), String> {
        self.check()
            .map_err(|(option, reason)| format!("{option}: {reason}"))
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.endpoints.is_empty() {
            return Err(("endpoint", "at least one etcd endpoint is needed".into()));
        }
        if self.key.is_empty() {
            return Err(("key", "the etcd key is empty".into()));
        }
        if !(1..=65535).contains(&self.ttl) {
            return Err(("ttl", format!("{} is not in 1..65535", self.ttl)));
        }
        if self.timeout_ms == 0 {
            return Err(("timeout", "must be at least 1ms".into()));
        }
        if self.force_reload_ms != 0 && self.force_reload_ms < MIN_FORCE_RELOAD_MS {
            return Err(("force_reload", "must be 0 (off) or at least 1s".into()));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err((
                "credentials",
                "both a username and a password are needed".into(),
            ));
        }
        if let Some(tls) = &self.tls {
            let given = |file: &Option<PathBuf>, name| file.as_ref().map(|_| name);
            client_pair(given(&tls.cert, "CERT"), given(&tls.key, "KEY"))
                .map_err(|reason| ("tls", reason))?;
            for path in [&tls.cert, &tls.key, &tls.ca].into_iter().flatten() {
                readable_file(path).map_err(|reason| ("tls", reason))?;
            }
            if let Some(e) = self.endpoints.iter().find(|e| has_scheme(e, "http")) {
                return Err(("endpoint", format!("{e} is plain http but tls is set")));
            }
        }
        if let Some(path) = &self.snapshot {
            check_snapshot(path).map_err(|reason| ("snapshot", reason))?;
        }
        if let Some(prefix) = self.status_prefix() {
            if self.status_key.as_deref() == Some("") {
                return Err(("status_key", "the prefix is empty".into()));
            }
            if self.listen.is_empty() {
                return Err(("status_key", "the listen address is unknown".into()));
            }
            // A status key the hosts watch sees would reload the table on every status
            // write, and every reload writes the status again.
            if (self.is_prefix() && prefix.starts_with(&self.key)) || self.key.starts_with(&prefix)
            {
                return Err((
                    "status_key",
                    format!(
                        "{prefix} overlaps the hosts key {}; use a prefix of its own",
                        self.key
                    ),
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

    /// What the table needs of this config: its zones, TTL and reverse setting.
    pub fn table_options(&self) -> TableOptions {
        TableOptions {
            zones: Zones::new(&self.zones),
            ttl: self.ttl,
            no_reverse: self.no_reverse,
        }
    }
}

/// A client certificate needs its key, and a key its certificate. `cert` and `key` name
/// each setting as the operator gave it (a Corefile argument, a dnsctl flag), if given.
pub fn client_pair(cert: Option<&str>, key: Option<&str>) -> Result<(), String> {
    match (cert, key) {
        (Some(alone), None) | (None, Some(alone)) => Err(format!(
            "{alone} is set alone: a client certificate and its key must be set together"
        )),
        _ => Ok(()),
    }
}

fn one<'a>(args: &'a [String], what: &str) -> Result<&'a str, String> {
    match args {
        [arg] => Ok(arg),
        _ => Err(format!("needs exactly one {what}")),
    }
}

/// A duration in Go's syntax (`1500ms`, `5m`, `1h30m`), as CoreDNS's Corefiles write them.
fn duration(args: &[String]) -> Result<Duration, String> {
    let text = one(args, "duration")?;
    let invalid = || format!("invalid duration '{text}'");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let digits = |d: &str| -> Result<u128, String> {
            match d {
                "" => Ok(0),
                d => d.parse().map_err(|_| invalid()),
            }
        };
        // Nanoseconds need no more than 18 digits of a fraction (of an hour).
        let fraction = &fraction[..fraction.len().min(18)];
        let scale = 10u128.pow(fraction.len() as u32);
        nanos = digits(whole)?
            .checked_mul(unit)
            .and_then(|n| n.checked_add(digits(fraction).ok()? * unit / scale))
            .and_then(|n| n.checked_add(nanos))
            .ok_or_else(invalid)?;
        rest = next;
    }
    if negative && nanos > 0 {
        return Err(format!("negative duration '{text}'"));
    }
    Ok(Duration::from_nanos(
        u64::try_from(nanos).map_err(|_| invalid())?,
    ))
}

/// CoreDNS's `tls` convention: no arguments: the server certificate is checked against the
/// system roots; CACERT; CERT KEY; CERT KEY CACERT.
fn tls_files(root: &str, args: &[String]) -> Result<TlsFiles, String> {
    let path = |i: usize| Some(absolute(root, &args[i]));
    Ok(match args.len() {
        0 => TlsFiles::default(),
        1 => TlsFiles {
            ca: path(0),
            ..TlsFiles::default()
        },
        2 => TlsFiles {
            cert: path(0),
            key: path(1),
            ca: None,
        },
        3 => TlsFiles {
            cert: path(0),
            key: path(1),
            ca: path(2),
        },
        n => {
            return Err(format!(
                "takes at most 3 arguments ([CERT KEY] [CACERT]), got {n}"
            ))
        }
    })
}

/// `path` resolved against the server's root, made absolute.
fn absolute(root: &str, path: &str) -> PathBuf {
    let path = Path::new(path);
    let path = if path.is_relative() && !root.is_empty() {
        Path::new(root).join(path)
    } else {
        path.to_path_buf()
    };
    std::path::absolute(&path).unwrap_or(path)
}

fn readable_file(path: &Path) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    if std::fs::metadata(path).map_err(cannot)?.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    std::fs::File::open(path).map(drop).map_err(cannot)
}

fn check_snapshot(path: &Path) -> Result<(), String> {
    let (Some(_), Some(dir)) = (path.file_name(), path.parent()) else {
        return Err(format!("{} is not a file path", path.display()));
    };
    if path.is_dir() {
        return Err(format!("{} is a directory", path.display()));
    }
    if !dir.is_dir() {
        return Err(format!("directory {} does not exist", dir.display()));
    }
    Ok(())
}

/// Whether `endpoint` is `scheme://...`, in any case.
fn has_scheme(endpoint: &str, scheme: &str) -> bool {
    endpoint
        .split_once("://")
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case(scheme))
}

/// `host:port` with the scheme TLS needs.
fn with_scheme(host_port: &str, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host_port}")
}

/// An endpoint as `scheme://host[:port]`: a bare `host:port` gets the scheme `tls` calls for.
pub fn endpoint_url(endpoint: &str, tls: bool) -> Result<String, String> {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => return endpoint_url(&with_scheme(endpoint, tls), tls),
    };
    if scheme != "http" && scheme != "https" {
        return Err("scheme must be http or https".into());
    }
    let address = rest.strip_suffix('/').unwrap_or(rest);
    if address.contains(['/', '?', '#', '@']) {
        return Err("only scheme://host[:port] is allowed".into());
    }
    let (host, port) = match address.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or("no closing ']'")?;
            match after {
                "" => (host, None),
                after => (host, Some(after.strip_prefix(':').ok_or("bad port")?)),
            }
        }
        None if address.matches(':').count() > 1 => {
            return Err("an IPv6 address needs brackets: [ADDRESS]:PORT".into())
        }
        None => match address.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        },
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if port.is_some_and(|p| !matches!(p.parse::<u16>(), Ok(1..))) {
        return Err("bad port".into());
    }
    Ok(format!("{scheme}://{address}"))
}

/// The block's listen address: its first `bind` address with the port, or `:PORT` without
/// `bind`.
fn listen_address(hosts: &[String], port: &str) -> String {
    match hosts.first().map(String::as_str) {
        None | Some("") => format!(":{port}"),
        Some(host) if host.contains(':') => format!("[{host}]:{port}"),
        Some(host) => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests;
