//! Hosts text -> records plus diagnostics. No I/O, no allocation per record.
//!
//! The rules (docs/DESIGN.md §5): `#` starts a comment anywhere; fields split on ASCII
//! whitespace; field 1 is an IPv4 or IPv6 address (an IPv6 `%zone` is dropped, IPv4-mapped
//! IPv6 becomes IPv4); the other fields are names, lowercased and made fully qualified. A
//! line with an invalid address or an invalid name is skipped as a whole and reported with its
//! line number. Names outside the zones are dropped silently (they are not errors, just not
//! ours).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::zones::Zones;

/// Longest name in presentation form without the trailing dot (255 octets on the wire).
pub const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// A skipped line: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line number in the text that was parsed.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Parses hosts `text` and hands every kept (address, name) pair to `sink`, in file order.
/// `name` is lowercase and fully qualified. Returns the number of skipped lines; the first
/// `keep_diagnostics` of them are pushed to `diagnostics` (a 2 MiB file of junk must not
/// turn into 2 MiB of log).
pub fn parse(
    text: &[u8],
    zones: &Zones,
    diagnostics: &mut Vec<Diagnostic>,
    keep_diagnostics: usize,
    mut sink: impl FnMut(IpAddr, &[u8]),
) -> usize {
    let mut skipped = 0;
    // One scratch buffer for the names of a line: they are emitted only once the whole
    // line is known to be valid.
    let mut names: Vec<u8> = Vec::with_capacity(256);
    let mut ends: Vec<usize> = Vec::with_capacity(8);
    for (index, raw_line) in text.split(|&b| b == b'\n').enumerate() {
        let line = match comment_start(raw_line) {
            Some(i) => &raw_line[..i],
            None => raw_line,
        };
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let Some(addr_field) = fields.next() else {
            continue;
        };
        let mut fail = |reason: String| {
            skipped += 1;
            if diagnostics.len() < keep_diagnostics {
                diagnostics.push(Diagnostic {
                    line: index + 1,
                    reason,
                });
            }
        };
        let addr = match parse_addr(addr_field) {
            Some(a) => a,
            None => {
                fail(format!("invalid address {:?}", lossy(addr_field)));
                continue;
            }
        };
        names.clear();
        ends.clear();
        let mut bad_name = None;
        for field in fields {
            let start = names.len();
            if !push_name(field, &mut names) {
                bad_name = Some(field);
                break;
            }
            ends.push(start);
        }
        if let Some(field) = bad_name {
            fail(format!("invalid name {:?}", lossy(field)));
            continue;
        }
        if ends.is_empty() {
            fail(format!("address {addr} has no names"));
            continue;
        }
        ends.push(names.len());
        for w in ends.windows(2) {
            let name = &names[w[0]..w[1]];
            if zones.contains(name) {
                sink(addr, name);
            }
        }
    }
    skipped
}

/// All diagnostics of `text` (zones are irrelevant to validity), for strict callers such as
/// `dnsctl`, which refuse to write a file with any bad line.
pub fn validate(text: &[u8]) -> Result<usize, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut records = 0;
    parse(
        text,
        &Zones::new::<&str>(&[]),
        &mut diagnostics,
        usize::MAX,
        |_, _| records += 1,
    );
    if diagnostics.is_empty() {
        Ok(records)
    } else {
        Err(diagnostics)
    }
}

/// Where a `#` comment starts in `line`, if it has one.
fn comment_start(line: &[u8]) -> Option<usize> {
    line.iter().position(|&b| b == b'#')
}

fn lossy(field: &[u8]) -> String {
    const SHOWN: usize = 64;
    let shown = &field[..field.len().min(SHOWN)];
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if field.len() > SHOWN {
        s.push_str("...");
    }
    s
}

/// Field 1 of a hosts line. IPv6 zones (`fe80::1%eth0`) are dropped, IPv4-mapped IPv6
/// addresses become IPv4 (CoreDNS `hosts` serves them as A records too).
pub fn parse_addr(field: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(field).ok()?;
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    let text = match text.find('%') {
        Some(i) if i > 0 && i + 1 < text.len() => &text[..i],
        Some(_) => return None,
        None => text,
    };
    let v6: Ipv6Addr = text.parse().ok()?;
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// Appends `field` to `out` as a lowercase FQDN if it is a valid host name: labels of 1-63
/// letters, digits, `-` or `_`, at most 253 characters, and `*` allowed only as a whole first
/// label (a wildcard). Returns false (and leaves `out` unchanged) otherwise.
pub fn push_name(field: &[u8], out: &mut Vec<u8>) -> bool {
    let field = field.strip_suffix(b".").unwrap_or(field);
    if field.is_empty() || field.len() > MAX_NAME_LEN {
        return false;
    }
    let start = out.len();
    let mut label_len = 0;
    let mut ok = true;
    for (i, &b) in field.iter().enumerate() {
        match b {
            b'.' => {
                ok = label_len > 0 && label_len <= MAX_LABEL_LEN;
                label_len = 0;
            }
            // A wildcard is `*` as the whole first label, with a zone after it.
            b'*' => {
                ok = i == 0 && field.get(1) == Some(&b'.');
                label_len += 1;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => label_len += 1,
            _ => ok = false,
        }
        if !ok {
            break;
        }
        out.push(b.to_ascii_lowercase());
    }
    if !ok || label_len == 0 || label_len > MAX_LABEL_LEN {
        out.truncate(start);
        return false;
    }
    out.push(b'.');
    true
}

/// One parsed record, for callers that want them as values (dnsctl, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub addr: IpAddr,
    pub name: String,
}

/// Parses `text` into records and every diagnostic. Convenient, not fast: the table builder
/// uses [`parse`] directly.
pub fn parse_records(text: &[u8], zones: &Zones) -> (Vec<Record>, Vec<Diagnostic>) {
    let mut records = Vec::new();
    let mut diagnostics = Vec::new();
    parse(text, zones, &mut diagnostics, usize::MAX, |addr, name| {
        records.push(Record {
            addr,
            // push_name only emits ASCII.
            name: String::from_utf8_lossy(name).into_owned(),
        })
    });
    (records, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Zones {
        Zones::new::<&str>(&[])
    }

    fn records(text: &str) -> Vec<(String, String)> {
        parse_records(text.as_bytes(), &all())
            .0
            .into_iter()
            .map(|r| (r.addr.to_string(), r.name))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, n)| (a.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn comments_whitespace_and_case() {
        let text = "# full comment\n\t127.0.0.1  LocalHost   localhost.localdomain # trailing\n\n   \n10.0.0.1 a.Example.org.#glued\n";
        assert_eq!(
            records(text),
            pairs(&[
                ("127.0.0.1", "localhost."),
                ("127.0.0.1", "localhost.localdomain."),
                ("10.0.0.1", "a.example.org."),
            ])
        );
    }

    #[test]
    fn ipv6_zone_and_mapped() {
        let text = "fe80::1%lo0 link\n::ffff:192.0.2.7 mapped\n::1 six\nfe80::2% bad\n";
        let (recs, diags) = parse_records(text.as_bytes(), &all());
        let got: Vec<_> = recs
            .iter()
            .map(|r| (r.addr.to_string(), r.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("fe80::1".to_string(), "link."),
                ("192.0.2.7".to_string(), "mapped."),
                ("::1".to_string(), "six."),
            ]
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, 4);
    }

    #[test]
    fn bad_lines_are_skipped_with_line_numbers_and_good_ones_kept() {
        let text = "10.0.0.1 good\n300.1.1.1 badaddr\n10.0.0.2 ok bad/name\n10.0.0.3\n10.0.0.4 also-good\n";
        let (recs, diags) = parse_records(text.as_bytes(), &all());
        let names: Vec<_> = recs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["good.", "also-good."]);
        let lines: Vec<_> = diags.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert!(
            diags[0].reason.contains("invalid address"),
            "{:?}",
            diags[0]
        );
        assert!(diags[1].reason.contains("bad/name"), "{:?}", diags[1]);
        assert!(diags[2].reason.contains("no names"), "{:?}", diags[2]);
    }

    #[test]
    fn crlf_nul_and_non_utf8() {
        let text = b"10.0.0.1 crlf\r\n10.0.0.2 nul\0byte\n10.0.0.3 caf\xc3\xa9\n\xff\xfe junk\n10.0.0.4 last";
        let (recs, diags) = parse_records(text, &all());
        let names: Vec<_> = recs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["crlf.", "last."]);
        assert_eq!(
            diags.iter().map(|d| d.line).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn a_huge_line_does_not_drop_the_rest() {
        let mut text = b"10.0.0.1 before\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 1 << 20));
        text.extend(b"\n10.0.0.2 after\n");
        let (recs, diags) = parse_records(&text, &all());
        let names: Vec<_> = recs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["before.", "after."]);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, 2);
        assert!(diags[0].reason.len() < 200, "reason is bounded");
    }

    #[test]
    fn names_are_validated() {
        let mut out = Vec::new();
        for good in [
            "a",
            "a.b.",
            "*.example.org",
            "under_score.x",
            "x-1.y",
            &"a".repeat(63),
        ] {
            out.clear();
            assert!(push_name(good.as_bytes(), &mut out), "{good}");
        }
        let long = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62)
        );
        assert_eq!(long.len(), 254);
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a*.b",
            "b.*.c",
            "*",
            "a/b",
            "a b",
            &"a".repeat(64),
            &long,
        ] {
            out.clear();
            assert!(!push_name(bad.as_bytes(), &mut out), "{bad:?}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn zones_filter_names() {
        let zones = Zones::new(&["example.org"]);
        let (recs, diags) = parse_records(
            b"10.0.0.1 a.example.org example.org other.org notexample.org\n",
            &zones,
        );
        let names: Vec<_> = recs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["a.example.org.", "example.org."]);
        assert!(diags.is_empty());
    }

    #[test]
    fn empty_and_comment_only_values() {
        assert!(records("").is_empty());
        assert!(records("# nothing\n   # here\n").is_empty());
    }

    #[test]
    fn validate_is_strict() {
        assert_eq!(validate(b"10.0.0.1 a b\n::1 c\n"), Ok(3));
        let err = validate(b"10.0.0.1 a\nnope b\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].to_string(), "line 2: invalid address \"nope\"");
    }

    #[test]
    fn diagnostics_are_capped_but_counted() {
        let text = "bad line\n".repeat(1000);
        let mut diags = Vec::new();
        let skipped = parse(text.as_bytes(), &all(), &mut diags, 10, |_, _| {});
        assert_eq!(skipped, 1000);
        assert_eq!(diags.len(), 10);
    }
}
