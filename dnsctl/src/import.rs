//! `dnsctl import [--format F] FILE...`: dnsmasq configs, BIND zone files and hosts files
//! become hosts lines, appended to the hosts file with the same diff, question and
//! compare-and-swap as the other writes. Every entry that cannot be carried over exactly is
//! reported with its file, line and the reason, so nothing is lost silently.
//!
//! The zone parser is a small one of our own rather than hickory-proto's: the report needs
//! the line of every entry, which hickory's record sets do not keep, and one record type it
//! cannot parse would fail the whole file instead of one reported line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use etcdhosts::hosts::{parse_addr, parse_records, push_name, Record};
use etcdhosts::Zones;
use serde::Serialize;

use crate::error::{fail, io_failure, Code, Result};
use crate::output::{ask, lossy, stdin_is_terminal, unified};
use crate::view;
use crate::write::{commit_text, Outcome, Report};
use crate::Opts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Dnsmasq,
    Zone,
    Hosts,
}

/// An entry not carried over exactly: where it is, and why.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// The hosts lines made from some files, and what could not be carried over.
#[derive(Default, Debug)]
pub struct Converted {
    pub lines: Vec<String>,
    pub skipped: Vec<Skipped>,
}

impl Converted {
    fn skip(&mut self, file: &Path, line: usize, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            file: file.display().to_string(),
            line,
            reason: reason.into(),
        });
    }

    fn host(&mut self, addr: IpAddr, name: &str) {
        self.lines.push(format!("{addr} {name}"));
    }
}

/// Converts `file` (and for dnsmasq, the `addn-hosts` files it names) in `format`, or the
/// format its text looks like.
pub fn convert(file: &Path, format: Option<Format>, out: &mut Converted) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| io_failure("read", file, e))?;
    match format.unwrap_or_else(|| detect(&text)) {
        Format::Hosts => hosts(file, &text, out),
        Format::Dnsmasq => dnsmasq(file, &text, out)?,
        Format::Zone => zone(file, &text, out),
    }
    Ok(())
}

/// The format of the first line that says: an address first is a hosts file, `option=value`
/// or a bare `option` (dnsmasq's `domain-needed`) is dnsmasq, anything else (`$ORIGIN`,
/// `name IN A ...`) a zone file.
fn detect(text: &str) -> Format {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or_default();
        if parse_addr(first.as_bytes()).is_some() {
            return Format::Hosts;
        }
        let (option, value) = line.split_once('=').unwrap_or((line, ""));
        let is_option = option.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if is_option && (!value.is_empty() || line == first) {
            return Format::Dnsmasq;
        }
        return Format::Zone;
    }
    Format::Hosts
}

/// A hosts file: each line's records as the core parses them; its diagnostics reported.
fn hosts(file: &Path, text: &str, out: &mut Converted) {
    for (i, line) in text.lines().enumerate() {
        let (records, diagnostics) = parse_records(line.as_bytes(), &Zones::new::<&str>(&[]));
        out.lines.extend(hosts_line(&records));
        for d in diagnostics {
            out.skip(file, i + 1, d.reason);
        }
    }
}

/// One line for records of one address (as one hosts line parses into), names without
/// their final dot; `None` for no records.
fn hosts_line(records: &[Record]) -> Option<String> {
    let first = records.first()?;
    let names: Vec<&str> = records
        .iter()
        .map(|r| r.name.trim_end_matches('.'))
        .collect();
    Some(format!("{} {}", first.addr, names.join(" ")))
}

/// The dnsmasq options that hold DNS data etcdhosts cannot serve, and what they are.
const DNSMASQ_UNSUPPORTED: [(&str, &str); 10] = [
    ("cname", "CNAME"),
    ("mx-host", "MX"),
    ("txt-record", "TXT"),
    ("srv-host", "SRV"),
    ("ptr-record", "PTR"),
    ("naptr-record", "NAPTR"),
    ("caa-record", "CAA"),
    ("dns-rr", "raw resource"),
    ("interface-name", "interface address"),
    ("synth-domain", "synthesized"),
];

fn dnsmasq(file: &Path, text: &str, out: &mut Converted) -> Result<()> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (option, value) = line.split_once('=').unwrap_or((line, ""));
        let n = i + 1;
        match option.trim() {
            "address" => address(file, n, value.trim(), out),
            "host-record" => host_record(file, n, value.trim(), out),
            "addn-hosts" => {
                // dnsmasq reads a relative path from its working directory; here, from the
                // config file's, where a copy taken for the import is most likely to be.
                let path = file.parent().unwrap_or(Path::new(".")).join(value.trim());
                for hosts_file in files_in(&path)? {
                    let text = std::fs::read_to_string(&hosts_file)
                        .map_err(|e| io_failure("read", &hosts_file, e))?;
                    hosts(&hosts_file, &text, out);
                }
            }
            "conf-file" | "conf-dir" | "servers-file" => out.skip(
                file,
                n,
                format!("{line}: not followed; import that file as well"),
            ),
            other => {
                if let Some((_, what)) = DNSMASQ_UNSUPPORTED.iter().find(|(o, _)| *o == other) {
                    out.skip(file, n, format!("{line}: {}", not_served(what)));
                }
                // Everything else configures dnsmasq itself (server=, cache-size=, ...).
            }
        }
    }
    Ok(())
}

/// A file, or every file in a directory (as dnsmasq's addn-hosts reads them), sorted.
fn files_in(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| io_failure("read", path, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// `address=/DOMAIN[/DOMAIN...]/IP`: dnsmasq answers IP for each domain and every name under
/// it, at any depth. etcdhosts has the name and a one-label wildcard: both are imported, and
/// the deeper names that no longer resolve are reported.
fn address(file: &Path, n: usize, value: &str, out: &mut Converted) {
    let entry = format!("address={value}");
    let parts: Vec<&str> = value.trim_start_matches('/').split('/').collect();
    let (ip, domains) = match parts.split_last() {
        Some((ip, domains)) if !domains.is_empty() => (ip.trim(), domains),
        _ => return out.skip(file, n, format!("{entry}: not /DOMAIN/ADDRESS")),
    };
    let Some(addr) = parse_addr(ip.as_bytes()) else {
        let why = match ip {
            "" => "answers NXDOMAIN (no address), which a hosts file cannot say".to_string(),
            "#" => "sends the domain upstream; nothing to import".to_string(),
            _ => format!("{ip:?} is not an address"),
        };
        return out.skip(file, n, format!("{entry}: {why}"));
    };
    for domain in domains.iter().map(|d| d.trim().trim_end_matches('.')) {
        if domain.is_empty() || domain == "#" {
            out.skip(
                file,
                n,
                format!("{entry}: matches every domain; a hosts file names each one"),
            );
            continue;
        }
        if !valid_name(domain) {
            out.skip(file, n, format!("{entry}: invalid name {domain:?}"));
            continue;
        }
        out.host(addr, domain);
        out.host(addr, &format!("*.{domain}"));
        out.skip(
            file,
            n,
            format!(
                "{entry}: dnsmasq also answers for every name under {domain}; imported as \
                 {domain} and *.{domain}, which covers one label only (a.{domain}, not \
                 b.a.{domain})"
            ),
        );
    }
}

/// `host-record=NAME[,NAME...],[IPV4][,IPV6][,TTL]`: every name gets every address. The TTL
/// is the Corefile's `ttl` in etcdhosts, one for the block, so a per-record one is reported.
fn host_record(file: &Path, n: usize, value: &str, out: &mut Converted) {
    let fields: Vec<&str> = value.split(',').map(str::trim).collect();
    let mut names = Vec::new();
    let mut addrs = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if let Some(addr) = parse_addr(field.as_bytes()) {
            addrs.push(addr);
        } else if i + 1 == fields.len() && !addrs.is_empty() && field.parse::<u32>().is_ok() {
            out.skip(
                file,
                n,
                format!(
                    "host-record={value}: TTL {field} not carried over (etcdhosts answers with \
                     the Corefile's ttl)"
                ),
            );
        } else if valid_name(field) && !field.starts_with('*') {
            names.push(*field);
        } else if !field.is_empty() {
            out.skip(
                file,
                n,
                format!("host-record={value}: invalid name {field:?}"),
            );
        }
    }
    if names.is_empty() || addrs.is_empty() {
        return out.skip(
            file,
            n,
            format!("host-record={value}: needs a name and an address"),
        );
    }
    for addr in addrs {
        out.lines.push(format!("{addr} {}", names.join(" ")));
    }
}

/// Why a record of type `what` is left behind. (PTR answers come from the A and AAAA
/// records themselves.)
fn not_served(what: &str) -> String {
    format!("{what} records are not served by etcdhosts (A, AAAA and PTR only)")
}

fn valid_name(name: &str) -> bool {
    push_name(name.as_bytes(), &mut Vec::new())
}

/// A BIND zone file: A and AAAA records become hosts lines; `$ORIGIN` and relative names
/// (`@`, `www`), `$TTL`, a blank owner (the previous one), TTL and class in either order,
/// `;` comments and parentheses are understood. Every other record is reported.
fn zone(file: &Path, text: &str, out: &mut Converted) {
    let mut origin: Option<String> = None;
    let mut owner: Option<String> = None;
    for (n, entry) in zone_entries(text) {
        let continued = entry.starts_with([' ', '\t']);
        let mut tokens: Vec<&str> = entry.split_whitespace().collect();
        let Some(&first) = tokens.first() else {
            continue;
        };
        match first.to_ascii_uppercase().as_str() {
            "$ORIGIN" => {
                origin = tokens.get(1).map(|o| absolute(o, origin.as_deref()));
                continue;
            }
            // etcdhosts answers with the Corefile's `ttl`: a zone's TTLs have no place to go.
            "$TTL" => continue,
            "$INCLUDE" | "$GENERATE" => {
                let what = entry.trim();
                out.skip(
                    file,
                    n,
                    format!("{what}: not followed; import that file as well"),
                );
                continue;
            }
            _ => {}
        }
        if !continued {
            owner = Some(absolute(tokens.remove(0), origin.as_deref()));
        }
        // TTL and class, in either order, before the type.
        let mut class = "IN".to_string();
        while let Some(t) = tokens.first() {
            let upper = t.to_ascii_uppercase();
            let is_class = ["IN", "CH", "HS", "CS"].contains(&upper.as_str());
            if is_class {
                class = upper;
            } else if !t.starts_with(|c: char| c.is_ascii_digit()) {
                break;
            }
            tokens.remove(0);
        }
        let (Some(name), Some(rtype)) = (owner.clone(), tokens.first()) else {
            continue;
        };
        let rtype = rtype.to_ascii_uppercase();
        let Some(name) = name.strip_suffix('.').map(str::to_string) else {
            let why = "a relative name and no $ORIGIN (add `$ORIGIN zone.` at the top)";
            out.skip(file, n, format!("{name}: {why}"));
            continue;
        };
        let unserved = |what: &str| format!("{name} {what}: {}", not_served(what));
        if class != "IN" {
            out.skip(file, n, unserved(&format!("{class} {rtype}")));
            continue;
        }
        match rtype.as_str() {
            "A" | "AAAA" => zone_address(file, n, &name, &rtype, tokens.get(1), out),
            // The zone's own machinery: etcdhosts synthesizes its SOA and has no delegation.
            "SOA" | "NS" => {}
            other => out.skip(file, n, unserved(other)),
        }
    }
}

/// An A or AAAA record of a zone file as a hosts line, or the reason it is not one.
fn zone_address(
    file: &Path,
    n: usize,
    name: &str,
    rtype: &str,
    rdata: Option<&&str>,
    out: &mut Converted,
) {
    let rdata = rdata.copied().unwrap_or_default();
    let addr = match (rtype, parse_addr(rdata.as_bytes())) {
        (_, None) => None,
        ("A", Some(a)) => a.is_ipv4().then_some(a),
        (_, Some(a)) => a.is_ipv6().then_some(a),
    };
    let Some(addr) = addr else {
        return out.skip(
            file,
            n,
            format!("{name} {rtype}: invalid address {rdata:?}"),
        );
    };
    if !valid_name(name) {
        return out.skip(
            file,
            n,
            format!("{name} {rtype}: invalid name for a hosts file"),
        );
    }
    out.host(addr, name);
    if let Some(parent) = name.strip_prefix("*.") {
        out.skip(
            file,
            n,
            format!(
                "{name} {rtype}: a DNS wildcard answers any depth below {parent}; etcdhosts' \
                 covers one label only"
            ),
        );
    }
}

/// The entries of a zone file with their first line numbers: comments removed, lines
/// inside parentheses joined (as an SOA's are).
fn zone_entries(text: &str) -> Vec<(usize, String)> {
    let mut entries = Vec::new();
    let mut open: Option<(usize, String, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let line = strip_zone_comment(line);
        let depth_change = line.matches('(').count() as isize - line.matches(')').count() as isize;
        let clean = line.replace(['(', ')'], " ");
        match open.take() {
            Some((first, mut joined, depth)) => {
                joined.push(' ');
                joined.push_str(&clean);
                let depth = (depth as isize + depth_change).max(0) as usize;
                if depth == 0 {
                    entries.push((first, joined));
                } else {
                    open = Some((first, joined, depth));
                }
            }
            None if depth_change > 0 => open = Some((i + 1, clean, depth_change as usize)),
            None if !clean.trim().is_empty() => entries.push((i + 1, clean)),
            None => {}
        }
    }
    entries.extend(open.map(|(first, joined, _)| (first, joined)));
    entries
}

/// The line without its `;` comment (a `;` inside quotes is text).
fn strip_zone_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// An owner name made absolute (with its final dot): `@` is the origin, a name without a
/// final dot is relative to it. Without an origin a relative name stays relative.
fn absolute(name: &str, origin: Option<&str>) -> String {
    let origin = origin.unwrap_or("");
    if name == "@" {
        return origin.to_string();
    }
    if name.ends_with('.') || origin.is_empty() {
        return name.to_string();
    }
    format!("{name}.{origin}")
}

/// What `import -o json` prints.
#[derive(Serialize)]
struct JsonReport {
    #[serde(flatten)]
    report: Report,
    skipped: Vec<Skipped>,
}

pub async fn run(
    opts: Opts,
    files: &[PathBuf],
    format: Option<Format>,
    yes: bool,
    dry_run: bool,
) -> Result<()> {
    let mut converted = Converted::default();
    for file in files {
        convert(file, format, &mut converted)?;
    }
    if !opts.out.json() {
        for s in &converted.skipped {
            eprintln!("dnsctl: import: {s}");
        }
    }
    let ctx = opts.connect().await?;
    let base = ctx.store.read(&ctx.target, None).await?;
    let old = view::render(&ctx.target, &base)?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let what = names.join(", ");
    let text = append_new(&lossy(&old), &converted.lines, &what);
    view::validate(text.as_bytes(), &what)?;
    let changes = !view::plan(&ctx.target, &base, text.as_bytes())?.is_empty();
    if !ctx.out.json() && changes {
        ctx.out.print(&unified(
            &lossy(&old),
            &text,
            &format!("{}@{}", ctx.target.key, base.at),
            "imported",
            ctx.out.color,
        ))?;
    }
    let summary = |revision: Option<i64>, message: String| {
        let report = Report::new(&ctx, &old, text.as_bytes(), revision, message);
        if ctx.out.json() {
            let skipped = converted.skipped.clone();
            ctx.out.print_json(&JsonReport { report, skipped })
        } else {
            report.print(&ctx)
        }
    };
    let target = ctx.target.describe();
    if !changes {
        return summary(
            None,
            format!("{target} already has every record of {what}; nothing written"),
        );
    }
    if dry_run {
        return summary(
            None,
            format!("dry run: {what} would change {target}; nothing written"),
        );
    }
    if stdin_is_terminal() && !yes {
        if !matches!(
            ask(&format!("Import into {target}? [y/N]")).as_deref(),
            Some("y" | "yes")
        ) {
            eprintln!("dnsctl: nothing written");
            return Ok(());
        }
    } else if !yes {
        return fail(
            Code::Usage,
            "import writes only after a look at the diff: pass --yes (or --dry-run to see it)",
        );
    }
    match commit_text(&ctx, &base, text.as_bytes(), &what, "import", None).await? {
        Outcome::Written(revision) => {
            summary(Some(revision), format!("imported {what} into {target}"))
        }
        Outcome::Unchanged => Ok(()),
        Outcome::Conflict => fail(
            Code::Conflict,
            format!(
                "{target} changed while importing (someone else wrote it); nothing written. \
                 Run the import again"
            ),
        ),
    }
}

/// `text` with the imported lines appended under a comment naming their source, leaving out
/// records the text (or an earlier imported line) has already.
pub fn append_new(text: &str, lines: &[String], source: &str) -> String {
    let zones = Zones::new::<&str>(&[]);
    let mut present = parse_records(text.as_bytes(), &zones).0;
    let mut added = String::new();
    for line in lines {
        let records = parse_records(line.as_bytes(), &zones).0;
        let new: Vec<Record> = records
            .into_iter()
            .filter(|r| !present.contains(r))
            .collect();
        if let Some(line) = hosts_line(&new) {
            added.push_str(&line);
            added.push('\n');
            present.extend(new);
        }
    }
    if added.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("# imported from {source}\n{added}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone_of(text: &str) -> (Vec<String>, Vec<String>) {
        let mut out = Converted::default();
        zone(Path::new("z"), text, &mut out);
        let skipped = out.skipped.iter().map(ToString::to_string).collect();
        (out.lines, skipped)
    }

    #[test]
    fn zone_names_origins_classes_and_parentheses() {
        let (lines, skipped) = zone_of(
            "www IN A 10.0.0.1\n$ORIGIN example.org.\n@ 60 IN A 10.0.0.2\n$ORIGIN sub\n\
             host A 10.0.0.3\nchaos CH A 10.0.0.4\nsplit IN TXT ( \"a\"\n \"b\" )\n\
             after IN AAAA fd00::5\nwrong IN A fd00::6\n",
        );
        assert_eq!(
            lines,
            [
                "10.0.0.2 example.org",
                "10.0.0.3 host.sub.example.org",
                "fd00::5 after.sub.example.org"
            ]
        );
        assert_eq!(
            skipped,
            [
                "z:1: www: a relative name and no $ORIGIN (add `$ORIGIN zone.` at the top)",
                "z:6: chaos.sub.example.org CH A: CH A records are not served by etcdhosts (A, \
                 AAAA and PTR only)",
                "z:7: split.sub.example.org TXT: TXT records are not served by etcdhosts (A, \
                 AAAA and PTR only)",
                "z:10: wrong.sub.example.org A: invalid address \"fd00::6\"",
            ]
        );
    }

    #[test]
    fn formats_are_told_by_their_first_entry() {
        assert_eq!(detect("# c\n10.0.0.1 a\n"), Format::Hosts);
        assert_eq!(
            detect("# c\ndomain-needed\naddress=/a/1.2.3.4\n"),
            Format::Dnsmasq
        );
        assert_eq!(detect("address=/a/1.2.3.4\n"), Format::Dnsmasq);
        assert_eq!(detect("; c\n$ORIGIN example.org.\n"), Format::Zone);
        assert_eq!(detect("www IN A 10.0.0.1\n"), Format::Zone);
    }
}
