//! Why etcd refused our client certificate, when the etcd client cannot say.
//!
//! tonic writes its HTTP/2 preface as soon as the TLS handshake is done on our side. When
//! etcd refuses the client certificate it sends a TLS alert and closes the connection, and
//! that write then often fails with "broken pipe" before the alert is read: the log would
//! say "transport error" and not why (measured: in some runs every retry for a minute). So
//! after such a failure we shake hands once more, send nothing, and read etcd's verdict:
//! with nothing unread on our side the alert always arrives before the close.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::Config;

/// The whole probe (connect, handshake, wait for a verdict) gives up after this, so a
/// member that stalls mid-handshake cannot hold up the retry for long.
const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// Whether a failed connection to `url` looks like etcd hanging up on our certificate (or
/// on the lack of one): the peer closed the connection, and nothing in the message says why.
pub fn worth_probing(config: &Config, url: &str, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    let hung_up = [
        "broken pipe",
        "connection closed",
        "connection reset",
        "unexpected eof",
        "unexpectedeof",
    ]
    .iter()
    .any(|symptom| message.contains(symptom));
    config.tls.is_some()
        && url.starts_with("https://")
        && hung_up
        && !message.contains("fatal alert")
}

/// The TLS alert etcd answers our client certificate with (`received fatal alert:
/// BadCertificate`), or None when it accepts it, cannot be reached, or says nothing in time.
pub async fn refusal(config: &Config, url: &str) -> Option<String> {
    let tls = config.tls.as_ref()?;
    let address = url.strip_prefix("https://")?.trim_end_matches('/');
    let host = match address.rsplit_once(':') {
        Some((host, _port)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => address,
    };
    let server_name = ServerName::try_from(host.to_string()).ok()?;

    let mut roots = RootCertStore::empty();
    let trusted: Vec<CertificateDer> = match &tls.ca {
        Some(ca) => CertificateDer::pem_slice_iter(&std::fs::read(ca).ok()?)
            .flatten()
            .collect(),
        None => rustls_native_certs::load_native_certs().certs,
    };
    roots.add_parsable_certificates(trusted);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots);
    let mut client = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer> =
                CertificateDer::pem_slice_iter(&std::fs::read(cert).ok()?)
                    .flatten()
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(&std::fs::read(key).ok()?).ok()?;
            builder.with_client_auth_cert(chain, key).ok()?
        }
        _ => builder.with_no_client_auth(),
    };
    client.alpn_protocols = vec![b"h2".to_vec()];

    let verdict = async {
        let tcp = TcpStream::connect(address).await.ok()?;
        let mut stream = match TlsConnector::from(Arc::new(client))
            .connect(server_name, tcp)
            .await
        {
            Ok(stream) => stream,
            Err(e) => return alert(&e),
        };
        // TLS 1.3: etcd checks our certificate after our last handshake message, so its
        // verdict comes now: its HTTP/2 settings (accepted) or an alert.
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await {
            Err(e) => alert(&e),
            Ok(_) => None,
        }
    };
    timeout(PROBE_LIMIT, verdict).await.ok().flatten()
}

/// The alert inside an I/O error from tokio-rustls, worded as rustls words it.
fn alert(e: &std::io::Error) -> Option<String> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(description) => {
            Some(format!("received fatal alert: {description:?}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::worth_probing;
    use crate::config::{Config, TlsFiles};

    #[test]
    fn probes_only_a_hang_up_on_a_tls_connection() {
        let with_cert = Config {
            tls: Some(TlsFiles {
                cert: Some("c.pem".into()),
                key: Some("k.pem".into()),
                ca: None,
            }),
            ..Config::default()
        };
        let url = "https://127.0.0.1:2379";
        let pipe = "transport error: Io, Custom { kind: BrokenPipe, error: \"stream closed because of a broken pipe\" }";
        assert!(worth_probing(&with_cert, url, pipe));
        assert!(worth_probing(
            &with_cert,
            url,
            "operation was canceled: connection closed"
        ));
        assert!(!worth_probing(&with_cert, "http://127.0.0.1:2379", pipe));
        assert!(!worth_probing(&Config::default(), url, pipe));
        let without_cert = Config {
            tls: Some(TlsFiles::default()),
            ..Config::default()
        };
        assert!(worth_probing(&without_cert, url, pipe));
        assert!(!worth_probing(
            &with_cert,
            url,
            "transport error: received fatal alert: BadCertificate"
        ));
        assert!(!worth_probing(
            &with_cert,
            url,
            "tcp connect error: Connection refused"
        ));
    }
}
