//! `dnsctl serve`: the web console. Records, the raw file, history and the fleet's state in
//! a browser, with the same validated compare-and-swap writes as the CLI.
//!
//! axum on dnsctl's runtime; the handlers share the CLI's connected [`Ctx`] and await its
//! store directly, so requests reach etcd concurrently (every write is a compare-and-swap,
//! so concurrent writes conflict rather than overwrite). Pages are one embedded
//! HTML/JS/CSS app (no CDN): `/` and `/login`; the JSON API is under `/api/`.

mod api;
mod auth;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{fail, Code, Failure, Result};
use crate::{Ctx, Opts};

const DEFAULT_LISTEN: &str = "127.0.0.1:8053";
const DEFAULT_STATUS_KEY: &str = "/etcdhosts-status/";

/// Everything the handlers share.
pub struct App {
    /// The etcd connection and the key (or prefix) the console works on.
    pub ctx: Ctx,
    pub status_key: String,
    pub auth: auth::Auth,
}

/// `dnsctl serve --hash-password`: a password on stdin -> its argon2id hash on stdout.
pub fn print_password_hash() -> Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| Failure::new(Code::Error, format!("cannot read stdin: {e}")))?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return fail(Code::Usage, "no password on stdin");
    }
    println!("{}", auth::hash_password(password)?);
    Ok(())
}

pub async fn run(opts: Opts, listen: Option<String>, status_key: Option<String>) -> Result<()> {
    // Check the listen address and the users before connecting: a refusal is immediate.
    let settings = opts.settings()?;
    let listen = listen
        .or(settings.serve.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr = parse_listen(&listen)?;
    if !addr.ip().is_loopback() && settings.serve.users.is_empty() {
        return fail(
            Code::Config,
            format!(
                "refusing to serve the console on {addr}, beyond loopback, without a login: \
                 add users to serve.users in the config (hashes from `dnsctl serve \
                 --hash-password`), or listen on 127.0.0.1"
            ),
        );
    }
    let idle = settings.serve.session_idle()?;
    let auth = auth::Auth::new(&settings.serve.users, addr.ip().is_loopback(), idle)?;
    let mut status_key = status_key
        .or(settings.serve.status_key.clone())
        .unwrap_or_else(|| DEFAULT_STATUS_KEY.to_string());
    if !status_key.ends_with('/') {
        status_key.push('/');
    }
    let ctx = opts.connect_with(settings).await?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::new(Code::Error, format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::new(Code::Error, format!("cannot listen on {addr}: {e}")))?;
    auth.set_port(local.port());
    let app = Arc::new(App {
        ctx,
        status_key,
        auth,
    });
    eprintln!("dnsctl: console at http://{local}/");
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| Failure::new(Code::Error, format!("console server: {e}")))
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/login",
            get(|| async { asset(LOGIN_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset(APP_JS, "text/javascript") }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset(STYLE_CSS, "text/css") }),
        )
        .route("/api/session", get(auth::session))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/state", get(api::state))
        .route("/api/validate", post(api::validate))
        .route("/api/hosts", post(api::save))
        .route("/api/records", post(api::set_record))
        .route("/api/history", get(api::history))
        .route("/api/diff", get(api::diff))
        .route("/api/rollback", post(api::rollback))
        .route("/api/fleet", get(api::fleet))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(survive_panics))
        .with_state(app)
}

/// A bug in one request must not take the console down with it, nor leave the browser
/// without an answer: the request runs as its own task, and a panic becomes an error reply.
async fn survive_panics(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(_) => api::failure(Failure::new(
            Code::Error,
            "internal error while talking to etcd",
        )),
    }
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `127.0.0.1:8053`, `[::1]:8053`, `localhost:8053`, or a bare port (loopback).
fn parse_listen(listen: &str) -> Result<SocketAddr> {
    if let Ok(port) = listen.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = listen.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    listen.parse().map_err(|_| {
        Failure::new(
            Code::Usage,
            format!("--listen: {listen:?} is not an address such as 127.0.0.1:8053"),
        )
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("dnsctl: console stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("8053").unwrap().to_string(), "127.0.0.1:8053");
        assert_eq!(
            parse_listen("localhost:9").unwrap().to_string(),
            "127.0.0.1:9"
        );
        assert_eq!(parse_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(!parse_listen("0.0.0.0:80").unwrap().ip().is_loopback());
        assert!(parse_listen("example.org:80").is_err());
    }
}
