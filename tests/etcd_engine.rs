//! The engine against a real etcd, through the public Rust API.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use common::{wait_for, Certs, Etcd, EtcdOptions, Proxy};
use etcdhosts::{Config, Engine, TlsFiles};

const DEADLINE: Duration = Duration::from_secs(15);

fn config(endpoints: &[&str], key: &str) -> Config {
    Config {
        endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
        key: key.to_string(),
        timeout_ms: 2000,
        ..Config::default()
    }
}

fn a(engine: &Engine, name: &str) -> Vec<Ipv4Addr> {
    engine.table().lookup_v4(name)
}

fn ip(s: &str) -> Vec<Ipv4Addr> {
    vec![s.parse().unwrap()]
}

/// Waits until `name` resolves to exactly `want`.
fn wait_a(engine: &Engine, name: &str, want: &[Ipv4Addr]) {
    wait_for(&format!("{name} -> {want:?}"), DEADLINE, || {
        a(engine, name) == want
    });
}

#[test]
fn initial_load_update_and_delete() {
    let etcd = Etcd::start();
    let rev = etcd.put("/etcdhosts", "10.0.0.1 web.example.org\n");
    let engine = Engine::start(Config {
        inline: "10.9.9.9 inline.example.org".into(),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    // Start waited for the first read: served from the first lookup on.
    assert_eq!(a(&engine, "web.example.org."), ip("10.0.0.1"));
    assert_eq!(a(&engine, "inline.example.org."), ip("10.9.9.9"));
    let stats = engine.stats();
    assert!(
        stats.ready && stats.revision == rev && stats.records == 2,
        "{stats:?}"
    );
    wait_for("watch connected", DEADLINE, || {
        engine.stats().watch_connected
    });

    let rev = etcd.put(
        "/etcdhosts",
        "10.0.0.2 web.example.org\n10.0.0.3 db.example.org\n",
    );
    wait_a(&engine, "web.example.org.", &ip("10.0.0.2"));
    assert_eq!(a(&engine, "db.example.org."), ip("10.0.0.3"));
    assert_eq!(engine.stats().revision, rev);

    etcd.delete("/etcdhosts");
    wait_a(&engine, "web.example.org.", &[]);
    // Inline records stay.
    assert_eq!(a(&engine, "inline.example.org."), ip("10.9.9.9"));
    assert_eq!(engine.stats().records, 1);
}

#[test]
fn prefix_fragments_merge_in_key_order() {
    let etcd = Etcd::start();
    etcd.put("/hosts/b", "10.0.0.1 second.example.org\n");
    etcd.put("/hosts/a", "10.0.0.1 first.example.org\n10.0.0.5 a-only\n");
    etcd.put("/hostsx", "10.0.0.7 not-a-fragment\n");
    let engine = Engine::start(config(&[&etcd.url], "/hosts/")).unwrap();
    let ptr = |e: &Engine| e.table().lookup_addr("10.0.0.1".parse().unwrap());
    assert_eq!(ptr(&engine), ["first.example.org.", "second.example.org."]);
    assert!(a(&engine, "not-a-fragment.").is_empty());

    etcd.put("/hosts/c", "10.0.0.9 third\n");
    wait_a(&engine, "third.", &ip("10.0.0.9"));
    etcd.delete("/hosts/a");
    wait_a(&engine, "a-only.", &[]);
    assert_eq!(ptr(&engine), ["second.example.org."]);
    assert_eq!(a(&engine, "third."), ip("10.0.0.9"));
}

#[test]
fn key_missing_at_start_then_created() {
    let etcd = Etcd::start();
    let engine = Engine::start(config(&[&etcd.url], "/etcdhosts")).unwrap();
    assert!(
        engine.stats().ready,
        "an absent key is a successful (empty) read"
    );
    assert_eq!(engine.stats().records, 0);
    etcd.put("/etcdhosts", "10.1.1.1 late\n");
    wait_a(&engine, "late.", &ip("10.1.1.1"));
}

#[test]
fn etcd_killed_and_restarted_keeps_serving_and_catches_up() {
    let mut etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 keep\n");
    let engine = Engine::start(config(&[&etcd.url], "/etcdhosts")).unwrap();
    assert_eq!(a(&engine, "keep."), ip("10.0.0.1"));
    etcd.stop();
    wait_for("watch loss noticed", DEADLINE, || {
        !engine.stats().watch_connected
    });
    // Served throughout the outage.
    for _ in 0..20 {
        assert_eq!(a(&engine, "keep."), ip("10.0.0.1"));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(engine.stats().etcd_errors > 0);
    etcd.restart();
    let rev = etcd.put("/etcdhosts", "10.0.0.2 keep\n");
    wait_a(&engine, "keep.", &ip("10.0.0.2"));
    assert_eq!(engine.stats().revision, rev);
}

#[test]
fn compaction_while_disconnected_resyncs_to_the_final_value() {
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 moving\n");
    let proxy = Proxy::new(&etcd.url);
    let engine = Engine::start(config(&[&proxy.url], "/etcdhosts")).unwrap();
    assert_eq!(a(&engine, "moving."), ip("10.0.0.1"));
    wait_for("watch connected", DEADLINE, || {
        engine.stats().watch_connected
    });

    proxy.cut();
    wait_for("cut noticed", DEADLINE, || !engine.stats().watch_connected);
    for i in 2..50 {
        etcd.put("/etcdhosts", format!("10.0.0.{i} moving\n"));
    }
    etcd.put("/etcdhosts", "10.0.1.1 moving\n");
    etcd.compact();
    // Still serving the old value while cut off.
    assert_eq!(a(&engine, "moving."), ip("10.0.0.1"));
    proxy.restore();
    wait_a(&engine, "moving.", &ip("10.0.1.1"));
}

#[test]
fn username_and_password_with_auth_enabled() {
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 secret.example.org\n");
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let good = Engine::start(Config {
        username: Some("reader".into()),
        password: Some("readerpw".into()),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    assert_eq!(a(&good, "secret.example.org."), ip("10.0.0.1"));
    etcd.put("/etcdhosts", "10.0.0.2 secret.example.org\n");
    wait_a(&good, "secret.example.org.", &ip("10.0.0.2"));

    let bad = Engine::start(Config {
        username: Some("reader".into()),
        password: Some("wrong".into()),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    let stats = bad.stats();
    assert!(!stats.ready && stats.etcd_errors > 0, "{stats:?}");
    assert!(a(&bad, "secret.example.org.").is_empty());

    let anonymous = Engine::start(config(&[&etcd.url], "/etcdhosts")).unwrap();
    assert!(!anonymous.stats().ready);
}

#[test]
fn expired_auth_tokens_are_refreshed() {
    // Simple tokens expire after --auth-token-ttl seconds without use; the watch and every
    // re-read after a broken connection must keep working on a fresh token.
    let mut etcd = Etcd::start_with(EtcdOptions {
        extra_args: vec!["--auth-token-ttl=1".into()],
        ..EtcdOptions::default()
    });
    etcd.put("/etcdhosts", "10.0.0.1 token.example.org\n");
    etcd.enable_auth("rootpw", "readerpw", "/etcdhosts");
    let engine = Engine::start(Config {
        username: Some("reader".into()),
        password: Some("readerpw".into()),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    assert_eq!(a(&engine, "token.example.org."), ip("10.0.0.1"));
    // Let the token expire (polling a condition that only time makes true).
    let since = std::time::Instant::now();
    wait_for("token ttl to pass", DEADLINE, || {
        since.elapsed() > Duration::from_secs(3)
    });
    etcd.put("/etcdhosts", "10.0.0.2 token.example.org\n");
    wait_a(&engine, "token.example.org.", &ip("10.0.0.2"));
    // A restart forces a new connection and a new read with an expired token in hand.
    etcd.stop();
    etcd.restart();
    etcd.put("/etcdhosts", "10.0.0.3 token.example.org\n");
    wait_a(&engine, "token.example.org.", &ip("10.0.0.3"));
}

#[test]
fn tls_with_client_certificates() {
    let certs = Arc::new(Certs::new());
    let etcd = Etcd::start_with(EtcdOptions {
        tls: Some(certs.clone()),
        ..EtcdOptions::default()
    });
    etcd.put("/etcdhosts", "10.0.0.1 tls.example.org\n");
    let engine = Engine::start(Config {
        tls: Some(TlsFiles {
            cert: Some(certs.client_cert.clone()),
            key: Some(certs.client_key.clone()),
            ca: Some(certs.ca.clone()),
        }),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    assert_eq!(a(&engine, "tls.example.org."), ip("10.0.0.1"));
    etcd.put("/etcdhosts", "10.0.0.2 tls.example.org\n");
    wait_a(&engine, "tls.example.org.", &ip("10.0.0.2"));

    // Without a client certificate etcd refuses us; nothing crashes, nothing is served.
    let no_cert = Engine::start(Config {
        tls: Some(TlsFiles {
            ca: Some(certs.ca.clone()),
            ..TlsFiles::default()
        }),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    assert!(!no_cert.stats().ready);
}

/// The probe that explains a hang-up (tonic often reports a refused client certificate as
/// "broken pipe"): etcd's alert for a certificate from another CA, every time, and nothing
/// for a certificate it accepts.
#[test]
fn tls_probe_reads_why_etcd_refused_the_client_certificate() {
    let certs = Arc::new(Certs::new());
    let stranger = Certs::new();
    let etcd = Etcd::start_with(EtcdOptions {
        tls: Some(certs.clone()),
        ..EtcdOptions::default()
    });
    let with = |cert: &Certs| Config {
        tls: Some(TlsFiles {
            cert: Some(cert.client_cert.clone()),
            key: Some(cert.client_key.clone()),
            ca: Some(certs.ca.clone()),
        }),
        ..config(&[&etcd.url], "/etcdhosts")
    };
    for _ in 0..5 {
        let refused = common::block_on(etcdhosts::tls_probe::refusal(&with(&stranger), &etcd.url));
        let alert = refused.expect("no alert for a certificate from another CA");
        assert!(alert.starts_with("received fatal alert: "), "{alert}");
        let accepted = common::block_on(etcdhosts::tls_probe::refusal(&with(&certs), &etcd.url));
        assert_eq!(accepted, None);
    }
    let no_cert = Config {
        tls: Some(TlsFiles {
            ca: Some(certs.ca.clone()),
            ..TlsFiles::default()
        }),
        ..config(&[&etcd.url], "/etcdhosts")
    };
    let missing = common::block_on(etcdhosts::tls_probe::refusal(&no_cert, &etcd.url));
    assert!(missing.is_some_and(|alert| alert.starts_with("received fatal alert: ")));
    let closed = format!("https://127.0.0.1:{}", common::free_port());
    assert_eq!(
        common::block_on(etcdhosts::tls_probe::refusal(&with(&certs), &closed)),
        None
    );
}

#[test]
fn a_dead_endpoint_among_several_does_not_fail_the_load() {
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 alive\n");
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    for endpoints in [
        [dead.as_str(), etcd.url.as_str()],
        [etcd.url.as_str(), dead.as_str()],
    ] {
        let engine = Engine::start(config(&endpoints, "/etcdhosts")).unwrap();
        wait_for("loaded", DEADLINE, || engine.stats().ready);
        assert_eq!(a(&engine, "alive."), ip("10.0.0.1"));
        assert_eq!(engine.stats().records, 1);
    }
}

#[test]
fn garbage_values_never_panic_and_keep_good_lines() {
    let etcd = Etcd::start_with(EtcdOptions {
        max_request_bytes: Some(8 << 20),
        ..EtcdOptions::default()
    });
    let engine = Engine::start(config(&[&etcd.url], "/etcdhosts")).unwrap();

    // Random bytes (a fixed xorshift stream, so a failure reproduces).
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let random: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut value = b"10.0.0.1 good-first\n".to_vec();
    value.extend(&random);
    value.extend(b"\n10.0.0.2 good-last\n");
    etcd.put("/etcdhosts", value);
    wait_a(&engine, "good-last.", &ip("10.0.0.2"));
    assert_eq!(a(&engine, "good-first."), ip("10.0.0.1"));
    assert!(engine.stats().invalid_lines > 0);

    // 2 MiB of junk lines with good lines in between.
    let mut junk = String::new();
    let mut i = 0;
    while junk.len() < 2 << 20 {
        junk.push_str("not an address ~~~ !!! \u{fffd}\u{0}\n");
        if i % 10_000 == 0 {
            junk.push_str(&format!(
                "10.1.{}.{} good-{i}\n",
                i / 10_000 / 250,
                i / 10_000 % 250 + 1
            ));
        }
        i += 1;
    }
    etcd.put("/etcdhosts", junk);
    wait_a(&engine, "good-0.", &ip("10.1.0.1"));
    assert!(
        engine.stats().invalid_lines > 50_000,
        "{:?}",
        engine.stats()
    );

    // A value of only comments: an empty table, not an error.
    etcd.put("/etcdhosts", "# nothing here\n# at all\n");
    wait_a(&engine, "good-0.", &[]);
    let stats = engine.stats();
    assert_eq!((stats.records, stats.invalid_lines), (0, 0));
}

#[test]
fn snapshot_serves_when_etcd_is_down_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("etcdhosts.snapshot");
    let mut etcd = Etcd::start();
    let rev = etcd.put("/etcdhosts", "10.0.0.1 snap.example.org\n");
    {
        let engine = Engine::start(Config {
            snapshot: Some(snapshot.clone()),
            ..config(&[&etcd.url], "/etcdhosts")
        })
        .unwrap();
        assert_eq!(a(&engine, "snap.example.org."), ip("10.0.0.1"));
        wait_for("snapshot written", DEADLINE, || snapshot.exists());
    }
    etcd.stop();
    let engine = Engine::start(Config {
        snapshot: Some(snapshot.clone()),
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    let stats = engine.stats();
    assert!(stats.ready, "ready from the snapshot");
    assert_eq!(stats.revision, rev);
    assert_eq!(a(&engine, "snap.example.org."), ip("10.0.0.1"));
    // Without the snapshot the same start serves nothing and is not ready.
    let bare = Engine::start(config(&[&etcd.url], "/etcdhosts")).unwrap();
    assert!(!bare.stats().ready);
    // etcd comes back with a newer value: the snapshot is replaced by it.
    etcd.restart();
    etcd.put("/etcdhosts", "10.0.0.2 snap.example.org\n");
    wait_a(&engine, "snap.example.org.", &ip("10.0.0.2"));
}

#[test]
fn force_reload_rereads_the_key() {
    let etcd = Etcd::start();
    etcd.put("/etcdhosts", "10.0.0.1 periodic\n");
    let engine = Engine::start(Config {
        force_reload_ms: 1000,
        ..config(&[&etcd.url], "/etcdhosts")
    })
    .unwrap();
    let before = engine.stats().reloads;
    wait_for("two periodic re-reads", DEADLINE, || {
        engine.stats().reloads >= before + 2
    });
    assert_eq!(a(&engine, "periodic."), ip("10.0.0.1"));
    assert_eq!(
        engine.stats().etcd_errors,
        0,
        "a planned re-read is no error"
    );
}

#[test]
fn the_watch_goes_on_after_values_too_big_to_keep_its_buffer() {
    // Over 8 MiB a value makes the instance open a new watch from the next revision (the
    // old stream's receive buffer is as big as the value): no change may be lost.
    let etcd = Etcd::start_with(EtcdOptions {
        max_request_bytes: Some(32 << 20),
        ..EtcdOptions::default()
    });
    let big: String = (0..220_000)
        .map(|i| {
            format!(
                "10.{}.{}.{} host{i:07}.big.example.org\n",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            )
        })
        .collect();
    assert!(big.len() > 8 << 20, "{} bytes", big.len());
    etcd.put("/etcdhosts", "10.0.0.1 small.example.org\n");
    let engine = Engine::start(config(&[&etcd.url], "/etcdhosts")).unwrap();
    wait_for("watch connected", DEADLINE, || {
        engine.stats().watch_connected
    });
    for round in 1..=2 {
        let rev = etcd.put(
            "/etcdhosts",
            format!("{big}10.0.1.{round} probe.example.org\n"),
        );
        wait_for(&format!("big value {round}"), DEADLINE, || {
            engine.stats().revision == rev
        });
        assert_eq!(
            a(&engine, "probe.example.org."),
            ip(&format!("10.0.1.{round}"))
        );
    }
    // A small value put right after a big one, before the instance took it: the new
    // watch starts at the big one's revision + 1, so it still sees the small one.
    etcd.put("/etcdhosts", format!("{big}10.0.1.3 probe.example.org\n"));
    etcd.put("/etcdhosts", "10.0.0.2 small.example.org\n");
    wait_a(&engine, "small.example.org.", &ip("10.0.0.2"));
    assert!(a(&engine, "host0000007.big.example.org.").is_empty());
    let rev = etcd.put("/etcdhosts", big.as_str());
    wait_for("big value again", DEADLINE, || {
        engine.stats().revision == rev
    });
    assert_eq!(a(&engine, "host0000007.big.example.org."), ip("10.0.0.7"));
    assert_eq!(engine.stats().records, 220_000);
}
