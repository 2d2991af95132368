//! `dnsctl layout [plain|chunked]`: how the hosts key is stored, and converting it in one
//! compare-and-swap transaction (the text stays byte for byte the same).

use serde::Serialize;

use crate::chunks::PLAIN_MAX_BYTES;
use crate::error::{fail, Code, Result};
use crate::output::{ask, stdin_is_terminal};
use crate::store::{human_bytes, Commit, Layout, Op};
use crate::view;
use crate::Opts;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Want {
    /// The key's value is the hosts file (up to 1 MiB)
    Plain,
    /// The key's value lists chunks stored under KEY.chunks/ (any size)
    Chunked,
}

#[derive(Serialize)]
struct Report {
    key: String,
    /// plain, chunked or prefix.
    layout: &'static str,
    revision: i64,
    lines: usize,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    indexes: Option<usize>,
    /// Whether this run converted the key.
    converted: bool,
}

pub async fn run(opts: Opts, want: Option<Want>, yes: bool) -> Result<()> {
    let ctx = opts.connect().await?;
    let target = &ctx.target;
    let state = ctx.store.read(target, None).await?;
    if !state.exists() {
        return fail(
            Code::NotFound,
            format!("{} does not exist in etcd", target.describe()),
        );
    }
    let text = view::render_for_display(target, &state);
    let (chunks, indexes) = match &state.layout {
        Layout::Chunked {
            manifest, chunks, ..
        } => (Some(*chunks), Some(manifest.indexes.len())),
        Layout::Plain => (None, None),
    };
    let mut report = Report {
        key: target.key.clone(),
        layout: if target.prefix {
            "prefix"
        } else if state.layout.is_chunked() {
            "chunked"
        } else {
            "plain"
        },
        revision: state.newest_mod_revision(),
        lines: text.split_inclusive(|&b| b == b'\n').count(),
        bytes: text.len(),
        chunks,
        indexes,
        converted: false,
    };
    let Some(want) = want else {
        return print(&ctx, &report);
    };
    if !ctx.store.chunkable(target) {
        return fail(
            Code::Usage,
            format!(
                "{} is part of a prefix key: only a plain key has a chunked layout",
                target.describe()
            ),
        );
    }
    let name = if want == Want::Chunked {
        "chunked"
    } else {
        "plain"
    };
    if report.layout == name {
        eprintln!("dnsctl: {} is {name} already; nothing written", target.key);
        return print(&ctx, &report);
    }
    if want == Want::Plain && text.len() > PLAIN_MAX_BYTES {
        return fail(
            Code::Error,
            format!(
                "{} holds {}: a plain value may hold at most {} (etcd's request limit is 1.5 \
                 MiB by default); it stays chunked, nothing written",
                target.key,
                human_bytes(text.len()),
                human_bytes(PLAIN_MAX_BYTES)
            ),
        );
    }
    if stdin_is_terminal() && !yes {
        let answer = ask(&format!("Store {} in the {name} layout? [y/N]", target.key));
        if !matches!(answer.as_deref(), Some("y" | "yes")) {
            eprintln!("dnsctl: nothing written");
            return Ok(());
        }
    }
    let ops = [Op::Put(target.key.as_bytes().to_vec(), text)];
    let committed = ctx
        .store
        .commit_as(target, &state, &ops, "layout", None, want == Want::Chunked)
        .await?;
    match committed {
        Commit::Done(revision) => {
            let now = ctx.store.read(target, None).await?;
            if let Layout::Chunked {
                manifest, chunks, ..
            } = &now.layout
            {
                report.chunks = Some(*chunks);
                report.indexes = Some(manifest.indexes.len());
            } else {
                (report.chunks, report.indexes) = (None, None);
            }
            report.layout = name;
            report.revision = revision;
            report.converted = true;
            print(&ctx, &report)
        }
        Commit::Conflict => fail(
            Code::Conflict,
            format!(
                "{} changed while converting it (someone else wrote it); nothing written. \
                 Run the command again",
                target.key
            ),
        ),
    }
}

fn print(ctx: &crate::Ctx, r: &Report) -> Result<()> {
    if ctx.out.json() {
        return ctx.out.print_json(r);
    }
    let mut s = String::new();
    if r.converted {
        s.push_str(&format!(
            "converted {} to the {} layout: revision {}\n",
            r.key, r.layout, r.revision
        ));
    }
    s.push_str(&format!("key:       {}\n", r.key));
    s.push_str(&format!("layout:    {}\n", r.layout));
    s.push_str(&format!("revision:  {}\n", r.revision));
    s.push_str(&format!("lines:     {}\n", r.lines));
    s.push_str(&format!("bytes:     {}\n", r.bytes));
    if let (Some(chunks), Some(indexes)) = (r.chunks, r.indexes) {
        s.push_str(&format!("chunks:    {chunks}\n"));
        s.push_str(&format!("indexes:   {indexes}\n"));
    }
    ctx.out.print(&s)
}
