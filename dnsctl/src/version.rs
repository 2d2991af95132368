//! `dnsctl version`: the key's revision, version, modification time and record count.

use serde::Serialize;

use crate::error::{fail, Code, Result};
use crate::output::n_of;
use crate::view;
use crate::Opts;

#[derive(Serialize)]
struct Report {
    key: String,
    prefix: bool,
    /// The etcd revision of the last change.
    revision: i64,
    /// etcd's per-key change counter (plain keys only).
    version: Option<i64>,
    /// When and by whom, if dnsctl wrote the last change.
    modified: Option<String>,
    modified_by: Option<String>,
    records: usize,
    invalid_lines: usize,
    bytes: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fragments: Vec<Fragment>,
    /// How a plain key is stored: plain or chunked (see `dnsctl layout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<&'static str>,
}

#[derive(Serialize)]
struct Fragment {
    key: String,
    revision: i64,
    version: i64,
    records: usize,
}

pub async fn run(opts: Opts) -> Result<()> {
    let ctx = opts.connect().await?;
    let state = ctx.store.read(&ctx.target, None).await?;
    let Some(revision) = ctx.store.change_point(&ctx.target, &state).await? else {
        return fail(
            Code::NotFound,
            format!(
                "{} does not exist in etcd (create it with `dnsctl edit` or `dnsctl upload FILE`)",
                ctx.target.describe()
            ),
        );
    };
    let meta = ctx.store.meta_at(revision).await?;
    let text = view::render_for_display(&ctx.target, &state);
    let (records, invalid_lines) = view::count(&text);
    let report = Report {
        key: ctx.target.key.clone(),
        prefix: ctx.target.prefix,
        revision,
        version: (!ctx.target.prefix).then(|| state.kvs[0].version),
        modified: meta.as_ref().map(|m| m.time.clone()),
        modified_by: meta.as_ref().map(|m| format!("{}@{}", m.user, m.host)),
        records,
        invalid_lines,
        bytes: state.kvs.iter().map(|kv| kv.value.len()).sum(),
        fragments: if ctx.target.prefix {
            state
                .kvs
                .iter()
                .map(|kv| Fragment {
                    key: kv.key_lossy(),
                    revision: kv.mod_revision,
                    version: kv.version,
                    records: view::count(&kv.value).0,
                })
                .collect()
        } else {
            Vec::new()
        },
        layout: (!ctx.target.prefix).then_some(if state.layout.is_chunked() {
            "chunked"
        } else {
            "plain"
        }),
    };
    if ctx.out.json() {
        return ctx.out.print_json(&report);
    }
    let mut s = String::new();
    s.push_str(&format!("key:       {}\n", ctx.target.describe()));
    s.push_str(&format!("revision:  {revision}\n"));
    if let Some(v) = report.version {
        s.push_str(&format!("version:   {v}\n"));
    }
    s.push_str(&format!(
        "modified:  {}\n",
        meta.map(|m| m.describe())
            .unwrap_or_else(|| "unknown (not written by dnsctl)".into())
    ));
    s.push_str(&format!("records:   {records}\n"));
    if state.layout.is_chunked() {
        s.push_str("layout:    chunked (`dnsctl layout` tells more)\n");
    }
    if invalid_lines > 0 {
        s.push_str(&format!(
            "invalid:   {invalid_lines} lines (skipped by the plugin)\n"
        ));
    }
    if !report.fragments.is_empty() {
        s.push_str(&format!("fragments: {}\n", report.fragments.len()));
        for f in &report.fragments {
            s.push_str(&format!(
                "  {}  revision {}  version {}  {}\n",
                f.key,
                f.revision,
                f.version,
                n_of(f.records, "record")
            ));
        }
    }
    ctx.out.print(&s)
}
