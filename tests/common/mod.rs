//! Test harness: a real etcd (Debian's `etcd`) on free loopback ports in a temp dir,
//! stopped on drop; certificates made with rcgen; a loopback TCP proxy that can cut the
//! path to etcd; and wait-for-condition with a deadline.

#![allow(dead_code)] // each test binary uses part of the harness

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions, Identity, Permission, TlsOptions};

/// A port free on 127.0.0.1 that no other call in this process returned. Ports are handed
/// out below the kernel's ephemeral range, walking up from a random start: a port from
/// 127.0.0.1:0 is in that range, so an outgoing connection (an etcd member or a client
/// dialing) could take it as its own end before the server it is for binds it.
pub fn free_port() -> u16 {
    const FIRST: u16 = 10_000;
    static NEXT: Mutex<u16> = Mutex::new(0);
    let end = ephemeral_start();
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    if *next == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().wrapping_mul(2_654_435_761);
        *next = FIRST + (seed % u32::from(end - FIRST)) as u16;
    }
    for _ in FIRST..end {
        let port = *next;
        *next = if port + 1 >= end { FIRST } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port below {end}");
}

/// The first port of the kernel's ephemeral range (Linux's default when it cannot be read,
/// or leaves no room below).
fn ephemeral_start() -> u16 {
    const LINUX_DEFAULT: u16 = 32_768;
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .filter(|&start: &u16| start >= 11_000)
        .unwrap_or(LINUX_DEFAULT)
}

/// Polls `cond` every 10 ms until it holds or `deadline` passes; panics with `what`.
pub fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A runtime for the test's own etcd client calls (the engine has its own).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// CA, server and client certificates for a TLS etcd, written to a temp dir.
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certs {
    pub fn new() -> Certs {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "etcdhosts test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            params.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "etcd");
        let (client_pem, client_key) = leaf(vec!["coredns".into()], "coredns");
        let write = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            path
        };
        Certs {
            ca: write("ca.pem", &ca_cert.pem()),
            server_cert: write("server.pem", &server_pem),
            server_key: write("server-key.pem", &server_key),
            client_cert: write("client.pem", &client_pem),
            client_key: write("client-key.pem", &client_key),
            dir,
        }
    }
}

#[derive(Default)]
pub struct EtcdOptions {
    /// Serve https with client-certificate auth.
    pub tls: Option<Arc<Certs>>,
    /// etcd's --max-request-bytes (default 1.5 MiB).
    pub max_request_bytes: Option<usize>,
    /// Any other etcd flags.
    pub extra_args: Vec<String>,
}

/// One etcd member on loopback. Stopped (killed) on drop; its data dir goes with it.
pub struct Etcd {
    pub url: String,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    options: EtcdOptions,
    child: Option<Child>,
    /// Set after `enable_auth`: admin calls log in as root.
    root_password: Mutex<Option<String>>,
}

impl Etcd {
    pub fn start() -> Etcd {
        Etcd::start_with(EtcdOptions::default())
    }

    pub fn start_with(options: EtcdOptions) -> Etcd {
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let client_port = free_port();
        let mut etcd = Etcd {
            url: format!("{scheme}://127.0.0.1:{client_port}"),
            dir: tempfile::tempdir().unwrap(),
            client_port,
            peer_port: free_port(),
            options,
            child: None,
            root_password: Mutex::new(None),
        };
        etcd.restart();
        etcd
    }

    /// Starts (again) with the same data dir and ports, and waits until it serves.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let mut cmd = Command::new("etcd");
        cmd.arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={}", self.url))
            .arg(format!("--advertise-client-urls={}", self.url))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg("--log-level=warn")
            .arg("--logger=zap")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        cmd.args(&self.options.extra_args);
        if let Some(bytes) = self.options.max_request_bytes {
            cmd.arg(format!("--max-request-bytes={bytes}"));
        }
        if let Some(certs) = &self.options.tls {
            cmd.arg(format!("--cert-file={}", certs.server_cert.display()))
                .arg(format!("--key-file={}", certs.server_key.display()))
                .arg(format!("--trusted-ca-file={}", certs.ca.display()))
                .arg("--client-cert-auth");
        }
        self.child = Some(
            cmd.spawn()
                .expect("cannot start etcd (is etcd-server installed?)"),
        );
        let start = Instant::now();
        loop {
            let ok = block_on(async {
                let mut c = self.client().await.ok()?;
                c.get("health-probe", None).await.ok()
            });
            if ok.is_some() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap();
                panic!("etcd exited with {status}:\n{log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "etcd did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// A client for the test's own admin calls.
    pub async fn client(&self) -> Result<Client, etcd_client::Error> {
        let mut options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(2));
        if let Some(certs) = &self.options.tls {
            let read = |p: &PathBuf| std::fs::read(p).unwrap();
            options = options.with_tls(
                TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(read(&certs.ca)))
                    .identity(Identity::from_pem(
                        read(&certs.client_cert),
                        read(&certs.client_key),
                    )),
            );
        }
        if let Some(password) = self.root_password.lock().unwrap().clone() {
            options = options.with_user("root", password);
        }
        Client::connect([self.url.as_str()], Some(options)).await
    }

    /// Puts `value` at `key`; returns the new revision.
    pub fn put(&self, key: &str, value: impl Into<Vec<u8>>) -> i64 {
        let value = value.into();
        block_on(async {
            let r = self
                .client()
                .await
                .unwrap()
                .put(key, value, None)
                .await
                .unwrap();
            r.header().unwrap().revision()
        })
    }

    pub fn delete(&self, key: &str) -> i64 {
        block_on(async {
            let r = self
                .client()
                .await
                .unwrap()
                .delete(key, None)
                .await
                .unwrap();
            r.header().unwrap().revision()
        })
    }

    /// Compacts the history up to the current revision.
    pub fn compact(&self) -> i64 {
        block_on(async {
            let mut c = self.client().await.unwrap();
            let rev = c
                .get("x", Some(GetOptions::new().with_count_only()))
                .await
                .unwrap()
                .header()
                .unwrap()
                .revision();
            c.compact(rev, None).await.unwrap();
            rev
        })
    }

    /// Turns on authentication: user `root` with `root_password`, and `reader` with
    /// `reader_password`, a role that may only read `key` (as a prefix if it ends in `/`).
    pub fn enable_auth(&self, root_password: &str, reader_password: &str, key: &str) {
        block_on(async {
            let mut c = self.client().await.unwrap();
            c.user_add("root", root_password, None).await.unwrap();
            c.user_grant_role("root", "root").await.unwrap();
            c.role_add("reader").await.unwrap();
            let permission = if key.ends_with('/') {
                Permission::read(key).with_prefix()
            } else {
                Permission::read(key)
            };
            c.role_grant_permission("reader", permission).await.unwrap();
            c.user_add("reader", reader_password, None).await.unwrap();
            c.user_grant_role("reader", "reader").await.unwrap();
            c.auth_enable().await.unwrap();
        });
        *self.root_password.lock().unwrap() = Some(root_password.to_string());
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback TCP proxy in front of etcd whose path can be cut (every connection dropped
/// and new ones refused) and restored, to play a network partition.
pub struct Proxy {
    pub url: String,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<std::net::TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn new(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let thread = {
            let (cut, stop, conns) = (cut.clone(), stop.clone(), conns.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (client, _) = match listener.accept() {
                        Ok(c) => c,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    };
                    if cut.load(Ordering::Relaxed) {
                        drop(client);
                        continue;
                    }
                    client.set_nonblocking(false).unwrap();
                    let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                        continue;
                    };
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server.try_clone().unwrap(), client.try_clone().unwrap()),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                    conns.lock().unwrap().extend([client, server]);
                }
            })
        };
        Proxy {
            url,
            cut,
            stop,
            conns,
            thread: Some(thread),
        }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
