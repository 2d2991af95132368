//! The hosts text a command shows and edits, and how a new text becomes etcd operations.
//!
//! A plain key is its value. A prefix key is shown merged, each fragment introduced by a
//! marker line (a comment, so the merged text is itself a valid hosts file):
//!
//! ```text
//! # ---- fragment /hosts/a ----
//! 10.0.0.1 web
//! # ---- fragment /hosts/b ----
//! ```
//!
//! The merged text is offered only if it splits back into exactly the fragments it came
//! from: every fragment key is printable UTF-8 and no fragment contains a line that looks
//! like a marker. Written back, changed fragments are put, fragments whose marker is gone
//! are deleted and new markers create fragments, all in one transaction.

use crate::error::{fail, Code, Failure, Result};
use crate::store::{Op, State, Target};

const MARK_START: &str = "# ---- fragment ";
const MARK_END: &str = " ----";

pub fn marker(key: &str) -> String {
    format!("{MARK_START}{key}{MARK_END}\n")
}

/// The fragment key of a marker line, if `line` is one.
fn parse_marker(line: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(line).ok()?;
    let line = line.trim_end_matches(['\n', '\r']);
    let key = line.strip_prefix(MARK_START)?.strip_suffix(MARK_END)?;
    (!key.is_empty()).then_some(key)
}

fn with_newline(value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    if !v.is_empty() && !v.ends_with(b"\n") {
        v.push(b'\n');
    }
    v
}

/// The text of `state` as dump and edit show it. For a prefix, fails (with the reason and
/// the way out) if the merged text would not split back safely.
pub fn render(target: &Target, state: &State) -> Result<Vec<u8>> {
    if !target.prefix {
        return Ok(state
            .kvs
            .first()
            .map(|kv| kv.value.clone())
            .unwrap_or_default());
    }
    let refuse = |why: String| {
        let keys: Vec<String> = state.kvs.iter().map(|kv| kv.key_lossy()).collect();
        Failure::new(
            Code::Error,
            format!(
                "cannot show {} as one file that can be written back safely: {why}; work on \
                 one fragment with --fragment KEY (fragments: {})",
                target.key,
                keys.join(", ")
            ),
        )
    };
    let mut out = Vec::new();
    for kv in &state.kvs {
        let key = std::str::from_utf8(&kv.key)
            .ok()
            .filter(|k| !k.chars().any(char::is_control))
            .ok_or_else(|| refuse(format!("the key {:?} is not printable", kv.key_lossy())))?;
        if let Some(n) = kv
            .value
            .split(|&b| b == b'\n')
            .position(|line| parse_marker(line).is_some())
        {
            return Err(refuse(format!(
                "line {} of {key} looks like a fragment marker",
                n + 1
            )));
        }
        out.extend_from_slice(marker(key).as_bytes());
        out.extend(with_newline(&kv.value));
    }
    Ok(out)
}

/// Like [`render`], but never refuses: for display only (diff, history).
pub fn render_for_display(target: &Target, state: &State) -> Vec<u8> {
    render(target, state).unwrap_or_else(|_| {
        let mut out = Vec::new();
        for kv in &state.kvs {
            out.extend_from_slice(marker(&kv.key_lossy()).as_bytes());
            out.extend(with_newline(&kv.value));
        }
        out
    })
}

fn no_markers(target: &Target) -> Failure {
    Failure::new(
        Code::Invalid,
        format!(
            "the text has no fragment markers (lines like `{}`): written to the prefix {} it \
             would replace every fragment; nothing written. To write it as one fragment, use \
             --fragment KEY",
            marker(&format!("{}NAME", target.key)).trim_end(),
            target.key
        ),
    )
}

/// Splits a merged text into (fragment key, text) in file order.
pub fn split(target: &Target, text: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    if !text
        .split(|&b| b == b'\n')
        .any(|line| parse_marker(line).is_some())
    {
        return Err(no_markers(target));
    }
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        if let Some(key) = parse_marker(line) {
            if !key.starts_with(&target.key) || key.len() == target.key.len() {
                return fail(
                    Code::Invalid,
                    format!(
                        "line {}: fragment {key} is not under the prefix {}",
                        n + 1,
                        target.key
                    ),
                );
            }
            if parts.iter().any(|(k, _)| k == key) {
                return fail(
                    Code::Invalid,
                    format!("line {}: fragment {key} appears twice", n + 1),
                );
            }
            parts.push((key.to_string(), Vec::new()));
            continue;
        }
        match parts.last_mut() {
            Some((_, body)) => body.extend_from_slice(line),
            None if line.iter().all(u8::is_ascii_whitespace) => {}
            None => {
                return fail(
                    Code::Invalid,
                    format!(
                        "line {}: text before the first fragment marker belongs to no \
                         fragment of {} (start it with a line `{}`)",
                        n + 1,
                        target.key,
                        marker(&format!("{}NAME", target.key)).trim_end()
                    ),
                )
            }
        }
    }
    Ok(parts)
}

/// The etcd operations that turn `base` into `text` (empty if nothing changes).
pub fn plan(target: &Target, base: &State, text: &[u8]) -> Result<Vec<Op>> {
    if !target.prefix {
        let old = base.kvs.first().map(|kv| kv.value.as_slice());
        return Ok(if old == Some(text) {
            Vec::new()
        } else {
            vec![Op::Put(target.key.as_bytes().to_vec(), text.to_vec())]
        });
    }
    let parts = split(target, text)?;
    if parts.is_empty() {
        return Err(no_markers(target));
    }
    let mut ops = Vec::new();
    for (key, body) in &parts {
        let old = base.kvs.iter().find(|kv| kv.key == key.as_bytes());
        let unchanged = old.is_some_and(|kv| kv.value == *body || with_newline(&kv.value) == *body);
        if !unchanged {
            ops.push(Op::Put(key.as_bytes().to_vec(), body.clone()));
        }
    }
    for kv in &base.kvs {
        if !parts.iter().any(|(k, _)| k.as_bytes() == kv.key) {
            ops.push(Op::Delete(kv.key.clone()));
        }
    }
    Ok(ops)
}

/// Strict validation: every line must parse. Line numbers are the text's own.
pub fn validate(text: &[u8], what: &str) -> Result<usize> {
    etcdhosts::hosts::validate(text).map_err(|diags| invalid(what, &diags, 0))
}

/// The refusal for invalid lines: one line per bad line (the first 20), nothing written.
pub fn invalid(what: &str, diags: &[etcdhosts::Diagnostic], line_offset: usize) -> Failure {
    const SHOWN: usize = 20;
    let mut message = format!(
        "{what} has {} invalid line{}; nothing written:",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    );
    for d in diags.iter().take(SHOWN) {
        message.push_str(&format!("\n  line {}: {}", d.line + line_offset, d.reason));
    }
    if diags.len() > SHOWN {
        message.push_str(&format!("\n  ... and {} more", diags.len() - SHOWN));
    }
    Failure::new(Code::Invalid, message)
}

/// Records (address, name pairs) and invalid lines of possibly invalid text.
pub fn count(text: &[u8]) -> (usize, usize) {
    let mut records = 0;
    let mut diags = Vec::new();
    let skipped = etcdhosts::hosts::parse(
        text,
        &etcdhosts::Zones::new::<&str>(&[]),
        &mut diags,
        0,
        |_, _| records += 1,
    );
    (records, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Kv;

    fn kv(key: &str, value: &str, rev: i64) -> Kv {
        Kv {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            mod_revision: rev,
            create_revision: rev,
            version: 1,
        }
    }

    fn prefix() -> Target {
        Target {
            key: "/h/".into(),
            prefix: true,
        }
    }

    #[test]
    fn merged_round_trip_writes_nothing() {
        let state = State {
            at: 9,
            layout: Default::default(),
            kvs: vec![kv("/h/a", "10.0.0.1 a\n", 3), kv("/h/b", "10.0.0.2 b", 5)],
        };
        let text = render(&prefix(), &state).unwrap();
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            "# ---- fragment /h/a ----\n10.0.0.1 a\n# ---- fragment /h/b ----\n10.0.0.2 b\n"
        );
        assert!(plan(&prefix(), &state, &text).unwrap().is_empty());
        assert_eq!(etcdhosts::hosts::validate(&text), Ok(2));
    }

    #[test]
    fn merged_edits_become_puts_and_deletes() {
        let state = State {
            at: 9,
            layout: Default::default(),
            kvs: vec![kv("/h/a", "10.0.0.1 a\n", 3), kv("/h/b", "10.0.0.2 b\n", 5)],
        };
        let text = "\n# ---- fragment /h/a ----\n10.0.0.1 a\n10.0.0.3 c\n# ---- fragment /h/c ----\n10.0.0.4 d\n";
        let ops = plan(&prefix(), &state, text.as_bytes()).unwrap();
        assert_eq!(
            ops,
            vec![
                Op::Put(b"/h/a".to_vec(), b"10.0.0.1 a\n10.0.0.3 c\n".to_vec()),
                Op::Put(b"/h/c".to_vec(), b"10.0.0.4 d\n".to_vec()),
                Op::Delete(b"/h/b".to_vec()),
            ]
        );
    }

    #[test]
    fn unsafe_merges_and_bad_markers_are_refused() {
        let state = State {
            at: 9,
            layout: Default::default(),
            kvs: vec![kv("/h/a", "# ---- fragment /h/x ----\n", 3)],
        };
        let e = render(&prefix(), &state).unwrap_err();
        assert!(e.message.contains("--fragment"), "{e}");
        assert!(e.message.contains("line 1 of /h/a"), "{e}");
        for (text, needle) in [
            (
                "10.0.0.1 a\n# ---- fragment /h/a ----\n",
                "before the first fragment",
            ),
            ("# ---- fragment /other/a ----\n", "not under the prefix"),
            (
                "# ---- fragment /h/a ----\n# ---- fragment /h/a ----\n",
                "appears twice",
            ),
        ] {
            let e = plan(&prefix(), &state, text.as_bytes()).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }
}
