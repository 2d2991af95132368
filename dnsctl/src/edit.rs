//! `dnsctl edit`: the hosts file in the operator's editor, uploaded on save.
//!
//! The work is never thrown away: invalid lines re-open the editor with the errors as
//! comments at the top; a conflicting write (someone else saved first) shows their changes
//! and, on a terminal, re-opens the editor on their version with yours listed at the top;
//! whenever dnsctl gives up, the text stays in a file whose path it prints.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{fail, Code, Failure, Result};
use crate::output::{ask, lossy, stdin_is_terminal, unified};
use crate::store::{Commit, State};
use crate::view;
use crate::write::Report;
use crate::{Ctx, Opts};

/// Lines dnsctl puts at the top of the file start with this; they are removed on save.
const NOTE: &str = "# dnsctl:";

/// The file the editor works on. Removed when the edit is done, kept (and its path
/// printed) when dnsctl gives up, so nothing typed is lost.
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    fn create(key: &str, suffix: &str) -> Result<Scratch> {
        let name: String = key
            .trim_matches('/')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let dir = std::env::temp_dir();
        for n in 0..100 {
            let path = dir.join(format!(
                "dnsctl-{name}-{}{}{suffix}.hosts",
                std::process::id(),
                if n == 0 {
                    String::new()
                } else {
                    format!("-{n}")
                }
            ));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(Scratch { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(crate::error::io_failure("create", &path, e)),
            }
        }
        fail(
            Code::Error,
            format!("cannot create a temporary file in {}", dir.display()),
        )
    }

    fn write(&self, data: &[u8]) -> Result<()> {
        let mut f = std::fs::File::create(&self.path)
            .map_err(|e| crate::error::io_failure("write", &self.path, e))?;
        f.write_all(data)
            .map_err(|e| crate::error::io_failure("write", &self.path, e))
    }

    fn read(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.path).map_err(|e| crate::error::io_failure("read", &self.path, e))
    }

    /// Keeps the file and returns its path, for the message that names it.
    fn keep(&mut self) -> String {
        self.keep = true;
        self.path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `$VISUAL`, else `$EDITOR`, else `vi`.
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

/// Runs the editor through the shell, as git does, so `EDITOR="code --wait"` works.
fn run_editor(editor: &str, path: &Path) -> std::result::Result<(), String> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(editor)
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run the editor ({editor}): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the editor ({editor}) failed ({status})"))
    }
}

fn with_notes(notes: &[String], content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in notes {
        out.extend_from_slice(format!("{NOTE} {n}\n").as_bytes());
    }
    out.extend_from_slice(content);
    out
}

/// Removes the leading lines dnsctl added (only if it added some).
fn strip_notes(text: &[u8], had_notes: bool) -> Vec<u8> {
    if !had_notes {
        return text.to_vec();
    }
    let mut rest = text;
    while rest.starts_with(NOTE.as_bytes()) {
        rest = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => &rest[i + 1..],
            None => &[],
        };
    }
    rest.to_vec()
}

/// The notes for a file with invalid lines, numbered as the operator sees them.
fn invalid_notes(diags: &[etcdhosts::Diagnostic]) -> Vec<String> {
    const SHOWN: usize = 20;
    let shown = diags.len().min(SHOWN);
    let more = usize::from(diags.len() > SHOWN);
    let offset = 1 + shown + more + 2;
    let mut notes = vec![format!(
        "NOT SAVED: {} invalid line{} (numbered as in this file):",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    )];
    for d in &diags[..shown] {
        notes.push(format!("  line {}: {}", d.line + offset, d.reason));
    }
    if more > 0 {
        notes.push(format!("  ... and {} more", diags.len() - SHOWN));
    }
    notes.push("Fix them and save to write the file, or quit without changes to give up.".into());
    notes.push(format!(
        "Lines starting with \"{NOTE}\" are removed when you save."
    ));
    notes
}

fn message_notes(message: &str) -> Vec<String> {
    let mut notes = vec!["NOT SAVED:".to_string()];
    notes.extend(message.lines().map(|l| format!("  {l}")));
    notes.push(
        "(line numbers count without these lines) Fix it and save, or quit without \
                changes to give up."
            .into(),
    );
    notes.push(format!(
        "Lines starting with \"{NOTE}\" are removed when you save."
    ));
    notes
}

pub async fn run(opts: Opts, yes: bool) -> Result<()> {
    let ctx = opts.connect().await?;
    let editor = editor();
    let mut base = ctx.store.read(&ctx.target, None).await?;
    if ctx.target.prefix && !base.exists() {
        return fail(
            Code::NotFound,
            format!(
                "{} has no fragments yet: create one with `dnsctl edit --fragment NAME`",
                ctx.target.describe()
            ),
        );
    }
    let mut base_text = view::render(&ctx.target, &base)?;
    if !base.exists() {
        eprintln!(
            "dnsctl: {} does not exist yet; starting from an empty file",
            ctx.target.key
        );
    }
    let mut scratch = Scratch::create(&ctx.target.key, "")?;
    let mut notes: Vec<String> = Vec::new();
    let mut content = base_text.clone();
    let mut rejected: Option<Vec<u8>> = None;
    let mut mine_kept: Option<String> = None;
    loop {
        scratch.write(&with_notes(&notes, &content))?;
        if let Err(e) = run_editor(&editor, &scratch.path) {
            return fail(
                Code::Error,
                format!(
                    "{e}; nothing written (the file is kept in {})",
                    scratch.keep()
                ),
            );
        }
        let edited = strip_notes(&scratch.read()?, !notes.is_empty());
        if edited == base_text {
            let also = mine_kept
                .as_ref()
                .map(|p| format!(" (your earlier text is kept in {p})"))
                .unwrap_or_default();
            eprintln!("dnsctl: no changes; nothing written{also}");
            return Ok(());
        }
        // Invalid lines, or broken fragment markers: back to the editor with the reason.
        let problem = match etcdhosts::hosts::validate(&edited) {
            Err(diags) => Some((invalid_notes(&diags), view::invalid("the file", &diags, 0))),
            Ok(_) => match view::plan(&ctx.target, &base, &edited) {
                Err(f) => Some((message_notes(&f.message), f)),
                Ok(_) => None,
            },
        };
        if let Some((new_notes, failure)) = problem {
            if rejected.as_ref() == Some(&edited) {
                scratch.write(&edited)?;
                return Err(Failure::new(
                    Code::Invalid,
                    format!("{failure}\nthe file is kept in {}", scratch.keep()),
                ));
            }
            eprintln!("dnsctl: {failure}\ndnsctl: opening the editor again");
            notes = new_notes;
            content = edited.clone();
            rejected = Some(edited);
            continue;
        }
        notes.clear();
        rejected = None;

        let diff = unified(
            &lossy(&base_text),
            &lossy(&edited),
            &format!("{}@{}", ctx.target.key, base.at),
            "edited",
            ctx.out.color,
        );
        if !ctx.out.json() {
            ctx.out.print(&diff)?;
        }
        if stdin_is_terminal() && !yes {
            let question = format!(
                "Write to {}? [y]es, [e]dit again, [n]o:",
                ctx.target.describe()
            );
            match ask(&question).as_deref() {
                Some("y" | "yes") => {}
                Some("e" | "edit") => {
                    content = edited;
                    continue;
                }
                _ => {
                    scratch.write(&edited)?;
                    eprintln!(
                        "dnsctl: nothing written (your text is kept in {})",
                        scratch.keep()
                    );
                    return Ok(());
                }
            }
        }
        // From here on a failure (etcd gone, say) must not lose the edited text.
        let commit = async {
            let ops = view::plan(&ctx.target, &base, &edited)?;
            ctx.store
                .commit(&ctx.target, &base, &ops, "edit", None)
                .await
        };
        let committed = commit.await.map_err(|f| kept(&mut scratch, &edited, f))?;
        match committed {
            Commit::Done(revision) => {
                return Report::new(
                    &ctx,
                    &base_text,
                    &edited,
                    Some(revision),
                    format!("wrote {}", ctx.target.describe()),
                )
                .print(&ctx);
            }
            Commit::Conflict => {
                let theirs = ctx
                    .store
                    .read(&ctx.target, None)
                    .await
                    .map_err(|f| kept(&mut scratch, &edited, f))?;
                let theirs_text = conflict_text(&ctx, &theirs);
                eprintln!(
                    "dnsctl: someone else changed {} while you were editing (revision {} -> {}); \
                     nothing written. Their changes:",
                    ctx.target.describe(),
                    base.newest_mod_revision(),
                    theirs.newest_mod_revision()
                );
                let their_diff = unified(
                    &lossy(&base_text),
                    &lossy(&theirs_text),
                    &format!("{}@{}", ctx.target.key, base.at),
                    &format!("{}@{}", ctx.target.key, theirs.at),
                    ctx.out.color,
                );
                eprint!("{their_diff}");
                let mut mine = Scratch::create(&ctx.target.key, ".mine")?;
                mine.write(&edited)?;
                let mine_path = mine.keep();
                let reopen = stdin_is_terminal()
                    && view::render(&ctx.target, &theirs).is_ok()
                    && matches!(
                        ask("Edit again, starting from their version (your changes are listed at the top)? [Y/n]")
                            .as_deref(),
                        Some("" | "y" | "yes")
                    );
                if !reopen {
                    return fail(
                        Code::Conflict,
                        format!(
                            "{} was changed by someone else while you were editing; nothing \
                             written. Your text is kept in {mine_path}: run `dnsctl edit` again \
                             and re-apply your changes (or `dnsctl upload {mine_path}` to \
                             overwrite theirs)",
                            ctx.target.describe()
                        ),
                    );
                }
                notes = conflict_notes(&ctx, &base_text, &edited, &mine_path);
                mine_kept = Some(mine_path);
                base = theirs;
                base_text = theirs_text;
                content = base_text.clone();
            }
        }
    }
}

/// `f`, with the edited text saved in the scratch file, which is kept.
fn kept(scratch: &mut Scratch, text: &[u8], f: Failure) -> Failure {
    let path = match scratch.write(text) {
        Ok(()) => scratch.keep(),
        Err(e) => return Failure::new(f.code, format!("{f} (and the text is lost: {e})")),
    };
    Failure::new(
        f.code,
        format!("{f}\nnothing written; your text is kept in {path}"),
    )
}

fn conflict_text(ctx: &Ctx, theirs: &State) -> Vec<u8> {
    view::render(&ctx.target, theirs)
        .unwrap_or_else(|_| view::render_for_display(&ctx.target, theirs))
}

/// Notes for the re-opened editor: what happened, and the operator's own changes.
fn conflict_notes(ctx: &Ctx, base: &[u8], mine: &[u8], mine_path: &str) -> Vec<String> {
    const SHOWN: usize = 200;
    let mut notes = vec![
        format!(
            "Someone else changed {} while you were editing. This is THEIR version.",
            ctx.target.describe()
        ),
        "Re-apply your changes, listed below, and save (or quit without changes to give up):"
            .into(),
    ];
    let diff = similar::TextDiff::from_lines(lossy(base).as_ref(), lossy(mine).as_ref())
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| {
            let sign = if c.tag() == similar::ChangeTag::Delete {
                '-'
            } else {
                '+'
            };
            format!("  {sign}{}", c.value().trim_end_matches(['\n', '\r']))
        })
        .collect::<Vec<_>>();
    let total = diff.len();
    notes.extend(diff.into_iter().take(SHOWN));
    if total > SHOWN {
        notes.push(format!("  ... and {} more changed lines", total - SHOWN));
    }
    notes.push(format!("Your whole text is kept in {mine_path}"));
    notes.push(format!(
        "Lines starting with \"{NOTE}\" are removed when you save."
    ));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_numbered_as_seen_and_stripped() {
        let text = b"10.0.0.1 a\nbad line\n";
        let diags = etcdhosts::hosts::validate(text).unwrap_err();
        let notes = invalid_notes(&diags);
        let shown = with_notes(&notes, text);
        let shown_text = String::from_utf8(shown.clone()).unwrap();
        // The note names the line where the operator sees the bad line.
        let seen = shown_text.lines().position(|l| l == "bad line").unwrap() + 1;
        assert!(
            shown_text.contains(&format!("line {seen}: invalid address")),
            "{shown_text}"
        );
        assert_eq!(strip_notes(&shown, true), text);
        // Without notes of ours, a file's own "# dnsctl:" comment stays.
        let own = b"# dnsctl: my comment\n10.0.0.1 a\n";
        assert_eq!(strip_notes(own, false), own);
    }
}
