//! etcd errors as an operator can act on them: what failed, and what to check. One
//! explainer for the watch, the status writer and dnsctl. Never includes the password.

use etcd_client::Error;

use crate::client::MAX_RESPONSE_BYTES;
use crate::config::Config;

/// gRPC's status code UNAVAILABLE: the request may not have reached etcd.
const GRPC_UNAVAILABLE: i32 = 14;
/// gRPC's status code UNKNOWN, which tonic also uses for a broken transport.
const GRPC_UNKNOWN: i32 = 2;

/// An error of a request that needs read access to the hosts key.
pub fn explain(config: &Config, e: Error) -> String {
    explain_needing(config, e, &format!("read access to {}", config.key))
}

/// An error of a request; `access` says what the etcd user needs for it ("read access to
/// /etcdhosts"), for the hint on a permission error.
pub fn explain_needing(config: &Config, e: Error, access: &str) -> String {
    let text = e.to_string();
    if is_response_too_large(&text) {
        return format!(
            "{text}: the hosts data is larger than the {} MiB this client accepts; split it \
             into fragments under a prefix key (a key ending in '/')",
            MAX_RESPONSE_BYTES >> 20
        );
    }
    if is_auth_failure(&text) {
        return explain_auth_failure(config, &text, "the credentials option");
    }
    if is_permission_denied(&text) {
        return format!("{text} (the etcd user needs {access})");
    }
    // tonic's transport errors hide the cause in the source chain.
    let mut message = text;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(hint) = tls_hint(&message) {
        message.push_str(" (");
        message.push_str(hint);
        message.push(')');
    }
    message
}

/// An error of a request as one line: etcd's own message for a gRPC status, else the
/// error's text. A source chain repeats itself on the way down: only its outermost and
/// innermost texts are kept.
pub fn describe(e: &Error) -> String {
    let (first, mut source) = match e {
        Error::GRpcStatus(status) if !status.message().is_empty() => (
            status.message().to_string(),
            std::error::Error::source(status),
        ),
        _ => (e.to_string(), std::error::Error::source(e)),
    };
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(last) if last.contains(&first) => last,
        Some(last) if !first.contains(&last) => format!("{first}: {last}"),
        _ => first,
    }
}

/// Whether an error's text says etcd did not accept the credentials, or takes none.
pub fn is_auth_failure(message: &str) -> bool {
    [
        "authentication failed",
        "invalid auth token",
        "user name is empty",
        "authentication is not enabled",
    ]
    .iter()
    .any(|symptom| message.contains(symptom))
}

/// An authentication failure (`text`, the error as worded) for the operator: the user, and
/// `settings`, where the credentials are set. Never includes the password.
pub fn explain_auth_failure(config: &Config, text: &str, settings: &str) -> String {
    let user = config.username.as_deref().unwrap_or("(none)");
    format!("etcd authentication failed for user {user:?}: check {settings} ({text})")
}

/// Whether an error's text says a response was larger than this client decodes.
pub fn is_response_too_large(message: &str) -> bool {
    message.contains("message length too large") || message.contains("decoded message length")
}

/// Whether an error's text says etcd refuses the user access: retrying soon will not help.
pub fn is_permission_denied(message: &str) -> bool {
    message.contains("permission denied")
}

/// Whether the request may not have reached etcd (a broken connection, or no member
/// available), so that it is safe to retry and worth trying another endpoint.
pub fn is_unreachable(e: &Error) -> bool {
    match e {
        Error::TransportError(_) | Error::IoError(_) => true,
        Error::GRpcStatus(status) => {
            let code = i32::from(status.code());
            code == GRPC_UNAVAILABLE
                || (code == GRPC_UNKNOWN && status.message() == "transport error")
        }
        _ => false,
    }
}

/// A hang-up right after the TLS handshake hides why etcd hung up: ask etcd once more
/// (`tls_probe`) and add its verdict to `message`.
pub(crate) async fn with_tls_verdict(config: &Config, url: &str, message: String) -> String {
    if !crate::tls_probe::worth_probing(config, url, &message) {
        return message;
    }
    match crate::tls_probe::refusal(config, url).await {
        Some(alert) => {
            let hint = tls_hint(&alert).unwrap_or("etcd refused the TLS connection");
            format!("{message}; a second handshake got \"{alert}\" ({hint})")
        }
        None => message,
    }
}

/// What a TLS failure buried in a transport error means for the `tls` option. rustls words
/// a certificate etcd refused as the TLS alert etcd sent, and a certificate we refused as
/// "invalid peer certificate".
fn tls_hint(message: &str) -> Option<&'static str> {
    const REFUSED_ALERTS: [&str; 6] = [
        "received fatal alert: BadCertificate",
        "received fatal alert: CertificateExpired",
        "received fatal alert: CertificateRequired",
        "received fatal alert: UnknownCA",
        "received fatal alert: CertificateUnknown",
        "received fatal alert: UnsupportedCertificate",
    ];
    if REFUSED_ALERTS.iter().any(|alert| message.contains(alert)) {
        return Some(
            "etcd refused the client certificate: it is missing, expired, or not signed by a \
             CA etcd trusts (--trusted-ca-file); check the certificate and key of the tls option",
        );
    }
    if !message.contains("invalid peer certificate") {
        return None;
    }
    Some(if message.contains("UnknownIssuer") {
        "etcd's server certificate is not signed by the CA of the tls option"
    } else if message.contains("Expired") {
        "etcd's server certificate has expired (or is not valid yet: check the clock)"
    } else if message.contains("NotValidForName") {
        "etcd's server certificate does not name the endpoint's host"
    } else {
        "etcd's server certificate was not accepted; check the CA of the tls option"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_get_a_hint_naming_the_side_at_fault() {
        let refused = "grpc request error: transport error: received fatal alert: BadCertificate";
        assert!(tls_hint(refused)
            .unwrap()
            .contains("refused the client certificate"));
        let unknown = "tcp connect error: invalid peer certificate: UnknownIssuer";
        assert!(tls_hint(unknown).unwrap().contains("not signed by the CA"));
        let expired = "invalid peer certificate: Expired";
        assert!(tls_hint(expired).unwrap().contains("expired"));
        assert_eq!(tls_hint("tcp connect error: Connection refused"), None);
    }

    #[test]
    fn permission_and_auth_errors_say_what_to_check() {
        let config = Config {
            key: "/hosts".into(),
            username: Some("reader".into()),
            password: Some("secret".into()),
            ..Config::default()
        };
        let denied = || Error::WatchError("etcdserver: permission denied".into());
        let read = explain(&config, denied());
        assert!(
            read.ends_with("(the etcd user needs read access to /hosts)"),
            "{read}"
        );
        assert!(is_permission_denied(&read));
        let write = explain_needing(&config, denied(), "write access to /status/");
        assert!(
            write.ends_with("(the etcd user needs write access to /status/)"),
            "{write}"
        );
        let auth = explain(&config, Error::WatchError("authentication failed".into()));
        assert!(
            auth.contains("user \"reader\"") && !auth.contains("secret"),
            "{auth}"
        );
        assert!(auth.contains("check the credentials option"), "{auth}");
        for symptom in [
            "etcdserver: authentication failed, invalid user ID or password",
            "etcdserver: invalid auth token",
            "etcdserver: user name is empty",
            "etcdserver: authentication is not enabled",
        ] {
            assert!(is_auth_failure(symptom), "{symptom}");
        }
        assert!(!is_auth_failure("etcdserver: permission denied"));
    }

    #[test]
    fn unreachable_is_a_transport_failure_not_a_refusal() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(is_unreachable(&Error::IoError(io)));
        assert!(!is_unreachable(&Error::WatchError(
            "permission denied".into()
        )));
    }
}
