//! The one way dnsctl writes: validate strictly, plan the etcd operations, commit them as
//! a compare-and-swap against the state the text was based on.

use serde::Serialize;

use crate::error::Result;
use crate::output::{line_changes, lossy, n_of};
use crate::store::{Commit, State};
use crate::view;
use crate::Ctx;

pub enum Outcome {
    /// The text is what etcd holds already: nothing was written.
    Unchanged,
    Written(i64),
    /// Someone else changed the key since `base` was read: nothing was written.
    Conflict,
}

/// Writes `text` if it is valid and the target is still as in `base`. `what` names the
/// text in error messages ("hosts.txt", "the edited file"); the history names `author`
/// (the console's logged-in user), else `$USER`.
pub async fn commit_text(
    ctx: &Ctx,
    base: &State,
    text: &[u8],
    what: &str,
    command: &str,
    author: Option<&str>,
) -> Result<Outcome> {
    view::validate(text, what)?;
    let ops = view::plan(&ctx.target, base, text)?;
    if ops.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    let committed = ctx
        .store
        .commit(&ctx.target, base, &ops, command, author)
        .await?;
    Ok(match committed {
        Commit::Done(revision) => Outcome::Written(revision),
        Commit::Conflict => Outcome::Conflict,
    })
}

/// The summary every write command prints (as one line, or as JSON).
#[derive(Serialize)]
pub struct Report {
    pub key: String,
    pub written: bool,
    /// The revision written, or the revision the key is at if nothing was written.
    pub revision: i64,
    pub records: usize,
    pub lines_added: usize,
    pub lines_removed: usize,
    pub message: String,
}

impl Report {
    pub fn new(
        ctx: &Ctx,
        old: &[u8],
        new: &[u8],
        revision: Option<i64>,
        message: String,
    ) -> Report {
        let (lines_added, lines_removed) = line_changes(&lossy(old), &lossy(new));
        Report {
            key: ctx.target.key.clone(),
            written: revision.is_some(),
            revision: revision.unwrap_or_default(),
            records: view::count(new).0,
            lines_added,
            lines_removed,
            message,
        }
    }

    /// A report of nothing written names the revision the key is at.
    pub fn at(mut self, revision: i64) -> Report {
        if !self.written {
            self.revision = revision;
        }
        self
    }

    pub fn print(&self, ctx: &Ctx) -> Result<()> {
        if ctx.out.json() {
            ctx.out.print_json(self)
        } else if self.written {
            ctx.out.print(&format!(
                "{}: revision {}, {} (+{} -{} lines)\n",
                self.message,
                self.revision,
                n_of(self.records, "record"),
                self.lines_added,
                self.lines_removed
            ))
        } else {
            ctx.out.print(&format!("{}\n", self.message))
        }
    }
}

/// Reads FILE, or stdin for `-`.
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| crate::error::io_failure("read", path, e))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| crate::error::io_failure("read", path, e))
}
