//! Who may use the console, and protection of every request.
//!
//! - Users and argon2 password hashes come from the config's `serve.users`. With users,
//!   every page and API call needs a session from `/api/login`; without users (loopback
//!   only) everyone local is "the local user" and gets a session on first visit.
//! - Sessions are random tokens in a Secure, HttpOnly, SameSite=Strict cookie, idle for at
//!   most 12 hours, held in memory.
//! - Every write needs the session's CSRF token in `X-CSRF-Token`, and a cross-origin
//!   `Origin` is refused. On loopback, the `Host` header must name the console itself, so a
//!   DNS-rebinding page cannot talk to it either.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use serde_json::json;

use super::App;
use crate::error::{Code, Failure, Result};

const COOKIE: &str = "dnsctl_session";
/// Sessions kept at most: anonymous visits must not grow memory without bound.
const MAX_SESSIONS: usize = 10_000;

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Failure::new(Code::Error, format!("cannot hash the password: {e}")))
}

#[derive(Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    seen: Instant,
}

pub struct Auth {
    /// User -> PHC hash string (checked to parse at start).
    users: BTreeMap<String, String>,
    loopback: bool,
    port: AtomicU16,
    sessions: Mutex<HashMap<String, Session>>,
    local_user: String,
    /// A session unused this long is gone (`serve.session_idle`).
    idle: Duration,
}

impl Auth {
    pub fn new(users: &BTreeMap<String, String>, loopback: bool, idle: Duration) -> Result<Auth> {
        for (user, hash) in users {
            if let Err(e) = PasswordHash::new(hash) {
                return Err(Failure::new(
                    Code::Config,
                    format!(
                        "serve.users.{user}: not a password hash ({e}); make one with \
                         `dnsctl serve --hash-password`"
                    ),
                ));
            }
        }
        Ok(Auth {
            users: users.clone(),
            loopback,
            port: AtomicU16::new(0),
            sessions: Mutex::new(HashMap::new()),
            local_user: crate::store::user_name(),
            idle,
        })
    }

    pub fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    fn login_required(&self) -> bool {
        !self.users.is_empty()
    }

    fn new_session(&self, user: String) -> (String, Session) {
        let session = Session {
            user,
            csrf: random_token(),
            seen: Instant::now(),
        };
        let token = random_token();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.seen.elapsed() < self.idle);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(token.clone(), session.clone());
        (token, session)
    }

    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(&token)?;
        if session.seen.elapsed() >= self.idle {
            sessions.remove(&token);
            return None;
        }
        session.seen = Instant::now();
        Some(session.clone())
    }

    fn set_cookie(&self, token: &str, max_age: u64) -> HeaderValue {
        // Secure everywhere: browsers accept it over plain http on loopback (a secure
        // context), and beyond loopback the console must be reached over HTTPS.
        HeaderValue::from_str(&format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age={max_age}"
        ))
        .expect("the cookie is ASCII")
    }

    /// On loopback, only `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT` may be asked for.
    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        if !self.loopback {
            return true;
        }
        let port = self.port.load(Ordering::Relaxed);
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Constant-time comparison, so the CSRF token cannot be guessed byte by byte.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A browser's `Origin` (sent on every cross-site POST) must be this console.
fn origin_allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true; // not a browser's cross-origin request
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    host.is_some() && origin_host == host
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Every request passes here: host check, session, CSRF, security headers.
pub async fn guard(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    if !app.auth.host_allowed(&headers) {
        return refuse(StatusCode::MISDIRECTED_REQUEST, "unexpected Host header");
    }
    let path = request.uri().path().to_string();
    let write = !matches!(*request.method(), Method::GET | Method::HEAD);
    if write && !origin_allowed(&headers) {
        return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let public = path == "/login" || path == "/api/login" || path.starts_with("/assets/");
    let mut new_cookie = None;
    let session = match app.auth.session(&headers) {
        Some(s) => Some(s),
        None if !app.auth.login_required() && !public => {
            let (token, session) = app.auth.new_session(app.auth.local_user.clone());
            new_cookie = Some(token);
            // A first visit has no CSRF token yet: only reads may go through.
            if write {
                return refuse(StatusCode::FORBIDDEN, "no session: reload the page");
            }
            Some(session)
        }
        None => None,
    };
    match &session {
        None if !public => {
            return if path.starts_with("/api/") {
                refuse(StatusCode::UNAUTHORIZED, "log in first")
            } else {
                Redirect::to("/login").into_response()
            };
        }
        Some(s) if write && path != "/api/login" => {
            let token = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(token, &s.csrf) {
                return refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
            }
        }
        _ => {}
    }
    if let Some(s) = session {
        request.extensions_mut().insert(s);
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if let Some(token) = new_cookie {
        h.append(
            header::SET_COOKIE,
            app.auth.set_cookie(&token, app.auth.idle.as_secs()),
        );
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /api/session`: who is logged in and the CSRF token for writes.
pub async fn session(
    State(app): State<Arc<App>>,
    session: Option<axum::Extension<Session>>,
) -> Response {
    match session {
        Some(axum::Extension(s)) => Json(json!({
            "user": s.user,
            "csrf": s.csrf,
            "login": app.auth.login_required(),
            "key": app.ctx.target.key,
        }))
        .into_response(),
        None => refuse(StatusCode::UNAUTHORIZED, "log in first"),
    }
}

#[derive(Deserialize)]
pub struct Login {
    user: String,
    password: String,
}

/// `POST /api/login` (JSON, so a cross-site form cannot post it).
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(login): Json<Login>,
) -> Response {
    let known = app.auth.users.get(&login.user).cloned();
    let password = login.password;
    // argon2 is slow on purpose: off the async threads. An unknown user is checked against
    // a dummy hash, so the answer takes as long as for a known one.
    let ok = tokio::task::spawn_blocking(move || {
        let hash = known.clone().unwrap_or_else(|| dummy_hash().to_string());
        let matches = PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        matches && known.is_some()
    })
    .await
    .unwrap_or(false);
    if !ok {
        // The name is the client's text: quoted, so it cannot forge a log line.
        eprintln!(
            "dnsctl audit: user={:?} from={} action=login-failed",
            login.user,
            peer.ip()
        );
        // Slow down guessing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        return refuse(StatusCode::UNAUTHORIZED, "wrong user name or password");
    }
    eprintln!(
        "dnsctl audit: user={} from={} action=login",
        login.user,
        peer.ip()
    );
    let (token, session) = app.auth.new_session(login.user);
    let mut response = Json(json!({ "user": session.user, "csrf": session.csrf })).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        app.auth.set_cookie(&token, app.auth.idle.as_secs()),
    );
    response
}

fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// `POST /api/logout`.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, COOKIE) {
        let mut sessions = app.auth.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(&token);
    }
    let mut response = Json(json!({ "ok": true })).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, app.auth.set_cookie("", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());
    }

    #[test]
    fn bad_hash_is_a_config_error() {
        let users = BTreeMap::from([("alice".to_string(), "plaintext".to_string())]);
        let err = Auth::new(&users, true, Duration::from_secs(60))
            .err()
            .unwrap();
        assert_eq!(err.code, Code::Config);
        assert!(err.message.contains("serve.users.alice"), "{}", err.message);
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8053"));
        assert!(origin_allowed(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8053"),
        );
        assert!(origin_allowed(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!origin_allowed(&h));
    }

    #[test]
    fn loopback_host_check() {
        let auth = Auth::new(&BTreeMap::new(), true, Duration::from_secs(60)).unwrap();
        auth.set_port(8053);
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("localhost:8053"));
        assert!(auth.host_allowed(&h));
        h.insert(header::HOST, HeaderValue::from_static("evil.example:8053"));
        assert!(!auth.host_allowed(&h));
    }
}
