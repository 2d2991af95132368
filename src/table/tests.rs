//! Every case of CoreDNS's plugin/hosts hostsfile, wildcard and lookup tests, ported, plus
//! the cases etcdhosts adds (NODATA vs NXDOMAIN, zones, no_reverse, the answer encoding).

use super::*;

/// Every name, TTL 3600, PTRs on.
fn options(zones: &[&str]) -> TableOptions {
    TableOptions {
        zones: Zones::new(zones),
        ttl: 3600,
        no_reverse: false,
    }
}

fn table(text: &str) -> Table {
    Table::from_texts(options(&[]), &[text.as_bytes()], 7)
}

fn v4(t: &Table, name: &str) -> Vec<String> {
    t.lookup_v4(name).iter().map(|a| a.to_string()).collect()
}

fn v6(t: &Table, name: &str) -> Vec<String> {
    t.lookup_v6(name).iter().map(|a| a.to_string()).collect()
}

fn ptr(t: &Table, addr: &str) -> Vec<String> {
    t.lookup_addr(addr.parse().unwrap())
}

const HOSTS: &str = "255.255.255.255	broadcasthost
	127.0.0.2	odin
	127.0.0.3	odin  # inline comment
	::2             odin
	127.1.1.1	thor
	# aliases
	127.1.1.2	ullr ullrhost
	fe80::1%lo0	localhost
	# Bogus entries that must be ignored.
	123.123.123	loki
	321.321.321.321";
const SINGLE_LINE: &str = "127.0.0.2  odin";
const IPV4: &str = "# See https://tools.ietf.org/html/rfc1123.
	#
	# internet address and host name
	127.0.0.1	localhost	# inline comment separated by tab
	127.0.0.2	localhost       # inline comment separated by space
	# internet address, host name and aliases
	127.0.0.3	localhost	localhost.localdomain";
const IPV6: &str = "# See https://tools.ietf.org/html/rfc5952, https://tools.ietf.org/html/rfc4007.
	# internet address and host name
	::1						localhost	# inline comment separated by tab
	fe80:0000:0000:0000:0000:0000:0000:0001		localhost       # inline comment separated by space
	# internet address with zone identifier and host name
	fe80:0000:0000:0000:0000:0000:0000:0002%lo0	localhost
	# internet address, host name and aliases
	fe80::3%lo0					localhost	localhost.localdomain";
const CASE: &str = "127.0.0.1	PreserveMe	PreserveMe.local
		::1		PreserveMe	PreserveMe.local";

type HostCase = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

fn check_hosts(text: &str, cases: &[HostCase]) {
    let t = table(text);
    for &(name, want4, want6) in cases {
        // CoreDNS checks the name as given, normalized, lowercased and uppercased.
        for q in [name.to_string(), name.to_lowercase(), name.to_uppercase()] {
            assert_eq!(v4(&t, &q), want4, "v4 of {q}");
            assert_eq!(v6(&t, &q), want6, "v6 of {q}");
        }
    }
}

#[test]
fn lookup_static_host() {
    check_hosts(
        HOSTS,
        &[
            ("odin.", &["127.0.0.2", "127.0.0.3"], &["::2"]),
            ("thor.", &["127.1.1.1"], &[]),
            ("ullr.", &["127.1.1.2"], &[]),
            ("ullrhost.", &["127.1.1.2"], &[]),
            ("localhost.", &[], &["fe80::1"]),
        ],
    );
    check_hosts(SINGLE_LINE, &[("odin.", &["127.0.0.2"], &[])]);
    check_hosts(
        IPV4,
        &[
            ("localhost.", &["127.0.0.1", "127.0.0.2", "127.0.0.3"], &[]),
            ("localhost.localdomain.", &["127.0.0.3"], &[]),
        ],
    );
    check_hosts(
        IPV6,
        &[
            ("localhost.", &[], &["::1", "fe80::1", "fe80::2", "fe80::3"]),
            ("localhost.localdomain.", &[], &["fe80::3"]),
        ],
    );
    check_hosts(
        CASE,
        &[
            ("PreserveMe.", &["127.0.0.1"], &["::1"]),
            ("PreserveMe.local.", &["127.0.0.1"], &["::1"]),
        ],
    );
}

#[test]
fn bogus_lines_of_the_hosts_example_are_reported() {
    let t = table(HOSTS);
    assert_eq!(t.invalid_lines(), 2);
    let lines: Vec<_> = t.diagnostics().iter().map(|(_, d)| d.line).collect();
    assert_eq!(lines, vec![10, 11]);
    assert!(v4(&t, "loki.").is_empty());
}

#[test]
fn lookup_static_addr() {
    type AddrCase = (&'static str, &'static [&'static str]);
    let suites: &[(&str, &[AddrCase])] = &[
        (
            HOSTS,
            &[
                ("255.255.255.255", &["broadcasthost."]),
                ("127.0.0.2", &["odin."]),
                ("127.0.0.3", &["odin."]),
                ("::2", &["odin."]),
                ("127.1.1.1", &["thor."]),
                ("127.1.1.2", &["ullr.", "ullrhost."]),
                ("fe80::1", &["localhost."]),
            ],
        ),
        (SINGLE_LINE, &[("127.0.0.2", &["odin."])]),
        (
            IPV4,
            &[
                ("127.0.0.1", &["localhost."]),
                ("127.0.0.2", &["localhost."]),
                ("127.0.0.3", &["localhost.", "localhost.localdomain."]),
            ],
        ),
        (
            IPV6,
            &[
                ("::1", &["localhost."]),
                ("fe80::1", &["localhost."]),
                ("fe80::2", &["localhost."]),
                ("fe80::3", &["localhost.", "localhost.localdomain."]),
            ],
        ),
        (
            CASE,
            &[
                ("127.0.0.1", &["preserveme.", "preserveme.local."]),
                ("::1", &["preserveme.", "preserveme.local."]),
            ],
        ),
    ];
    for (text, cases) in suites {
        let t = table(text);
        for (addr, want) in *cases {
            assert_eq!(ptr(&t, addr), *want, "PTR of {addr}");
        }
    }
}

#[test]
fn lookup_wildcard_host() {
    let t = table(
        "
127.0.0.53 *.example.org
127.0.1.52 *.intern.example.org
127.0.0.54 foo.example.org
192.168.33.10 *.example.com
192.168.33.11 a.example.com
192.168.33.12 b.example.com
",
    );
    let cases: &[HostCase] = &[
        ("foo.example.org.", &["127.0.0.54"], &[]),
        ("bar.example.org.", &["127.0.0.53"], &[]),
        ("bar.intern.example.org.", &["127.0.1.52"], &[]),
        ("a.example.com.", &["192.168.33.11"], &[]),
        ("b.example.com.", &["192.168.33.12"], &[]),
        ("c.example.com.", &["192.168.33.10"], &[]),
        ("example.com.", &[], &[]),
        ("deep.foo.example.org.", &[], &[]),
    ];
    for &(name, want4, want6) in cases {
        assert_eq!(v4(&t, name), want4, "{name}");
        assert_eq!(v6(&t, name), want6, "{name}");
    }
    // Wildcards make no PTR.
    assert!(ptr(&t, "127.0.0.53").is_empty());
    assert_eq!(ptr(&t, "127.0.0.54"), ["foo.example.org."]);
}

// --- the lookup (ServeDNS) cases of CoreDNS's hosts_test.go, through `Table::lookup` ---

const HOSTS_EXAMPLE: &str = "
127.0.0.1 localhost localhost.domain
::1 localhost localhost.domain
10.0.0.1 example.org
::FFFF:10.0.0.2 example.com
10.0.0.3 fallthrough-example.org
1.2.3.4 aa.example.com
5.6.7.8 *.apps.example.com
reload 5s
timeout 3600
";

/// Runs a query and decodes the answer: (outcome, ttl, SOA serial or 0, records as
/// strings).
fn query(t: &Table, qname: &str, qtype: u16) -> (Outcome, u32, u32, Vec<String>) {
    let mut out = [0u8; 512];
    let answer = t.lookup(qname.as_bytes(), qtype, &mut out);
    let (outcome, ttl) = (answer.outcome, answer.ttl);
    let serial = answer.soa.map_or(0, |soa| soa.serial);
    let body = &out[..answer.len.min(out.len())];
    let records = match (outcome, qtype) {
        (Outcome::Answer, TYPE_A) => body
            .chunks(4)
            .map(|c| Ipv4Addr::from(<[u8; 4]>::try_from(c).unwrap()).to_string())
            .collect(),
        (Outcome::Answer, TYPE_AAAA) => body
            .chunks(16)
            .map(|c| Ipv6Addr::from(<[u8; 16]>::try_from(c).unwrap()).to_string())
            .collect(),
        (Outcome::Answer, TYPE_PTR) => {
            let mut names = vec![];
            let mut at = 0;
            while at < body.len() {
                let len = body[at] as usize;
                names.push(String::from_utf8(body[at + 1..at + 1 + len].to_vec()).unwrap());
                at += 1 + len;
            }
            names
        }
        _ => vec![],
    };
    (outcome, ttl, serial, records)
}

const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;

#[test]
fn lookup_cases_of_hosts_test() {
    let t = table(HOSTS_EXAMPLE);
    let answer = |q: &str, ty: u16, want: &[&str]| {
        let (o, ttl, _, recs) = query(&t, q, ty);
        assert_eq!(o, Outcome::Answer, "{q} {ty}");
        assert_eq!(ttl, 3600);
        assert_eq!(recs, want, "{q} {ty}");
    };
    answer("example.org.", TYPE_A, &["10.0.0.1"]);
    answer("example.com.", TYPE_A, &["10.0.0.2"]); // IPv4-mapped is served as A
    answer("localhost.", TYPE_AAAA, &["::1"]);
    answer("1.0.0.10.in-addr.arpa.", TYPE_PTR, &["example.org."]);
    answer("2.0.0.10.in-addr.arpa.", TYPE_PTR, &["example.com."]);
    answer(
        "1.0.0.127.in-addr.arpa.",
        TYPE_PTR,
        &["localhost.", "localhost.domain."],
    );
    answer("aa.example.com.", TYPE_A, &["1.2.3.4"]);
    answer("x.apps.example.com.", TYPE_A, &["5.6.7.8"]);
    // CoreDNS's case expects apps.example.com to match *.apps.example.com, but its check
    // never runs (hosts sends SERVFAIL without a message); a one-label wildcard does not
    // cover its own parent, which exists (as an empty non-terminal) because of it.
    assert_eq!(
        query(&t, "apps.example.com.", TYPE_A).0,
        Outcome::EmptyNonTerminal
    );

    // The name exists with another type: NODATA, with the negative TTL min(ttl, 30).
    for ty in [TYPE_AAAA, TYPE_MX, TYPE_TXT] {
        let (o, ttl, serial, recs) = query(&t, "example.org.", ty);
        assert_eq!((o, ttl, serial), (Outcome::NoData, 30, 7), "type {ty}");
        assert!(recs.is_empty());
    }
    assert_eq!(
        query(&t, "fallthrough-example.org.", TYPE_AAAA).0,
        Outcome::NoData
    );
    assert_eq!(
        query(&t, "missing.example.org.", TYPE_A).0,
        Outcome::NxDomain
    );
    assert_eq!(
        query(&t, "missing.example.org.", TYPE_TXT).0,
        Outcome::NxDomain
    );
}

#[test]
fn multiple_lines_one_name_merge_and_dedupe() {
    let t = table("10.0.0.1 multi\n10.0.0.2 multi\n::1 multi\n10.0.0.1 multi\n");
    assert_eq!(v4(&t, "multi."), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(v6(&t, "multi."), ["::1"]);
    assert_eq!(ptr(&t, "10.0.0.1"), ["multi."]);
    assert_eq!(t.records(), 3);
    assert_eq!(t.names(), 1);
}

#[test]
fn exact_name_wins_over_wildcard() {
    let t = table("10.0.0.9 *.example.org\n::9 *.example.org\n10.0.0.1 host.example.org\n");
    assert_eq!(query(&t, "host.example.org.", TYPE_A).3, ["10.0.0.1"]);
    // The exact name has no AAAA: NODATA, not the wildcard's address.
    assert_eq!(query(&t, "host.example.org.", TYPE_AAAA).0, Outcome::NoData);
    assert_eq!(query(&t, "other.example.org.", TYPE_AAAA).3, ["::9"]);
    assert_eq!(
        query(&t, "example.org.", TYPE_A).0,
        Outcome::EmptyNonTerminal
    );
}

#[test]
fn empty_non_terminals_and_zone_apexes_exist() {
    let opts = options(&["example.org.", "example.net."]);
    let t = Table::from_texts(
        opts,
        &[b"10.0.0.1 a.b.c.example.org
10.0.0.2 *.w.example.org
10.0.0.3 b.example.org
"],
        5,
    );
    let ent = |q: &str| {
        let (o, ttl, serial, _) = query(&t, q, TYPE_A);
        assert_eq!((ttl, serial), (30, 5), "{q}");
        o
    };
    for q in [
        "b.c.example.org.",
        "c.example.org.",
        "w.example.org.",
        "example.org.",
        "example.net.",
    ] {
        assert_eq!(ent(q), Outcome::EmptyNonTerminal, "{q}");
    }
    // Names with records, and names that exist nowhere, are unchanged.
    assert_eq!(query(&t, "b.example.org.", TYPE_A).3, ["10.0.0.3"]);
    assert_eq!(query(&t, "x.w.example.org.", TYPE_A).3, ["10.0.0.2"]);
    for q in ["d.example.org.", "x.a.b.c.example.org.", "x.example.net."] {
        assert_eq!(ent(q), Outcome::NxDomain, "{q}");
    }
    assert_eq!(t.names(), 3);
    assert_eq!(t.records(), 3);
}

#[test]
fn a_wildcard_covers_an_empty_non_terminal_as_in_hosts() {
    let t = table(
        "10.0.0.9 *.example.org
10.0.0.1 a.sub.example.org
",
    );
    assert_eq!(query(&t, "sub.example.org.", TYPE_A).3, ["10.0.0.9"]);
    assert_eq!(query(&t, "a.sub.example.org.", TYPE_A).3, ["10.0.0.1"]);
}

#[test]
fn queries_are_case_insensitive_and_need_no_trailing_dot() {
    let t = table("10.0.0.1 Host.Example.org\n");
    assert_eq!(query(&t, "HOST.example.ORG.", TYPE_A).3, ["10.0.0.1"]);
    assert_eq!(query(&t, "host.example.org", TYPE_A).3, ["10.0.0.1"]);
}

#[test]
fn zones_limit_names_but_not_ptr() {
    let opts = options(&["example.org."]);
    let t = Table::from_texts(opts, &[b"10.0.0.1 a.example.org b.other.org\n"], 1);
    assert_eq!(query(&t, "a.example.org.", TYPE_A).0, Outcome::Answer);
    assert_eq!(query(&t, "b.other.org.", TYPE_A).0, Outcome::NotMine);
    assert_eq!(query(&t, "nope.example.org.", TYPE_A).0, Outcome::NxDomain);
    // PTR answers for any address in the table, whatever zone the reverse name is in.
    assert_eq!(
        query(&t, "1.0.0.10.in-addr.arpa.", TYPE_PTR).3,
        ["a.example.org."]
    );
    assert_eq!(t.names(), 1);
}

#[test]
fn unknown_ptr_and_no_reverse_are_not_mine() {
    let t = table("10.0.0.1 a\n2001:db8::1 b\n");
    assert_eq!(
        query(&t, "9.0.0.10.in-addr.arpa.", TYPE_PTR).0,
        Outcome::NotMine
    );
    let six = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
    assert_eq!(query(&t, six, TYPE_PTR).3, ["b."]);
    // A partial reverse name is no address.
    assert_ne!(query(&t, "0.10.in-addr.arpa.", TYPE_PTR).0, Outcome::Answer);

    let opts = TableOptions {
        no_reverse: true,
        ..options(&[])
    };
    let t = Table::from_texts(opts, &[b"10.0.0.1 a\n"], 1);
    assert_eq!(
        query(&t, "1.0.0.10.in-addr.arpa.", TYPE_PTR).0,
        Outcome::NotMine
    );
    assert_eq!(query(&t, "a.", TYPE_A).3, ["10.0.0.1"]);
}

#[test]
fn ttl_applies_and_negative_ttl_is_capped() {
    let opts = TableOptions {
        ttl: 10,
        ..options(&[])
    };
    let t = Table::from_texts(opts, &[b"10.0.0.1 a\n"], 3);
    assert_eq!(query(&t, "a.", TYPE_A).1, 10);
    assert_eq!(query(&t, "b.", TYPE_A).1, 10);
    let t = table("10.0.0.1 a\n");
    assert_eq!(query(&t, "b.", TYPE_A).1, 30);
}

#[test]
fn buffer_too_small_reports_the_size_needed() {
    let text: String = (0..100).map(|i| format!("10.0.{i}.1 big\n")).collect();
    let t = table(&text);
    let mut small = [0u8; 64];
    let answer = t.lookup(b"big.", TYPE_A, &mut small);
    assert_eq!((answer.outcome, answer.len), (Outcome::BufferTooSmall, 400));
    let mut big = vec![0u8; answer.len];
    let answer = t.lookup(b"big.", TYPE_A, &mut big);
    assert_eq!((answer.outcome, answer.len), (Outcome::Answer, 400));
    // A negative answer writes no records: no buffer needed.
    let answer = t.lookup(b"nope.", TYPE_A, &mut []);
    assert_eq!((answer.outcome, answer.len), (Outcome::NxDomain, 0));
}

#[test]
fn inline_and_etcd_texts_merge() {
    let t = Table::from_texts(
        options(&[]),
        &[
            b"10.0.0.1 shared\n",
            b"10.0.0.2 shared\n10.0.0.3 inline-only\n",
        ],
        1,
    );
    assert_eq!(v4(&t, "shared."), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(v4(&t, "inline-only."), ["10.0.0.3"]);
}

#[test]
fn hostile_qnames_do_not_panic() {
    let t = table("10.0.0.1 a\n");
    let long = vec![b'a'; 300];
    for q in [
        &b""[..],
        b".",
        b"..",
        &long,
        b"\xff\xfe.",
        b"*.",
        b"in-addr.arpa.",
        b"\0",
    ] {
        for ty in [0, TYPE_A, TYPE_AAAA, TYPE_PTR, 255, 65535] {
            let mut out = [0u8; 64];
            let _ = t.lookup(q, ty, &mut out);
        }
    }
}

#[test]
fn the_lookup_names_the_zone_and_the_soa_of_a_negative_answer() {
    let opts = TableOptions {
        ttl: 20,
        ..options(&["example.org.", "sub.example.org."])
    };
    let t = Table::from_texts(opts, &[b"10.0.0.1 a.sub.example.org\n"], 42);
    let mut out = [0u8; 64];
    let answer = t.lookup(b"A.Sub.example.org.", TYPE_A, &mut out);
    assert_eq!(
        answer,
        Answer {
            outcome: Outcome::Answer,
            ttl: 20,
            zone: Some(1),
            len: 4,
            soa: None
        }
    );
    let answer = t.lookup(b"nope.example.org.", TYPE_A, &mut out);
    assert_eq!((answer.outcome, answer.zone), (Outcome::NxDomain, Some(0)));
    assert_eq!((answer.ttl, answer.soa), (20, Some(Soa::new(20, 42))));
    let answer = t.lookup(b"1.0.0.10.in-addr.arpa.", TYPE_PTR, &mut out);
    assert_eq!((answer.outcome, answer.zone), (Outcome::Answer, None));
    assert_eq!(
        t.lookup(b"a.example.net.", TYPE_A, &mut out),
        Answer::not_mine()
    );
}
