//! Corefile blocks -> configs: the defaults, every option, and every refusal (the cases the
//! Go shim's setup tests held, and the end-to-end malformed Corefiles).

use super::*;

/// A block from lines of space-separated tokens.
fn block(lines: &[&str]) -> Block {
    Block {
        zones: vec![],
        lines: lines
            .iter()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect(),
        root: String::new(),
        listen_hosts: vec!["127.0.0.1".into()],
        port: "53".into(),
    }
}

fn config(lines: &[&str]) -> Config {
    Config::from_block(&block(lines)).unwrap_or_else(|e| panic!("{lines:?}: {e}"))
}

fn error(lines: &[&str]) -> ConfigError {
    Config::from_block(&block(lines)).expect_err(&format!("{lines:?} accepted"))
}

/// Three files the tls option can name, in a temp dir that lives as long as the value.
struct Files {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, "-").unwrap();
        path
    };
    Files {
        cert: write("client.pem"),
        key: write("client-key.pem"),
        ca: write("ca.pem"),
        dir,
    }
}

#[test]
fn an_empty_block_gets_the_defaults() {
    let c = config(&[]);
    assert_eq!(c.endpoints, ["http://127.0.0.1:2379"]);
    assert_eq!(c.key, "/etcdhosts");
    assert_eq!((c.ttl, c.timeout_ms, c.force_reload_ms), (3600, 5000, 0));
    assert!(c.tls.is_none() && c.snapshot.is_none() && c.status_key.is_none());
    assert!(!c.no_reverse && c.inline.is_empty() && c.zones.is_empty());
    assert_eq!(c.listen, "127.0.0.1:53");
    assert_eq!(Config::default().endpoints, c.endpoints);
}

#[test]
fn every_option() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snap.hosts");
    let snapshot_line = format!("snapshot {}", snapshot.display());
    let mut b = block(&[
        "10.0.0.1 a.example.org a",
        "fe80::1%eth0 b.example.org",
        "::ffff:10.0.0.2 c.example.org",
        "ttl 60",
        "no_reverse",
        "key /dns/hosts/",
        "endpoint http://10.0.0.1:2379 10.0.0.2:2379",
        "endpoint http://[::1]:2379 HTTP://10.0.0.3:2379/",
        "credentials root pw",
        "timeout 1500ms",
        "force_reload 5m",
        &snapshot_line,
        "status_key /etcdhosts-status",
        "fallthrough",
        "10.0.0.3 d.example.org",
    ]);
    b.zones = vec!["example.org.".into()];
    b.lines[8][2] = "p@ss word".into();
    let c = Config::from_block(&b).unwrap();
    assert_eq!(
        c.inline,
        "10.0.0.1 a.example.org a\nfe80::1%eth0 b.example.org\n::ffff:10.0.0.2 c.example.org\n10.0.0.3 d.example.org\n"
    );
    assert_eq!((c.ttl, c.no_reverse), (60, true));
    assert_eq!(c.key, "/dns/hosts/");
    assert_eq!(
        c.endpoints,
        [
            "http://10.0.0.1:2379",
            "http://10.0.0.2:2379",
            "http://[::1]:2379",
            "http://10.0.0.3:2379"
        ]
    );
    assert_eq!(c.username.as_deref(), Some("root"));
    assert_eq!(c.password.as_deref(), Some("p@ss word"));
    assert_eq!((c.timeout_ms, c.force_reload_ms), (1500, 300_000));
    assert_eq!(c.snapshot, Some(snapshot));
    assert_eq!(c.status_key.as_deref(), Some("/etcdhosts-status"));
    assert_eq!(c.status_prefix().as_deref(), Some("/etcdhosts-status/"));
    assert_eq!(c.zones, ["example.org."]);
}

#[test]
fn tls_follows_coredns_conventions() {
    let f = files();
    let (cert, key, ca) = (f.cert.display(), f.key.display(), f.ca.display());
    let tls = |lines: &[&str]| {
        let c = config(lines);
        let t = c.tls.expect("tls on");
        (c.endpoints, t.cert, t.key, t.ca)
    };
    assert_eq!(
        tls(&["tls", "endpoint https://etcd:2379"]),
        (vec!["https://etcd:2379".into()], None, None, None)
    );
    assert_eq!(
        tls(&[&format!("tls {ca}")]),
        (
            vec!["https://127.0.0.1:2379".into()],
            None,
            None,
            Some(f.ca.clone())
        )
    );
    assert_eq!(
        tls(&[&format!("tls {cert} {key}"), "endpoint 10.0.0.1:2379"]),
        (
            vec!["https://10.0.0.1:2379".into()],
            Some(f.cert.clone()),
            Some(f.key.clone()),
            None
        )
    );
    assert_eq!(
        tls(&[
            &format!("tls {cert} {key} {ca}"),
            "endpoint https://10.0.0.1:2379 https://10.0.0.2:2379"
        ]),
        (
            vec![
                "https://10.0.0.1:2379".into(),
                "https://10.0.0.2:2379".into()
            ],
            Some(f.cert.clone()),
            Some(f.key.clone()),
            Some(f.ca.clone())
        )
    );
    // An https endpoint alone turns TLS on with the system roots.
    assert_eq!(
        tls(&["endpoint https://10.0.0.1:2379 10.0.0.2:2379"]),
        (
            vec![
                "https://10.0.0.1:2379".into(),
                "https://10.0.0.2:2379".into()
            ],
            None,
            None,
            None
        )
    );
}

#[test]
fn relative_paths_are_resolved_against_the_root() {
    let f = files();
    let mut b = block(&["tls ca.pem", "snapshot snap.hosts"]);
    b.root = f.dir.path().display().to_string();
    let c = Config::from_block(&b).unwrap();
    assert_eq!(c.tls.unwrap().ca, Some(f.ca.clone()));
    assert_eq!(c.snapshot, Some(f.dir.path().join("snap.hosts")));
}

#[test]
fn every_refusal_names_the_option_and_its_line() {
    let f = files();
    let dir = f.dir.path().display().to_string();
    let missing = f.dir.path().join("missing.pem").display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["ttl"], "ttl: needs exactly one number of seconds"),
        (&["ttl 0"], "ttl: 0 is not in 1..65535"),
        (&["ttl 65536"], "ttl: 65536 is not in 1..65535"),
        (&["ttl -1"], "ttl: needs a number of seconds, got '-1'"),
        (&["ttl abc"], "ttl: needs a number of seconds, got 'abc'"),
        (&["ttl 1 2"], "ttl: needs exactly one"),
        (&["ttl 30", "ttl 40"], "ttl: given more than once"),
        (&["no_reverse yes"], "no_reverse: takes no arguments"),
        (&["key"], "key: needs exactly one etcd key"),
        (&["key a b"], "key: needs exactly one etcd key"),
        (&["endpoint"], "endpoint: needs at least one URL"),
        (
            &["endpoint ftp://10.0.0.1:2379"],
            "endpoint: 'ftp://10.0.0.1:2379' is invalid: scheme must be http or https",
        ),
        (&["endpoint http://10.0.0.1:99999"], "is invalid: bad port"),
        (&["endpoint http://10.0.0.1:2379/v3"], "is invalid: only scheme://host[:port]"),
        (&["endpoint http://"], "is invalid: no host"),
        (&["endpoint http://::1:2379"], "is invalid: an IPv6 address needs brackets"),
        (&["credentials root"], "credentials: needs a user name and a password"),
        (&["credentials a b c"], "credentials: needs a user name and a password"),
        (&[&format!("tls {missing}")], "tls: cannot read"),
        (&[&format!("tls {} {missing}", f.cert.display())], "tls: cannot read"),
        (&[&format!("tls {dir}")], "is a directory"),
        (&["tls a b c d"], "tls: takes at most 3 arguments"),
        (
            &["tls", "endpoint http://10.0.0.1:2379"],
            "endpoint: http://10.0.0.1:2379 is plain http but tls is set",
        ),
        (&["timeout"], "timeout: needs exactly one duration"),
        (&["timeout 5"], "timeout: invalid duration '5'"),
        (&["timeout forever"], "timeout: invalid duration 'forever'"),
        (&["timeout -1s"], "timeout: negative duration '-1s'"),
        (&["timeout 0s"], "timeout: must be at least 1ms"),
        (&["timeout 500us"], "timeout: must be at least 1ms"),
        (&["force_reload soon"], "force_reload: invalid duration"),
        (&["force_reload -5s"], "force_reload: negative duration"),
        (&["force_reload 10ms"], "force_reload: must be 0 (off) or at least 1s"),
        (&["snapshot"], "snapshot: needs exactly one file path"),
        (
            &["snapshot /nonexistent-dir/x/snap"],
            "snapshot: directory /nonexistent-dir/x does not exist",
        ),
        (&[&format!("snapshot {dir}")], "snapshot: "),
        (&["snapshot /"], "snapshot: / is not a file path"),
        (&["status_key"], "status_key: needs exactly one etcd key prefix"),
        (&["status_key /a/ /b/"], "status_key: needs exactly one etcd key prefix"),
        (&["status_key /s/", "status_key /t/"], "status_key: given more than once"),
        (
            &["key /etcdhosts/", "status_key /etcdhosts/status"],
            "status_key: /etcdhosts/status/ overlaps the hosts key /etcdhosts/; use a prefix of its own",
        ),
        (&["status_key /"], "status_key: / overlaps"),
        (&["10.0.0.1"], "inline hosts line '10.0.0.1' has no names"),
        (&["reload 5s"], "unknown property 'reload'"),
        (&["fallthrough", "bogus"], "unknown property 'bogus'"),
        (&["example.org 10.0.0.1"], "unknown property 'example.org'"),
    ];
    for (lines, want) in cases {
        let e = error(lines);
        assert!(e.message.contains(want), "{lines:?}: {e}");
        assert_eq!(e.line, Some(lines.len() - 1), "{lines:?}: {e}");
    }
    // A value checked once the block is read points at the line of its option.
    let e = error(&["status_key /etc", "key /etc/hosts"]);
    assert_eq!(e.line, Some(0), "{e}");
}

#[test]
fn the_block_arrives_as_json() {
    let c = Config::from_block_json(
        br#"{"zones":["example.org."],"lines":[["ttl","60"],["10.0.0.1","a.example.org"]],
            "root":"","listen_hosts":[],"port":"1053"}"#,
    )
    .unwrap();
    assert_eq!((c.ttl, c.listen.as_str()), (60, ":1053"));
    assert_eq!(c.inline, "10.0.0.1 a.example.org\n");
    let e = Config::from_block_json(br#"{"bogus":1}"#).unwrap_err();
    assert!(
        e.message
            .starts_with("invalid block: unknown field `bogus`"),
        "{e}"
    );
    assert_eq!(e.line, None);
}

#[test]
fn the_listen_address_is_the_first_bind_and_the_port() {
    for (hosts, port, want) in [
        (&["127.0.0.1"][..], "1053", "127.0.0.1:1053"),
        (&["10.0.0.1", "::1"][..], "53", "10.0.0.1:53"),
        (&["::1"][..], "53", "[::1]:53"),
        (&[""][..], "1053", ":1053"),
        (&[][..], "53", ":53"),
    ] {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        assert_eq!(listen_address(&hosts, port), want);
    }
}

#[test]
fn durations_are_read_as_go_writes_them() {
    let d = |s: &str| duration(&[s.to_string()]);
    for (text, ms) in [
        ("0", 0),
        ("1500ms", 1500),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("1.5s", 1500),
        (".5s", 500),
        ("2s500ms", 2500),
        ("1000000us", 1000),
        ("-0s", 0),
    ] {
        assert_eq!(d(text).map(|d| d.as_millis()), Ok(ms), "{text}");
    }
    for bad in [
        "",
        "5",
        "1x",
        "s",
        ".s",
        "1.2.3s",
        "--1s",
        "99999999999999999999h",
    ] {
        assert!(d(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn validate_checks_a_config_built_in_code() {
    assert_eq!(Config::default().validate(), Ok(()));
    let bad = |c: Config| c.validate().unwrap_err();
    assert_eq!(
        bad(Config {
            endpoints: vec![],
            ..Config::default()
        }),
        "endpoint: at least one etcd endpoint is needed"
    );
    assert!(bad(Config {
        username: Some("u".into()),
        ..Config::default()
    })
    .starts_with("credentials:"));
    assert!(bad(Config {
        tls: Some(TlsFiles {
            ca: Some("/nonexistent/ca.pem".into()),
            ..TlsFiles::default()
        }),
        endpoints: vec!["https://127.0.0.1:1".into()],
        ..Config::default()
    })
    .starts_with("tls: cannot read /nonexistent/ca.pem"));
    assert!(bad(Config {
        tls: Some(TlsFiles {
            key: Some("/nonexistent/key.pem".into()),
            ..TlsFiles::default()
        }),
        endpoints: vec!["https://127.0.0.1:1".into()],
        ..Config::default()
    })
    .starts_with("tls: KEY is set alone"));
    assert!(bad(Config {
        status_key: Some("/s/".into()),
        ..Config::default()
    })
    .starts_with("status_key: the listen address is unknown"));
    // TLS with bare host:port endpoints, as dnsctl may pass them, is fine.
    let f = files();
    Config {
        tls: Some(TlsFiles {
            ca: Some(f.ca.clone()),
            ..TlsFiles::default()
        }),
        endpoints: vec!["127.0.0.1:2379".into()],
        ..Config::default()
    }
    .validate()
    .unwrap();
    // A plain hosts key beside the status prefix is fine.
    Config {
        status_key: Some("/etcdhosts/".into()),
        listen: ":53".into(),
        ..Config::default()
    }
    .validate()
    .unwrap();
}
