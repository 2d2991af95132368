//! Output: plain text or JSON, unified diffs (coloured on a terminal), questions.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::error::{Code, Failure, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Out {
    pub format: Format,
    pub color: bool,
}

impl Out {
    pub fn new(format: Format, color: ColorChoice) -> Out {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Out { format, color }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Writes to stdout. A closed pipe (`dnsctl dump | head`) ends the program quietly.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => Err(Failure::new(
                Code::Error,
                format!("cannot write to stdout: {e}"),
            )),
        }
    }

    pub fn print(&self, text: &str) -> Result<()> {
        self.write(text.as_bytes())
    }

    pub fn print_json<T: Serialize>(&self, value: &T) -> Result<()> {
        let mut text = serde_json::to_string_pretty(value).expect("serializable");
        text.push('\n');
        self.write(text.as_bytes())
    }
}

/// A line diff that gives up on minimality after a moment: two large, wholly different
/// texts (an upload replacing everything) would otherwise take minutes to compare.
fn line_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure()
        .timeout(std::time::Duration::from_millis(500))
        .diff_lines(old, new)
}

/// Lines added and removed between two texts. The lines they share at the start and at
/// the end are left out of the diff: a one-line `add` to a million lines then compares a
/// few lines, not all of them.
pub fn line_changes(old: &str, new: &str) -> (usize, usize) {
    let (old, new) = without_common_lines(old, new);
    let diff = line_diff(old, new);
    let mut added = 0;
    let mut removed = 0;
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

/// `old` and `new` without the whole lines they share at the start and at the end.
fn without_common_lines<'a>(old: &'a str, new: &'a str) -> (&'a str, &'a str) {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    // Back to the start of the line the first difference is in.
    let start = a[..same]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let (a, b) = (&a[start..], &b[start..]);
    let same = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // Forward to the end of the line the last difference is in (a shared tail of whole lines).
    let tail = a[a.len() - same..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(0, |i| same - i - 1);
    let cut = |s: &'a str| &s[start..s.len() - tail];
    (cut(old), cut(new))
}

/// A unified diff (empty if the texts are equal), coloured if asked.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let diff = line_diff(old, new);
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    out.push_str(&paint("1", &format!("--- {old_label}")));
    out.push('\n');
    out.push_str(&paint("1", &format!("+++ {new_label}")));
    out.push('\n');
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&paint("36", &hunk.header().to_string()));
        out.push('\n');
        for change in hunk.iter_changes() {
            let (sign, code) = match change.tag() {
                ChangeTag::Delete => ("-", "31"),
                ChangeTag::Insert => ("+", "32"),
                ChangeTag::Equal => (" ", ""),
            };
            let line = format!("{sign}{}", change.value().trim_end_matches(['\n', '\r']));
            if code.is_empty() {
                out.push_str(&line);
            } else {
                out.push_str(&paint(code, &line));
            }
            out.push('\n');
            if change.missing_newline() {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks on stderr and reads one line from stdin, trimmed and lowercased; `None` at end of
/// input.
pub fn ask(question: &str) -> Option<String> {
    read_line(question).map(|a| a.trim().to_ascii_lowercase())
}

/// Asks on stderr and reads one line from stdin as typed (without its line end).
fn read_line(question: &str) -> Option<String> {
    eprint!("{question} ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    match std::io::stdin().read_line(&mut answer) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(answer.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// Asks on stderr and reads one line from the terminal without echoing it; `None` when
/// stdin is not a terminal (nobody to ask) or at end of input.
pub fn read_secret(question: &str) -> Option<String> {
    if !stdin_is_terminal() {
        return None;
    }
    // SAFETY: termios is plain data, filled by tcgetattr on fd 0, which is a terminal.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
        return None;
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    let answer = read_line(question);
    unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
    eprintln!();
    answer.filter(|a| !a.is_empty())
}

pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// "1 record", "2 records".
pub fn n_of(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_changes_count_as_a_whole_diff_does() {
        let whole = |old: &str, new: &str| {
            let diff = line_diff(old, new);
            let count = |tag| diff.iter_all_changes().filter(|c| c.tag() == tag).count();
            (count(ChangeTag::Insert), count(ChangeTag::Delete))
        };
        let cases = [
            ("", ""),
            ("a\n", "a\nb\n"),
            ("a\nb\n", "a\nc\nb\n"),
            ("a\nb\nc\n", "a\nc\n"),
            ("x\n", "x\nx\n"),
            ("a\nb", "a\nbb"),
            ("a\nb\nc\nd\n", "a\nB\nc\nD\n"),
            ("same\n", "same\n"),
            ("é\nü\n", "é\nö\nü\n"),
        ];
        for (old, new) in cases {
            assert_eq!(
                line_changes(old, new),
                whole(old, new),
                "{old:?} -> {new:?}"
            );
            assert_eq!(
                line_changes(new, old),
                whole(new, old),
                "{new:?} -> {old:?}"
            );
        }
    }
}
