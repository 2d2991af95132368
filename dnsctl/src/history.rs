//! `dnsctl history`: the revisions of the hosts file etcd still holds, newest first.
//!
//! etcd keeps old revisions until they are compacted. Walk back from now: the state's last
//! change point (its newest mod revision, or a later fragment deletion), then the state
//! just before it, and so on, until the key did not exist yet or the revision was
//! compacted away.

use serde::Serialize;

use crate::error::{fail, Code, Result};
use crate::store::Meta;
use crate::view;
use crate::{Ctx, Opts};

#[derive(Serialize)]
pub struct Entry {
    pub revision: i64,
    /// etcd's per-key version (plain keys), or the number of fragments (prefix keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragments: Option<usize>,
    /// Counted for revisions read from etcd; a chunked key's versions tell their lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<u64>,
    pub invalid_lines: usize,
    pub bytes: usize,
    pub modified: Option<String>,
    pub modified_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip)]
    pub meta: Option<Meta>,
}

#[derive(Serialize)]
struct Report {
    key: String,
    entries: Vec<Entry>,
    /// Why the list ends: "created" (the key did not exist before), "compacted" (etcd
    /// no longer holds older revisions), "limit" (--limit), "start" (revision 1) or, for a
    /// chunked key, "versions" (the oldest version record: `dnsctl gc` removes old ones).
    ends: &'static str,
}

pub async fn run(opts: Opts, limit: Option<usize>) -> Result<()> {
    let ctx = opts.connect().await?;
    let target = &ctx.target;
    let (entries, ends) = entries(&ctx, limit).await?;
    if ctx.out.json() {
        return ctx.out.print_json(&Report {
            key: target.key.clone(),
            entries,
            ends,
        });
    }
    let second = if target.prefix {
        "FRAGMENTS"
    } else {
        "VERSION"
    };
    let mut s = if ends == "versions" || entries.first().is_some_and(|e| e.lines.is_some()) {
        format!("{:>9}  {:>9}  MODIFIED\n", "REVISION", "LINES")
    } else {
        format!(
            "{:>9}  {:>9}  {:>8}  MODIFIED\n",
            "REVISION", second, "RECORDS"
        )
    };
    for e in &entries {
        if let Some(lines) = e.lines {
            let modified = e.meta.as_ref().map_or_else(|| "-".into(), |m| m.describe());
            s.push_str(&format!("{:>9}  {lines:>9}  {modified}\n", e.revision));
            continue;
        }
        let modified = e
            .meta
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_else(|| "-".into());
        let second = e.version.unwrap_or(e.fragments.unwrap_or(0) as i64);
        let invalid = if e.invalid_lines > 0 {
            format!(" (+{} invalid lines)", e.invalid_lines)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{:>9}  {:>9}  {:>8}  {modified}{invalid}\n",
            e.revision,
            second,
            e.records.unwrap_or(0)
        ));
    }
    let oldest = entries.last().map_or(0, |e| e.revision);
    s.push_str(&match ends {
        "created" => format!("{} was created at revision {oldest}\n", target.describe()),
        "compacted" => {
            format!("history goes back to revision {oldest}: etcd compacted the older revisions\n")
        }
        "limit" => format!("(showing the last {} changes)\n", entries.len()),
        "versions" => format!(
            "the oldest version kept is revision {oldest} (kept under {}; `dnsctl gc` \
             removes old ones)\n",
            etcdhosts::chunked::versions_prefix(&target.key)
        ),
        _ => String::new(),
    });
    ctx.out.print(&s)
}

/// The revisions etcd still holds, newest first (at most `limit`, 0 or None: all), and
/// why the list ends.
pub async fn entries(ctx: &Ctx, limit: Option<usize>) -> Result<(Vec<Entry>, &'static str)> {
    let limit = limit.filter(|&n| n > 0);
    let target = &ctx.target;
    let mut state = ctx.store.read(target, None).await?;
    if state.layout.is_chunked() {
        let (entries, ends) = version_entries(ctx, limit).await?;
        // A manifest written by another tool has no version records: walk etcd's history.
        if !entries.is_empty() {
            return Ok((entries, ends));
        }
    }
    let mut entries = Vec::new();
    let ends = loop {
        let Some(revision) = ctx.store.change_point(target, &state).await? else {
            if entries.is_empty() {
                return fail(
                    Code::NotFound,
                    format!("{} does not exist in etcd", target.describe()),
                );
            }
            break "created";
        };
        let text = view::render_for_display(target, &state);
        let (records, invalid_lines) = view::count(&text);
        let meta = ctx.store.meta_at(revision).await?;
        entries.push(Entry {
            revision,
            version: (!target.prefix).then(|| state.kvs[0].version),
            fragments: target.prefix.then_some(state.kvs.len()),
            records: Some(records),
            lines: None,
            invalid_lines,
            bytes: state.kvs.iter().map(|kv| kv.value.len()).sum(),
            modified: meta.as_ref().map(|m| m.time.clone()),
            modified_by: meta.as_ref().map(|m| format!("{}@{}", m.user, m.host)),
            command: meta.as_ref().map(|m| m.command.clone()),
            meta,
        });
        if limit.is_some_and(|n| entries.len() >= n) {
            break "limit";
        }
        if revision <= 1 {
            break "start";
        }
        match ctx.store.try_read(target, Some(revision - 1)).await? {
            None => break "compacted",
            Some(before) if !before.exists() => break "created",
            Some(before) => state = before,
        }
    };
    Ok((entries, ends))
}

/// A chunked key's history: its version records, which outlive etcd's compaction. Each
/// one's revision is that of the write, so `diff`, `dump --rev` and `rollback` take it.
async fn version_entries(ctx: &Ctx, limit: Option<usize>) -> Result<(Vec<Entry>, &'static str)> {
    let versions = crate::chunks::versions(&ctx.store, &ctx.target.key).await?;
    let shown = limit.unwrap_or(usize::MAX);
    let ends = if versions.len() > shown {
        "limit"
    } else {
        "versions"
    };
    let entries = versions
        .into_iter()
        .take(shown)
        .map(|v| {
            let meta = v.record.meta;
            Entry {
                revision: v.revision,
                version: None,
                fragments: None,
                records: None,
                lines: Some(v.record.lines),
                invalid_lines: 0,
                bytes: v.record.bytes as usize,
                modified: Some(meta.time.clone()),
                modified_by: Some(format!("{}@{}", meta.user, meta.host)),
                command: Some(meta.command.clone()),
                meta: Some(meta),
            }
        })
        .collect();
    Ok((entries, ends))
}
