//! `dnsctl add NAME IP...` and `dnsctl del NAME [IP]`: minimal edits of the hosts text
//! (append a line; remove a name from a line, or the line once it has no name left), so
//! comments and layout stay as they are. On a conflicting write they read again and retry.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use etcdhosts::hosts::{parse_addr, parse_records, push_name};
use etcdhosts::Zones;

use crate::error::{fail, Code, Failure, Result};
use crate::store::State;
use crate::view;
use crate::write::{commit_text, Outcome, Report};
use crate::{Ctx, Opts};

/// Attempts before giving up on a key that keeps changing under us.
const ATTEMPTS: u32 = 100;

/// A valid host name as its lowercase FQDN ("Web.Example.org" -> "web.example.org.").
pub fn fqdn(name: &str) -> Result<String> {
    let mut out = Vec::new();
    if !push_name(name.as_bytes(), &mut out) {
        return fail(Code::Invalid, format!("invalid name {name:?}"));
    }
    Ok(String::from_utf8(out).expect("push_name emits ASCII"))
}

pub fn address(ip: &str) -> Result<IpAddr> {
    parse_addr(ip.as_bytes())
        .ok_or_else(|| Failure::new(Code::Invalid, format!("invalid address {ip:?}")))
}

/// Appends `ip name` for every address that does not map to the name yet. Returns the new
/// text and the addresses added.
pub fn add_lines(text: &str, name: &str, ips: &[(String, IpAddr)]) -> (String, Vec<String>) {
    let target = fqdn(name).expect("checked by the caller");
    let existing = parse_records(text.as_bytes(), &Zones::new::<&str>(&[])).0;
    let mut out = text.to_string();
    let mut added = Vec::new();
    for (shown, addr) in ips {
        let present = existing.iter().any(|r| r.addr == *addr && r.name == target);
        if present || added.contains(shown) {
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{shown} {name}\n"));
        added.push(shown.clone());
    }
    (out, added)
}

/// Removes `name` (only from lines with address `ip`, if given). A line left without names
/// goes; other lines keep their layout and comments. Returns the text and records removed.
pub fn del_names(text: &str, name: &str, ip: Option<IpAddr>) -> (String, usize) {
    let target = fqdn(name).expect("checked by the caller");
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    for line in text.split_inclusive('\n') {
        let body_end = line.find('#').unwrap_or(line.len());
        let body = &line[..body_end];
        let fields = spans(body);
        let addr = fields
            .first()
            .and_then(|&(s, e)| parse_addr(&body.as_bytes()[s..e]));
        if addr.filter(|a| ip.is_none_or(|ip| ip == *a)).is_none() {
            out.push_str(line);
            continue;
        }
        let matching: Vec<usize> = (1..fields.len())
            .filter(|&i| {
                let (s, e) = fields[i];
                fqdn(&body[s..e]).is_ok_and(|n| n == target)
            })
            .collect();
        if matching.is_empty() {
            out.push_str(line);
            continue;
        }
        removed += matching.len();
        if matching.len() == fields.len() - 1 {
            continue; // no name left: the line goes (with its trailing comment)
        }
        let mut kept = String::with_capacity(line.len());
        let mut from = 0;
        for &i in &matching {
            // Drop the field and the whitespace before it.
            kept.push_str(&line[from..fields[i - 1].1]);
            from = fields[i].1;
        }
        kept.push_str(&line[from..]);
        out.push_str(&kept);
    }
    (out, removed)
}

/// Byte spans of the whitespace-separated fields of `s`.
fn spans(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_ascii_whitespace(), start) {
            (true, Some(st)) => {
                out.push((st, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, s.len()));
    }
    out
}

/// The current text as UTF-8, refusing to touch a file that is invalid already.
fn current_text(ctx: &Ctx, base: &State) -> Result<String> {
    let text = view::render(&ctx.target, base)?;
    let what = format!("{} (as stored)", ctx.target.describe());
    if let Err(diags) = etcdhosts::hosts::validate(&text) {
        let mut f = view::invalid(&what, &diags, 0);
        f.message.push_str("\n  fix them first with `dnsctl edit`");
        return Err(f);
    }
    String::from_utf8(text).map_err(|_| {
        Failure::new(
            Code::Invalid,
            format!("{what} is not valid UTF-8; fix it with `dnsctl edit`"),
        )
    })
}

/// Reads, edits, commits; on a conflict reads again and retries with jittered backoff.
async fn retrying(
    ctx: &Ctx,
    command: &str,
    mut change: impl FnMut(&State, &str) -> Result<Option<(String, String)>>,
) -> Result<()> {
    let started = Instant::now();
    let mut conflicts = 0;
    loop {
        let base = ctx.store.read(&ctx.target, None).await?;
        let old = current_text(ctx, &base)?;
        let Some((new, summary)) = change(&base, &old)? else {
            return Ok(());
        };
        match commit_text(ctx, &base, new.as_bytes(), "the result", command, None).await? {
            Outcome::Written(revision) => {
                let mut message = summary;
                if conflicts > 0 {
                    message.push_str(&format!(
                        " after {conflicts} concurrent change{} by others",
                        if conflicts == 1 { "" } else { "s" }
                    ));
                }
                return Report::new(ctx, old.as_bytes(), new.as_bytes(), Some(revision), message)
                    .print(ctx);
            }
            Outcome::Unchanged => return Ok(()),
            Outcome::Conflict => {
                conflicts += 1;
                if conflicts >= ATTEMPTS {
                    return fail(
                        Code::Conflict,
                        format!(
                            "{} kept changing under us ({conflicts} conflicting writes in {:.1}s); \
                             nothing written",
                            ctx.target.describe(),
                            started.elapsed().as_secs_f64()
                        ),
                    );
                }
                tokio::time::sleep(backoff(conflicts)).await;
            }
        }
    }
}

/// Random 0..(5 ms * 2^n), capped at 200 ms: spreads writers that collided.
fn backoff(conflicts: u32) -> Duration {
    let cap = (5u64 << conflicts.min(6)).min(200);
    let r = RandomState::new().hash_one(Instant::now()) % (cap * 1000);
    Duration::from_micros(r)
}

pub async fn add(opts: Opts, name: &str, ips: &[String]) -> Result<()> {
    fqdn(name)?;
    let ips: Vec<(String, IpAddr)> = ips
        .iter()
        .map(|ip| Ok((ip.clone(), address(ip)?)))
        .collect::<Result<_>>()?;
    let ctx = opts.connect().await?;
    retrying(&ctx, "add", |base, old| {
        if ctx.target.prefix && base.kvs.len() != 1 {
            let keys: Vec<String> = base.kvs.iter().map(|kv| kv.key_lossy()).collect();
            return fail(
                Code::Usage,
                format!(
                    "{} has {} fragments: say which one gets the record with --fragment KEY \
                     (fragments: {})",
                    ctx.target.describe(),
                    keys.len(),
                    if keys.is_empty() {
                        "none yet".to_string()
                    } else {
                        keys.join(", ")
                    }
                ),
            );
        }
        let (new, added) = add_lines(old, name, &ips);
        if added.is_empty() {
            let message = format!(
                "{name} -> {} is already in {}; nothing written",
                ips.iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                ctx.target.describe()
            );
            let revision = base.newest_mod_revision();
            Report::new(&ctx, old.as_bytes(), old.as_bytes(), None, message)
                .at(revision)
                .print(&ctx)?;
            return Ok(None);
        }
        let summary = format!(
            "added {name} -> {} to {}",
            added.join(", "),
            ctx.target.describe()
        );
        Ok(Some((new, summary)))
    })
    .await
}

pub async fn del(opts: Opts, name: &str, ip: Option<&str>) -> Result<()> {
    fqdn(name)?;
    let ip = ip.map(address).transpose()?;
    let ctx = opts.connect().await?;
    retrying(&ctx, "del", |_, old| {
        let (new, removed) = del_names(old, name, ip);
        if removed == 0 {
            let what = match ip {
                Some(ip) => format!("{name} -> {ip}"),
                None => name.to_string(),
            };
            return fail(
                Code::NotFound,
                format!(
                    "{what} is not in {}; nothing written",
                    ctx.target.describe()
                ),
            );
        }
        let what = match ip {
            Some(ip) => format!("{name} -> {ip}"),
            None => name.to_string(),
        };
        let summary = format!(
            "deleted {what} from {} ({removed} record{})",
            ctx.target.describe(),
            if removed == 1 { "" } else { "s" }
        );
        Ok(Some((new, summary)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<(String, IpAddr)> {
        list.iter()
            .map(|s| (s.to_string(), address(s).unwrap()))
            .collect()
    }

    #[test]
    fn add_appends_and_skips_present_records() {
        let text = "# office\n10.0.0.1 web.example.org # the web\n10.0.0.9 other";
        let (new, added) = add_lines(
            text,
            "Web.Example.org",
            &ips(&["10.0.0.1", "10.0.0.2", "10.0.0.2"]),
        );
        assert_eq!(added, ["10.0.0.2"]);
        assert_eq!(new, format!("{text}\n10.0.0.2 Web.Example.org\n"));
        let (same, added) = add_lines(&new, "web.example.org.", &ips(&["::ffff:10.0.0.2"]));
        assert!(added.is_empty());
        assert_eq!(same, new);
        assert_eq!(add_lines("", "a", &ips(&["::1"])).0, "::1 a\n");
    }

    #[test]
    fn del_removes_names_minimally() {
        let text = "# keep me\n10.0.0.1  web  www\tweb.example.org # comment\n10.0.0.2 web\n\
                    10.0.0.3 other # web\r\nbogus web\n";
        let (new, n) = del_names(text, "WEB", None);
        assert_eq!(n, 2);
        assert_eq!(
            new,
            "# keep me\n10.0.0.1  www\tweb.example.org # comment\n10.0.0.3 other # web\r\nbogus web\n"
        );
        let (new, n) = del_names(text, "web", Some(address("10.0.0.2").unwrap()));
        assert_eq!(n, 1);
        assert_eq!(new, text.replace("10.0.0.2 web\n", ""));
        let (new, n) = del_names("10.0.0.1 a web b\n", "web", None);
        assert_eq!((new.as_str(), n), ("10.0.0.1 a b\n", 1));
        let (new, n) = del_names(text, "nothere", None);
        assert_eq!((new.as_str(), n), (text, 0));
    }
}
