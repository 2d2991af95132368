//! `dnsctl diff [REV1] [REV2]`: what changed, as a unified diff.

use serde::Serialize;

use crate::error::{fail, Code, Result};
use crate::output::{line_changes, lossy, unified};
use crate::store::State;
use crate::view;
use crate::{Ctx, Opts};

#[derive(Serialize)]
struct Report {
    key: String,
    from: i64,
    to: i64,
    changed: bool,
    lines_added: usize,
    lines_removed: usize,
    diff: String,
}

pub async fn run(opts: Opts, rev1: Option<i64>, rev2: Option<i64>) -> Result<()> {
    let ctx = opts.connect().await?;
    let now = ctx.store.read(&ctx.target, None).await?;
    let (old, new) = match (rev1, rev2) {
        (None, _) => {
            let Some(last) = ctx.store.change_point(&ctx.target, &now).await? else {
                return fail(
                    Code::NotFound,
                    format!("{} does not exist in etcd", ctx.target.describe()),
                );
            };
            (read_before(&ctx, last).await?, now)
        }
        (Some(r1), None) => (ctx.store.read(&ctx.target, Some(r1)).await?, now),
        (Some(r1), Some(r2)) => (
            ctx.store.read(&ctx.target, Some(r1)).await?,
            ctx.store.read(&ctx.target, Some(r2)).await?,
        ),
    };
    let old_text = lossy(&view::render_for_display(&ctx.target, &old)).into_owned();
    let new_text = lossy(&view::render_for_display(&ctx.target, &new)).into_owned();
    let label = |s: &State| format!("{}@{}", ctx.target.key, s.at);
    if ctx.out.json() {
        let (lines_added, lines_removed) = line_changes(&old_text, &new_text);
        return ctx.out.print_json(&Report {
            key: ctx.target.key.clone(),
            from: old.at,
            to: new.at,
            changed: old_text != new_text,
            lines_added,
            lines_removed,
            diff: unified(&old_text, &new_text, &label(&old), &label(&new), false),
        });
    }
    let diff = unified(
        &old_text,
        &new_text,
        &label(&old),
        &label(&new),
        ctx.out.color,
    );
    if diff.is_empty() {
        eprintln!(
            "dnsctl: no differences between revisions {} and {}",
            old.at, new.at
        );
        return Ok(());
    }
    ctx.out.print(&diff)
}

/// The state just before revision `rev` (empty before the first revision).
async fn read_before(ctx: &Ctx, rev: i64) -> Result<State> {
    if rev <= 1 {
        return Ok(State {
            at: 0,
            kvs: Vec::new(),
            layout: Default::default(),
        });
    }
    ctx.store.read(&ctx.target, Some(rev - 1)).await
}
