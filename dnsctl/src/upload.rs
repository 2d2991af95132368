//! `dnsctl upload FILE`: replace the hosts file (restore a backup), validated first.

use std::path::Path;

use crate::error::{fail, Code, Result};
use crate::output::{lossy, unified};
use crate::store::State;
use crate::view;
use crate::write::{commit_text, read_input, Outcome, Report};
use crate::{Ctx, Opts};

pub async fn run(
    opts: Opts,
    file: &Path,
    expect_revision: Option<i64>,
    dry_run: bool,
) -> Result<()> {
    let text = read_input(file)?;
    let name = file.display().to_string();
    // Strict validation before anything else: a bad file never reaches etcd.
    view::validate(&text, &name)?;
    let ctx = opts.connect().await?;
    let base = ctx.store.read(&ctx.target, None).await?;
    let current = ctx
        .store
        .change_point(&ctx.target, &base)
        .await?
        .unwrap_or(0);
    if let Some(expected) = expect_revision {
        if current != expected {
            return fail(
                Code::Conflict,
                format!(
                    "{} was last changed at revision {current}, not {expected}: someone else \
                     changed it; nothing written (see `dnsctl diff {expected}`)",
                    ctx.target.describe()
                ),
            );
        }
    }
    let old = view::render_for_display(&ctx.target, &base);
    if dry_run {
        return dry_run_report(&ctx, &base, current, &old, &text, &name);
    }
    let report = match commit_text(&ctx, &base, &text, &name, "upload", None).await? {
        Outcome::Unchanged => Report::new(
            &ctx,
            &old,
            &text,
            None,
            format!(
                "{} already holds {name}; nothing written",
                ctx.target.describe()
            ),
        )
        .at(base.newest_mod_revision()),
        Outcome::Written(revision) => Report::new(
            &ctx,
            &old,
            &text,
            Some(revision),
            format!("uploaded {name} to {}", ctx.target.describe()),
        ),
        Outcome::Conflict => {
            return fail(
                Code::Conflict,
                format!(
                    "{} changed while uploading (someone else wrote it); nothing written. \
                     Check `dnsctl diff` and upload again",
                    ctx.target.describe()
                ),
            )
        }
    };
    report.print(&ctx)
}

/// `--dry-run`: the diff the upload would write (on stdout, for review), the summary, and
/// no write. The summary's revision is `current`, the one the key was last changed at.
pub fn dry_run_report(
    ctx: &Ctx,
    base: &State,
    current: i64,
    old: &[u8],
    text: &[u8],
    name: &str,
) -> Result<()> {
    let changes = !view::plan(&ctx.target, base, text)?.is_empty();
    if !ctx.out.json() {
        ctx.out.print(&unified(
            &lossy(old),
            &lossy(text),
            &format!("{}@{}", ctx.target.key, base.at),
            name,
            ctx.out.color,
        ))?;
    }
    let outcome = if changes {
        "would change"
    } else {
        "already holds"
    };
    let mut report = Report::new(
        ctx,
        old,
        text,
        None,
        format!(
            "dry run: {name} {outcome} {}; nothing written",
            ctx.target.describe()
        ),
    );
    report.revision = current;
    report.print(ctx)
}
