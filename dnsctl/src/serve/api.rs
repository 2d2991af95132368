//! The console's JSON API. Every write is the CLI's write: validate strictly, then a
//! compare-and-swap against the revision the browser's view was based on. A stale base is
//! a conflict (409) carrying their text, ours and the diff; nothing is overwritten.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use etcdhosts::hosts::parse_records;
use etcdhosts::{InstanceStatus, Zones};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Session;
use super::App;
use crate::error::{fail, Code, Failure, Result};
use crate::lookup::{self, Named};
use crate::output::{line_changes, lossy, unified};
use crate::store::{State as Stored, Target};
use crate::write::{commit_text, Outcome};
use crate::{history, records, view, Ctx};

/// How many revisions the history page lists.
const HISTORY_LIMIT: usize = 200;

pub fn failure(f: Failure) -> Response {
    let status = match f.code {
        Code::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        Code::Conflict => StatusCode::CONFLICT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Usage => StatusCode::BAD_REQUEST,
        Code::Config | Code::Error => StatusCode::BAD_GATEWAY,
    };
    (status, Json(json!({ "error": f.message }))).into_response()
}

fn reply<T: Serialize>(result: Result<T>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(f) => failure(f),
    }
}

#[derive(Serialize)]
struct Invalid {
    line: usize,
    reason: String,
}

/// Names and their addresses (in file order), and the invalid lines.
fn records_of(text: &[u8]) -> (Vec<Named>, Vec<Invalid>) {
    let (parsed, diags) = parse_records(text, &Zones::new::<&str>(&[]));
    let records = lookup::by_name(parsed);
    let invalid = diags
        .into_iter()
        .map(|d| Invalid {
            line: d.line,
            reason: d.reason,
        })
        .collect();
    (records, invalid)
}

/// `GET /api/state`: the text, its revision (the base for the next save) and its records.
pub async fn state(State(app): State<Arc<App>>) -> Response {
    let ctx = &app.ctx;
    reply(ctx.store.read(&ctx.target, None).await.map(|state| {
        let text = view::render_for_display(&ctx.target, &state);
        let (records, invalid) = records_of(&text);
        json!({
            "key": ctx.target.key,
            "exists": state.exists(),
            "revision": state.newest_mod_revision(),
            "text": lossy(&text),
            "records": records,
            "invalid": invalid,
        })
    }))
}

#[derive(Deserialize)]
pub struct TextBody {
    text: String,
}

/// `POST /api/validate`: the invalid lines of a text, numbered as the editor shows them.
pub async fn validate(Json(body): Json<TextBody>) -> Response {
    let (records, invalid) = records_of(body.text.as_bytes());
    Json(json!({ "records": records.len(), "invalid": invalid })).into_response()
}

/// What a write did, as the browser gets it.
enum Written {
    Done {
        revision: i64,
        added: usize,
        removed: usize,
    },
    Unchanged(i64),
    Conflict {
        revision: i64,
        theirs: String,
        yours: String,
    },
    Invalid(Vec<Invalid>),
}

impl Written {
    fn into_response(self, key: &str) -> Response {
        match self {
            Written::Done {
                revision,
                added,
                removed,
            } => Json(json!({
                "written": true,
                "revision": revision,
                "lines_added": added,
                "lines_removed": removed,
                "message": format!("Saved: revision {revision} (+{added} -{removed} lines)"),
            }))
            .into_response(),
            Written::Unchanged(revision) => Json(json!({
                "written": false,
                "revision": revision,
                "message": "Nothing changed: nothing written",
            }))
            .into_response(),
            Written::Conflict {
                revision,
                theirs,
                yours,
            } => {
                let diff = unified(
                    &theirs,
                    &yours,
                    &format!("{key}@{revision} (theirs)"),
                    "yours",
                    false,
                );
                (
                    StatusCode::CONFLICT,
                    Json(json!({
                        "error": format!(
                            "{key} was changed by someone else (now at revision {revision}); \
                             nothing written"
                        ),
                        "conflict": { "revision": revision, "theirs": theirs, "yours": yours, "diff": diff },
                    })),
                )
                    .into_response()
            }
            Written::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!("{} invalid line(s): nothing written", errors.len()),
                    "invalid": errors,
                })),
            )
                .into_response(),
        }
    }

    fn audit(&self) -> String {
        match self {
            Written::Done {
                revision,
                added,
                removed,
            } => format!("revision={revision} lines=+{added}-{removed}"),
            Written::Unchanged(revision) => format!("revision={revision} unchanged"),
            Written::Conflict { revision, .. } => format!("revision={revision} conflict"),
            Written::Invalid(errors) => format!("invalid_lines={}", errors.len()),
        }
    }
}

/// The text of `target` at `revision` (empty where it did not exist).
async fn text_at(ctx: &Ctx, revision: i64) -> Result<String> {
    if revision <= 0 {
        return Ok(String::new());
    }
    let state = ctx.store.read(&ctx.target, Some(revision)).await?;
    Ok(lossy(&view::render_for_display(&ctx.target, &state)).into_owned())
}

/// The one write path: `change` turns the text the browser saw (at `base`) into the new
/// text, written in `user`'s name.
async fn write(
    ctx: &Ctx,
    user: &str,
    base: i64,
    command: &str,
    change: impl Fn(&str) -> Result<String>,
) -> Result<Written> {
    let current = ctx.store.read(&ctx.target, None).await?;
    if current.newest_mod_revision() != base {
        return conflict(ctx, base, &current, &change).await;
    }
    let old = String::from_utf8(view::render(&ctx.target, &current)?).map_err(|_| {
        Failure::new(
            Code::Invalid,
            "the stored hosts file is not valid UTF-8: fix it with `dnsctl edit`",
        )
    })?;
    let new = change(&old)?;
    if let Err(diags) = etcdhosts::hosts::validate(new.as_bytes()) {
        return Ok(Written::Invalid(
            diags
                .into_iter()
                .map(|d| Invalid {
                    line: d.line,
                    reason: d.reason,
                })
                .collect(),
        ));
    }
    let what = "the console's text";
    let outcome = commit_text(ctx, &current, new.as_bytes(), what, command, Some(user)).await?;
    Ok(match outcome {
        Outcome::Written(revision) => {
            let (added, removed) = line_changes(&old, &new);
            Written::Done {
                revision,
                added,
                removed,
            }
        }
        Outcome::Unchanged => Written::Unchanged(current.newest_mod_revision()),
        Outcome::Conflict => {
            let theirs = ctx.store.read(&ctx.target, None).await?;
            return conflict(ctx, base, &theirs, &change).await;
        }
    })
}

/// The conflict with `current`, which someone else wrote: their text, and ours: our change
/// applied to what we saw (at `base`), or to theirs if etcd no longer holds that revision.
async fn conflict(
    ctx: &Ctx,
    base: i64,
    current: &Stored,
    change: impl Fn(&str) -> Result<String>,
) -> Result<Written> {
    let theirs = lossy(&view::render_for_display(&ctx.target, current)).into_owned();
    let seen = text_at(ctx, base).await.unwrap_or_else(|_| theirs.clone());
    Ok(Written::Conflict {
        revision: current.newest_mod_revision(),
        yours: change(&seen)?,
        theirs,
    })
}

/// Writes, logs the audit line, answers the browser.
async fn write_and_reply(
    app: &App,
    user: String,
    peer: SocketAddr,
    action: String,
    base: i64,
    change: impl Fn(&str) -> Result<String>,
) -> Response {
    let command = format!("console {}", action.split(' ').next().unwrap_or("edit"));
    let result = write(&app.ctx, &user, base, &command, change).await;
    let outcome = match &result {
        Ok(w) => w.audit(),
        Err(f) => format!("error={:?}", f.message),
    };
    eprintln!(
        "dnsctl audit: user={user} from={} action={action} key={} base={base} {outcome}",
        peer.ip(),
        app.ctx.target.key
    );
    match result {
        Ok(w) => w.into_response(&app.ctx.target.key),
        Err(f) => failure(f),
    }
}

#[derive(Deserialize)]
pub struct Save {
    base: i64,
    text: String,
}

/// `POST /api/hosts`: replace the whole text (the raw editor).
pub async fn save(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<Save>,
) -> Response {
    let text = body.text;
    write_and_reply(&app, session.user, peer, "save".into(), body.base, |_| {
        Ok(text.clone())
    })
    .await
}

#[derive(Deserialize)]
pub struct SetRecord {
    base: i64,
    name: String,
    /// The name's addresses after the change; none deletes the name.
    addrs: Vec<String>,
}

/// `POST /api/records`: set a name's addresses (add, edit, delete), keeping every other
/// line as it is.
pub async fn set_record(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<SetRecord>,
) -> Response {
    let name = body.name.trim().trim_end_matches('.').to_string();
    let wanted: Result<Vec<(String, std::net::IpAddr)>> = records::fqdn(&name).and_then(|_| {
        body.addrs
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .map(|a| Ok((a.to_string(), records::address(a)?)))
            .collect()
    });
    let wanted = match wanted {
        Ok(w) => w,
        Err(f) => return failure(f),
    };
    let action = if wanted.is_empty() {
        format!("delete name={name}")
    } else {
        let addrs: Vec<&str> = wanted.iter().map(|(s, _)| s.as_str()).collect();
        format!("set name={name} addrs={}", addrs.join(","))
    };
    write_and_reply(&app, session.user, peer, action, body.base, move |text| {
        let target = records::fqdn(&name)?;
        // Drop the addresses no longer wanted, then append the new ones.
        let (current, _) = parse_records(text.as_bytes(), &Zones::new::<&str>(&[]));
        let mut out = text.to_string();
        for r in current.iter().filter(|r| r.name == target) {
            if !wanted.iter().any(|(_, a)| *a == r.addr) {
                out = records::del_names(&out, &name, Some(r.addr)).0;
            }
        }
        Ok(records::add_lines(&out, &name, &wanted).0)
    })
    .await
}

#[derive(Deserialize)]
pub struct Rollback {
    base: i64,
    revision: i64,
}

/// `POST /api/rollback`: a new revision with the content of an old one.
pub async fn rollback(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<Rollback>,
) -> Response {
    let revision = body.revision;
    let old = match text_to_restore(&app.ctx, revision).await {
        Ok(t) => t,
        Err(f) => return failure(f),
    };
    write_and_reply(
        &app,
        session.user,
        peer,
        format!("rollback to={revision}"),
        body.base,
        |_| Ok(old.clone()),
    )
    .await
}

/// What the target held at `revision`, for a rollback.
async fn text_to_restore(ctx: &Ctx, revision: i64) -> Result<String> {
    let state = ctx.store.read(&ctx.target, Some(revision)).await?;
    if !state.exists() {
        return fail(
            Code::NotFound,
            format!("{} did not exist at revision {revision}", ctx.target.key),
        );
    }
    Ok(lossy(&view::render(&ctx.target, &state)?).into_owned())
}

/// `GET /api/history`: the revisions etcd still holds, newest first.
pub async fn history(State(app): State<Arc<App>>) -> Response {
    let ctx = &app.ctx;
    reply(
        history::entries(ctx, Some(HISTORY_LIMIT)).await.map(
            |(entries, ends)| json!({ "key": ctx.target.key, "entries": entries, "ends": ends }),
        ),
    )
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: i64,
    to: Option<i64>,
}

/// `GET /api/diff?from=A&to=B`: unified diff between two revisions (B: now).
pub async fn diff(State(app): State<Arc<App>>, Query(q): Query<DiffQuery>) -> Response {
    reply(revisions_diff(&app.ctx, q).await)
}

async fn revisions_diff(ctx: &Ctx, q: DiffQuery) -> Result<Value> {
    let old = text_at(ctx, q.from).await?;
    let (new, to) = match q.to {
        Some(to) => (text_at(ctx, to).await?, to),
        None => {
            let now = ctx.store.read(&ctx.target, None).await?;
            let text = view::render_for_display(&ctx.target, &now);
            (lossy(&text).into_owned(), now.newest_mod_revision())
        }
    };
    let key = &ctx.target.key;
    let (added, removed) = line_changes(&old, &new);
    Ok(json!({
        "from": q.from,
        "to": to,
        "lines_added": added,
        "lines_removed": removed,
        "diff": unified(&old, &new, &format!("{key}@{}", q.from), &format!("{key}@{to}"), false),
    }))
}

/// `GET /api/fleet`: every CoreDNS instance's status key, and whether it serves the
/// current revision of our key.
pub async fn fleet(State(app): State<Arc<App>>) -> Response {
    reply(fleet_state(&app.ctx, &app.status_key).await)
}

async fn fleet_state(ctx: &Ctx, status_key: &str) -> Result<Value> {
    let current = ctx
        .store
        .read(&ctx.target, None)
        .await?
        .newest_mod_revision();
    let status_prefix = Target {
        key: status_key.to_string(),
        prefix: true,
    };
    let statuses = ctx.store.read(&status_prefix, None).await?;
    let mut instances = Vec::new();
    for kv in &statuses.kvs {
        // The record the plugin's status writer writes, read with the same type.
        let Ok(record) = serde_json::from_slice::<InstanceStatus>(&kv.value) else {
            instances.push(json!({
                "instance": kv.key_lossy(),
                "invalid": true,
                "state": "other-key",
                "status_key": kv.key_lossy(),
            }));
            continue;
        };
        let state = if record.key != ctx.target.key {
            "other-key"
        } else if record.revision < current {
            "behind"
        } else {
            "ok"
        };
        let mut status = json!(record);
        status["state"] = json!(state);
        status["status_key"] = json!(kv.key_lossy());
        instances.push(status);
    }
    Ok(json!({
        "key": ctx.target.key,
        "status_key": status_key,
        "revision": current,
        "instances": instances,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_grouped_by_name() {
        let text = b"10.0.0.1 a.example.org b.example.org\n10.0.0.2 a.example.org\nbad line\n";
        let (records, invalid) = records_of(text);
        let names: Vec<_> = records
            .iter()
            .map(|r| (r.name.as_str(), r.addrs.join(" ")))
            .collect();
        assert_eq!(
            names,
            [
                ("a.example.org", "10.0.0.1 10.0.0.2".to_string()),
                ("b.example.org", "10.0.0.1".to_string())
            ]
        );
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].line, 3);
    }
}
