//! `dnsctl rollback REV`: write the hosts file as it was at revision REV, as a new revision.

use crate::error::{fail, Code, Result};
use crate::output::{ask, lossy, stdin_is_terminal, unified};
use crate::view;
use crate::write::{commit_text, Outcome, Report};
use crate::Opts;

pub async fn run(opts: Opts, rev: i64, yes: bool) -> Result<()> {
    let ctx = opts.connect().await?;
    let old = ctx.store.read(&ctx.target, Some(rev)).await?;
    if !old.exists() {
        return fail(
            Code::NotFound,
            format!(
                "{} did not exist at revision {rev}; nothing to roll back to",
                ctx.target.describe()
            ),
        );
    }
    let text = view::render(&ctx.target, &old)?;
    let what = format!("revision {rev} of {}", ctx.target.key);
    view::validate(&text, &what)?;
    let base = ctx.store.read(&ctx.target, None).await?;
    let current = view::render_for_display(&ctx.target, &base);
    if view::plan(&ctx.target, &base, &text)?.is_empty() {
        return Report::new(
            &ctx,
            &current,
            &text,
            None,
            format!(
                "{} already has the content of revision {rev}; nothing written",
                ctx.target.describe()
            ),
        )
        .at(base.newest_mod_revision())
        .print(&ctx);
    }
    if !ctx.out.json() {
        ctx.out.print(&unified(
            &lossy(&current),
            &lossy(&text),
            &format!("{}@{}", ctx.target.key, base.at),
            &format!("{}@{rev}", ctx.target.key),
            ctx.out.color,
        ))?;
    }
    if stdin_is_terminal() && !yes {
        let answer = ask(&format!(
            "Roll {} back to revision {rev}? [y/N]",
            ctx.target.describe()
        ));
        if !matches!(answer.as_deref(), Some("y" | "yes")) {
            eprintln!("dnsctl: nothing written");
            return Ok(());
        }
    }
    match commit_text(&ctx, &base, &text, &what, "rollback", None).await? {
        Outcome::Written(revision) => Report::new(
            &ctx,
            &current,
            &text,
            Some(revision),
            format!("rolled {} back to revision {rev}", ctx.target.describe()),
        )
        .print(&ctx),
        Outcome::Unchanged => Ok(()),
        Outcome::Conflict => fail(
            Code::Conflict,
            format!(
                "{} changed while rolling back (someone else wrote it); nothing written. \
                 Check `dnsctl diff` and run the rollback again",
                ctx.target.describe()
            ),
        ),
    }
}
