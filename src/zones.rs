//! The zones an instance answers for, and the SOA it answers with for names in them that it
//! does not know (the authority section of NODATA and NXDOMAIN).
//!
//! Names here are in presentation form, lowercase and fully qualified ("example.org.", "."
//! for every name), and may hold the escapes CoreDNS writes for unusual bytes (`a\.b` is one
//! label): a zone matches at a label boundary, a dot that is not escaped.

/// Refresh, retry and expire of every synthesized SOA. Nothing transfers these zones, so
/// they only need to be plausible: RFC 1912's suggestions.
pub const SOA_REFRESH: u32 = 7200;
pub const SOA_RETRY: u32 = 1800;
pub const SOA_EXPIRE: u32 = 86400;
/// TTL cap of negative answers: a name looked up just before it is added must not stay
/// negatively cached for long.
const MAX_NEGATIVE_TTL: u32 = 30;

/// One zone and the names of its SOA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    /// The SOA's primary server, `ns.dns.<zone>`.
    pub mname: String,
    /// The SOA's mailbox, `hostmaster.<zone>`.
    pub rname: String,
}

impl Zone {
    fn new(name: String) -> Zone {
        let under = |label: &str| match name.as_str() {
            "." => format!("{label}."),
            zone => format!("{label}.{zone}"),
        };
        Zone {
            mname: under("ns.dns"),
            rname: under("hostmaster"),
            name,
        }
    }
}

/// The numbers of the SOA of a negative answer; its TTL is `minimum` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soa {
    /// The etcd revision being served.
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// The negative TTL: the answer TTL, at most 30 s.
    pub minimum: u32,
}

impl Soa {
    /// The SOA of a table served with answer TTL `ttl` at etcd revision `revision`.
    pub fn new(ttl: u32, revision: i64) -> Soa {
        Soa {
            // The serial is 32 bits; etcd revisions will not pass 2^32 in practice, and
            // wrapping is what RFC 1982 serial arithmetic expects anyway.
            serial: revision as u32,
            refresh: SOA_REFRESH,
            retry: SOA_RETRY,
            expire: SOA_EXPIRE,
            minimum: ttl.min(MAX_NEGATIVE_TTL),
        }
    }
}

/// The zones of one instance, in the order configured.
#[derive(Debug, Clone)]
pub struct Zones(Vec<Zone>);

impl Zones {
    /// Normalizes each zone (lowercase, trailing dot). An empty list means "." (everything).
    pub fn new<S: AsRef<str>>(zones: &[S]) -> Zones {
        let mut names: Vec<String> = zones
            .iter()
            .map(|z| {
                let mut z = z.as_ref().trim().to_ascii_lowercase();
                if !z.ends_with('.') {
                    z.push('.');
                }
                z
            })
            .collect();
        if names.is_empty() {
            names.push(".".to_string());
        }
        Zones(names.into_iter().map(Zone::new).collect())
    }

    /// The index of the longest zone that contains `name` (lowercase, fully qualified), as
    /// CoreDNS's `Zones.Matches`.
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, z)| in_zone(name, z.name.as_bytes()))
            .max_by_key(|(_, z)| z.name.len())
            .map(|(i, _)| i)
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.0.iter().any(|z| in_zone(name, z.name.as_bytes()))
    }

    pub fn as_slice(&self) -> &[Zone] {
        &self.0
    }
}

/// Whether `name` is `zone` or below it: a suffix that starts at a label boundary.
fn in_zone(name: &[u8], zone: &[u8]) -> bool {
    if zone == b"." {
        return true;
    }
    let Some(start) = name.len().checked_sub(zone.len()) else {
        return false;
    };
    name[start..] == *zone && (start == 0 || unescaped_dot(&name[..start]))
}

/// Whether `text` ends in a dot that is a label separator: not preceded by an odd number of
/// backslashes (`a\.` ends in an escaped dot, `a\\.` in an escaped backslash and a dot).
fn unescaped_dot(text: &[u8]) -> bool {
    let Some((b'.', before)) = text.split_last() else {
        return false;
    };
    before.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(zones: &[&str], name: &str) -> Option<String> {
        let zones = Zones::new(zones);
        zones
            .find(name.as_bytes())
            .map(|i| zones.as_slice()[i].name.clone())
    }

    /// The cases CoreDNS's `plugin.Zones.Matches` was checked against in the Go shim.
    #[test]
    fn the_longest_zone_matches_at_a_label_boundary() {
        let all = ["example.org.", "sub.example.org.", "10.in-addr.arpa."];
        for (zones, name, want) in [
            (&all[..], "asub.example.org.", Some("example.org.")),
            (&all[..], "a.sub.example.org.", Some("sub.example.org.")),
            (&all[..], "sub.example.org.", Some("sub.example.org.")),
            (&all[..], "1.0.0.10.in-addr.arpa.", Some("10.in-addr.arpa.")),
            (&all[..], "xexample.org.", None),
            (&all[..], "org.", None),
            (&all[..], "example.org.example.net.", None),
            (&["org.", "example.org."][..], "ample.org.", Some("org.")),
            (
                &["org.", "example.org."][..],
                "a\\.example.org.",
                Some("org."),
            ),
            (
                &["example.org."][..],
                "x.a\\.b.example.org.",
                Some("example.org."),
            ),
            (
                &["a\\.b.example.org."][..],
                "x.a\\.b.example.org.",
                Some("a\\.b.example.org."),
            ),
            (
                &["a\\.b.example.org."][..],
                "a\\.b.example.org.",
                Some("a\\.b.example.org."),
            ),
            (&["b.example.org."][..], "a\\.b.example.org.", None),
            (
                &["b.example.org."][..],
                "x\\\\.b.example.org.",
                Some("b.example.org."),
            ),
            (&["b.example.org."][..], "x\\\\\\.b.example.org.", None),
            (&["."][..], "g.", Some(".")),
            (&["."][..], ".", Some(".")),
            (&[][..], "anything.", Some(".")),
        ] {
            assert_eq!(matched(zones, name).as_deref(), want, "{zones:?} {name}");
        }
    }

    #[test]
    fn zones_are_normalized_and_name_their_soa() {
        let zones = Zones::new(&["Example.ORG", "."]);
        let [org, root] = zones.as_slice() else {
            panic!("{zones:?}")
        };
        assert_eq!(
            (org.name.as_str(), org.mname.as_str(), org.rname.as_str()),
            (
                "example.org.",
                "ns.dns.example.org.",
                "hostmaster.example.org."
            )
        );
        assert_eq!(
            (root.name.as_str(), root.mname.as_str(), root.rname.as_str()),
            (".", "ns.dns.", "hostmaster.")
        );
    }

    #[test]
    fn the_negative_ttl_is_capped() {
        let soa = Soa::new(3600, 7);
        assert_eq!(
            soa,
            Soa {
                serial: 7,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: 30
            }
        );
        assert_eq!(Soa::new(5, 1).minimum, 5);
        assert_eq!(Soa::new(60, (1 << 32) + 3).serial, 3);
    }
}
