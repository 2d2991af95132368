//! `dnsctl get NAME|IP` and `dnsctl list [PATTERN]`: the records as the hosts file has them,
//! and the answers CoreDNS would give, from the core's own parser and lookup table.

use std::collections::BTreeMap;

use etcdhosts::hosts::{parse_addr, parse_records, push_name, Record};
use etcdhosts::{Table, Zones};
use serde::Serialize;

use crate::error::{fail, Code, Result};
use crate::view;
use crate::Opts;

/// A name and its addresses, in file order.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub addrs: Vec<String>,
}

/// Every name (without its final dot) with its addresses, sorted by name.
pub fn by_name(records: Vec<Record>) -> Vec<Named> {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records {
        let addrs = names
            .entry(r.name.trim_end_matches('.').to_string())
            .or_default();
        let addr = r.addr.to_string();
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    names
        .into_iter()
        .map(|(name, addrs)| Named { name, addrs })
        .collect()
}

fn all_records(text: &[u8]) -> Vec<Record> {
    parse_records(text, &Zones::new::<&str>(&[])).0
}

/// What `dnsctl get` shows.
#[derive(Serialize, Debug, Default)]
pub struct Answer {
    pub query: String,
    /// The wildcard that answers for the name, when no record names it exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wildcard: Option<String>,
    pub a: Vec<String>,
    pub aaaa: Vec<String>,
    pub ptr: Vec<String>,
    /// The hosts lines the answer comes from: (line number, line).
    pub lines: Vec<(usize, String)>,
}

/// The answers for `query`, a name or an address, as CoreDNS would give them with no
/// zones and no `no_reverse` (dnsctl does not know the Corefile).
pub fn answer(text: &[u8], query: &str) -> Result<Answer> {
    // The plugin's defaults (every zone, its TTL, reverse answers on), from the core.
    let table = Table::from_texts(etcdhosts::Config::default().table_options(), &[text], 0);
    let mut answer = Answer {
        query: query.trim_end_matches('.').to_string(),
        ..Answer::default()
    };
    // Which records a line must have to be listed: the address, or the answering name.
    let wanted: Box<dyn Fn(&Record) -> bool> = if let Some(ip) = parse_addr(query.as_bytes()) {
        answer.ptr = table.lookup_addr(ip);
        Box::new(move |r| r.addr == ip)
    } else {
        let mut fqdn = Vec::new();
        if query.starts_with('*') || !push_name(query.as_bytes(), &mut fqdn) {
            return fail(
                Code::Usage,
                format!("{query:?} is neither a host name nor an IP address"),
            );
        }
        let fqdn = String::from_utf8(fqdn).expect("push_name emits ASCII");
        answer.a = strings(table.lookup_v4(&fqdn));
        answer.aaaa = strings(table.lookup_v6(&fqdn));
        // An answer without a record of this very name comes from the wildcard one level up.
        let answered = !(answer.a.is_empty() && answer.aaaa.is_empty());
        let exact = all_records(text).iter().any(|r| r.name == fqdn);
        let name = match fqdn.split_once('.') {
            Some((_, parent)) if answered && !exact => {
                let wildcard = format!("*.{parent}");
                answer.wildcard = Some(wildcard.trim_end_matches('.').to_string());
                wildcard
            }
            _ => fqdn,
        };
        Box::new(move |r| r.name == name)
    };
    let lines = String::from_utf8_lossy(text);
    for (i, line) in lines.lines().enumerate() {
        if all_records(line.as_bytes()).iter().any(&wanted) {
            answer.lines.push((i + 1, line.to_string()));
        }
    }
    Ok(answer)
}

fn strings<T: ToString>(v: Vec<T>) -> Vec<String> {
    v.iter().map(T::to_string).collect()
}

pub async fn get(opts: Opts, query: &str) -> Result<()> {
    let ctx = opts.connect().await?;
    let state = ctx.store.read(&ctx.target, None).await?;
    let text = view::render_for_display(&ctx.target, &state);
    let answer = answer(&text, query)?;
    if answer.a.is_empty() && answer.aaaa.is_empty() && answer.ptr.is_empty() {
        return fail(
            Code::NotFound,
            format!(
                "no record for {} in {}",
                answer.query,
                ctx.target.describe()
            ),
        );
    }
    if ctx.out.json() {
        return ctx.out.print_json(&answer);
    }
    let mut out = String::new();
    for (n, line) in &answer.lines {
        out.push_str(&format!("line {n}: {line}\n"));
    }
    if let Some(wildcard) = &answer.wildcard {
        out.push_str(&format!(
            "(no record names {}: {wildcard} answers)\n",
            answer.query
        ));
    }
    for (kind, values) in [
        ("A", &answer.a),
        ("AAAA", &answer.aaaa),
        ("PTR", &answer.ptr),
    ] {
        for value in values {
            out.push_str(&format!("{}\t{kind}\t{value}\n", answer.query));
        }
    }
    ctx.out.print(&out)
}

pub async fn list(opts: Opts, pattern: Option<&str>) -> Result<()> {
    let ctx = opts.connect().await?;
    let state = ctx.store.read(&ctx.target, None).await?;
    let text = view::render_for_display(&ctx.target, &state);
    let pattern = pattern.unwrap_or("*").to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.');
    let names: Vec<Named> = by_name(all_records(&text))
        .into_iter()
        .filter(|n| glob(pattern.as_bytes(), n.name.as_bytes()))
        .collect();
    if ctx.out.json() {
        return ctx.out.print_json(&names);
    }
    let width = names.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let out: String = names
        .iter()
        .map(|n| format!("{:width$}  {}\n", n.name, n.addrs.join(" ")))
        .collect();
    ctx.out.print(&out)
}

/// Shell-style matching of a whole name: `*` any run of characters (dots included), `?`
/// one character; everything else literally. A literal `*` in a wildcard record's name is
/// matched by `*` like any other character.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((&p, rest)) => name
            .split_first()
            .is_some_and(|(&c, tail)| (p == b'?' || p == c) && glob(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# office\n10.0.0.1 web.example.org www.example.org\n\
                        fd00::1 web.example.org\n10.0.0.7 *.apps.example.org\n\
                        10.0.0.8 exact.apps.example.org\n";

    #[test]
    fn names_addresses_and_wildcards_answer_as_dns_would() {
        let a = answer(TEXT.as_bytes(), "WEB.example.org.").unwrap();
        assert_eq!(
            (a.a, a.aaaa),
            (vec!["10.0.0.1".into()], vec!["fd00::1".into()])
        );
        let lines: Vec<usize> = a.lines.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [2, 3]);
        assert!(a.wildcard.is_none());

        let a = answer(TEXT.as_bytes(), "x.apps.example.org").unwrap();
        assert_eq!(a.a, ["10.0.0.7"]);
        assert_eq!(a.wildcard.as_deref(), Some("*.apps.example.org"));
        assert_eq!(a.lines, [(4, "10.0.0.7 *.apps.example.org".to_string())]);
        // An exact name wins over the wildcard; the wildcard covers one label only.
        assert_eq!(
            answer(TEXT.as_bytes(), "exact.apps.example.org").unwrap().a,
            ["10.0.0.8"]
        );
        assert!(answer(TEXT.as_bytes(), "a.b.apps.example.org")
            .unwrap()
            .a
            .is_empty());

        let a = answer(TEXT.as_bytes(), "10.0.0.1").unwrap();
        assert_eq!(a.ptr, ["web.example.org.", "www.example.org."]);
        assert_eq!(a.lines.len(), 1);
        assert!(answer(TEXT.as_bytes(), "no such name!").is_err());
    }

    #[test]
    fn globs_match_whole_names() {
        for (pattern, name, matches) in [
            ("*", "web.example.org", true),
            ("*.example.org", "web.example.org", true),
            ("*.example.org", "a.b.example.org", true),
            ("*.example.org", "example.org", false),
            ("w?b.*", "web.example.org", true),
            ("web", "web.example.org", false),
            ("*.apps.*", "*.apps.example.org", true),
        ] {
            assert_eq!(
                glob(pattern.as_bytes(), name.as_bytes()),
                matches,
                "{pattern} {name}"
            );
        }
    }
}
