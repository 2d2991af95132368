package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The hosts file most tests put into etcd.
const semanticsHosts = `# e2e hosts file
10.0.0.1   a.example.org a-alias.example.org
10.0.0.2   multi.example.org
10.0.0.3   multi.example.org   # a second line adds an address
fd00::1    a6.example.org
10.0.0.4   dual.example.org
fd00::4    DUAL.example.org
10.0.0.9   *.apps.example.org
10.0.0.10  exact.apps.example.org
10.0.0.12  www.example.net
not-an-ip  broken.example.org
10.0.0.13  ok-after-broken.example.org
`

// bigHosts has one name with 200 addresses: more than the 512-byte first buffer.
func bigHosts() string {
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "10.1.%d.%d big.example.org\n", i/250, i%250+1)
	}
	return b.String()
}

// isWhoami reports whether r came from the whoami plugin (the "next plugin").
func isWhoami(r *dns.Msg) bool {
	// whoami answers with an empty answer section and the client's address and
	// port (A/AAAA + SRV) in the additional section; etcdhosts never adds those.
	for _, rr := range r.Extra {
		if _, ok := rr.(*dns.SRV); ok {
			return len(r.Answer) == 0 && r.Rcode == dns.RcodeSuccess
		}
	}
	return false
}

func checkSOA(t *testing.T, r *dns.Msg, zone string, ttl uint32, serial int64) {
	t.Helper()
	if len(r.Ns) != 1 {
		t.Fatalf("want one SOA in authority, got %v", r.Ns)
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok {
		t.Fatalf("authority is not an SOA: %v", r.Ns[0])
	}
	mname, rname := "ns.dns."+zone, "hostmaster."+zone
	if zone == "." {
		mname, rname = "ns.dns.", "hostmaster."
	}
	if soa.Hdr.Name != zone || soa.Ns != mname || soa.Mbox != rname {
		t.Errorf("SOA names: %v; want owner %s mname %s rname %s", soa, zone, mname, rname)
	}
	if soa.Hdr.Ttl != ttl || soa.Minttl != ttl {
		t.Errorf("SOA ttl %d minimum %d, want %d", soa.Hdr.Ttl, soa.Minttl, ttl)
	}
	if int64(soa.Serial) != serial {
		t.Errorf("SOA serial %d, want the etcd revision %d", soa.Serial, serial)
	}
	if soa.Refresh == 0 || soa.Retry == 0 || soa.Expire == 0 {
		t.Errorf("SOA timers not set: %v", soa)
	}
}

// TestDNSSemantics covers every row of docs/DESIGN.md section 5 against one CoreDNS
// with several server blocks that share one etcd key.
func TestDNSSemantics(t *testing.T) {
	etcd := startEtcd(t)
	etcd.put(t, "/e2e/big", bigHosts())
	rev := etcd.put(t, "/e2e/semantics", semanticsHosts)

	pA, pB, pC, pD, pE := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	ep := etcd.url()
	corefile := fmt.Sprintf(`
.:%[1]d {
    bind 127.0.0.1
    etcdhosts example.org {
        10.9.9.9 inline.example.org
        fd00::99 inline.example.org
        key /e2e/semantics
        endpoint %[6]s
        ttl 120
    }
    whoami
}
.:%[2]d {
    bind 127.0.0.1
    etcdhosts example.org {
        key /e2e/semantics
        endpoint %[6]s
        no_reverse
        fallthrough
    }
    whoami
}
.:%[3]d {
    bind 127.0.0.1
    etcdhosts example.org {
        key /e2e/semantics
        endpoint %[6]s
        fallthrough other.example.org
    }
    whoami
}
example.org:%[4]d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/semantics
        endpoint %[6]s
    }
}
.:%[5]d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/big
        endpoint %[6]s
        ttl 10
    }
}
`, pA, pB, pC, pD, pE, ep)
	a := fmt.Sprintf("127.0.0.1:%d", pA)
	b := fmt.Sprintf("127.0.0.1:%d", pB)
	c := fmt.Sprintf("127.0.0.1:%d", pC)
	d := fmt.Sprintf("127.0.0.1:%d", pD)
	e := fmt.Sprintf("127.0.0.1:%d", pE)
	startCoreDNS(t, corefile, a, b, c, d, e)
	// etcdhosts_new waits for the first read, so the data is there as soon as CoreDNS serves.
	for _, addr := range []string{a, b, c, d} {
		waitFor(t, 10*time.Second, "etcd data on "+addr, func() (bool, string) {
			return answerIs(addr, "a.example.org.", dns.TypeA, "10.0.0.1")
		})
	}

	answer := func(t *testing.T, addr, net, name string, qtype uint16, ttl uint32, want ...string) *dns.Msg {
		t.Helper()
		r := query(t, addr, net, name, qtype)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Fatalf("%s %s: rcode %s aa %v, want NOERROR aa", name, dns.Type(qtype), dns.RcodeToString[r.Rcode], r.Authoritative)
		}
		if got := addrs(r); !sameSet(got, want) {
			t.Fatalf("%s %s: answer %v, want %v", name, dns.Type(qtype), got, want)
		}
		for _, rr := range r.Answer {
			if rr.Header().Ttl != ttl || rr.Header().Rrtype != qtype || !strings.EqualFold(rr.Header().Name, name) {
				t.Errorf("%s %s: bad record %v (want ttl %d)", name, dns.Type(qtype), rr, ttl)
			}
		}
		return r
	}
	nodata := func(t *testing.T, addr, name string, qtype uint16, zone string, ttl uint32) {
		t.Helper()
		r := query(t, addr, "udp", name, qtype)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 0 {
			t.Fatalf("%s %s: rcode %s aa %v answer %v, want NODATA", name, dns.Type(qtype), dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
		}
		checkSOA(t, r, zone, ttl, rev)
	}
	nxdomain := func(t *testing.T, addr, name string, qtype uint16, zone string, ttl uint32) {
		t.Helper()
		r := query(t, addr, "udp", name, qtype)
		if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Answer) != 0 {
			t.Fatalf("%s %s: rcode %s aa %v answer %v, want NXDOMAIN aa", name, dns.Type(qtype), dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
		}
		checkSOA(t, r, zone, ttl, rev)
	}
	next := func(t *testing.T, addr, name string, qtype uint16) {
		t.Helper()
		r := query(t, addr, "udp", name, qtype)
		if !isWhoami(r) {
			t.Fatalf("%s %s: want the next plugin (whoami) to answer, got rcode %s aa %v %v", name, dns.Type(qtype), dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
		}
	}

	t.Run("A", func(t *testing.T) {
		answer(t, a, "udp", "a.example.org.", dns.TypeA, 120, "10.0.0.1")
		answer(t, a, "udp", "a-alias.example.org.", dns.TypeA, 120, "10.0.0.1")
		answer(t, a, "udp", "ok-after-broken.example.org.", dns.TypeA, 120, "10.0.0.13")
	})
	t.Run("TCP", func(t *testing.T) {
		answer(t, a, "tcp", "a.example.org.", dns.TypeA, 120, "10.0.0.1")
		answer(t, a, "tcp", "a6.example.org.", dns.TypeAAAA, 120, "fd00::1")
	})
	t.Run("case insensitive, owner keeps the question's case", func(t *testing.T) {
		r := answer(t, a, "udp", "A.Example.ORG.", dns.TypeA, 120, "10.0.0.1")
		if r.Answer[0].Header().Name != "A.Example.ORG." {
			t.Errorf("owner %q", r.Answer[0].Header().Name)
		}
	})
	t.Run("AAAA", func(t *testing.T) {
		answer(t, a, "udp", "a6.example.org.", dns.TypeAAAA, 120, "fd00::1")
		answer(t, a, "udp", "dual.example.org.", dns.TypeAAAA, 120, "fd00::4")
		answer(t, a, "udp", "dual.example.org.", dns.TypeA, 120, "10.0.0.4")
	})
	t.Run("multiple addresses", func(t *testing.T) {
		answer(t, a, "udp", "multi.example.org.", dns.TypeA, 120, "10.0.0.2", "10.0.0.3")
	})
	t.Run("more than the first buffer", func(t *testing.T) {
		var want []string
		for i := 0; i < 200; i++ {
			want = append(want, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
		}
		answer(t, e, "tcp", "big.example.org.", dns.TypeA, 10, want...)
		// Over UDP without EDNS0 the reply is truncated to fit 512 bytes.
		r := query(t, e, "udp", "big.example.org.", dns.TypeA)
		r.Compress = true
		if !r.Truncated || r.Len() > 512 {
			t.Errorf("UDP answer of %d bytes, truncated %v", r.Len(), r.Truncated)
		}
	})
	t.Run("inline records merge with etcd", func(t *testing.T) {
		answer(t, a, "udp", "inline.example.org.", dns.TypeA, 120, "10.9.9.9")
		answer(t, a, "udp", "inline.example.org.", dns.TypeAAAA, 120, "fd00::99")
		answer(t, a, "udp", "9.9.9.10.in-addr.arpa.", dns.TypePTR, 120, "inline.example.org.")
		// Only block A has them.
		nxdomain(t, c, "inline.example.org.", dns.TypeA, "example.org.", 30)
	})
	t.Run("wildcard", func(t *testing.T) {
		answer(t, a, "udp", "x.apps.example.org.", dns.TypeA, 120, "10.0.0.9")
		answer(t, a, "udp", "exact.apps.example.org.", dns.TypeA, 120, "10.0.0.10")
		nxdomain(t, a, "y.x.apps.example.org.", dns.TypeA, "example.org.", 30)
	})
	t.Run("empty non-terminals and the apex are NODATA, or fall through", func(t *testing.T) {
		// apps.example.org has no records but *.apps.example.org is below it: it exists
		// (RFC 8020), so it is NODATA, never NXDOMAIN; so is the zone apex.
		nodata(t, a, "apps.example.org.", dns.TypeA, "example.org.", 30)
		nodata(t, a, "example.org.", dns.TypeA, "example.org.", 30)
		// A hosts file does not know it, so fallthrough takes it like an unknown name.
		next(t, b, "apps.example.org.", dns.TypeA)
	})
	t.Run("NODATA with SOA", func(t *testing.T) {
		nodata(t, a, "a.example.org.", dns.TypeAAAA, "example.org.", 30)
		nodata(t, a, "a6.example.org.", dns.TypeA, "example.org.", 30)
		nodata(t, a, "a.example.org.", dns.TypeMX, "example.org.", 30)
		nodata(t, a, "a.example.org.", dns.TypeTXT, "example.org.", 30)
		// NODATA does not fall through.
		nodata(t, b, "a.example.org.", dns.TypeAAAA, "example.org.", 30)
	})
	t.Run("NXDOMAIN with SOA, serial = revision", func(t *testing.T) {
		nxdomain(t, a, "nope.example.org.", dns.TypeA, "example.org.", 30)
		nxdomain(t, a, "nope.example.org.", dns.TypeAAAA, "example.org.", 30)
		nxdomain(t, a, "broken.example.org.", dns.TypeA, "example.org.", 30)
		// The server block's zone, and the root zone's SOA (ttl 10 < 30).
		nxdomain(t, d, "nope.example.org.", dns.TypeA, "example.org.", 30)
		r := query(t, e, "udp", "nope.example.org.", dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Fatalf("zone . NXDOMAIN: %v", r)
		}
		soa := r.Ns[0].(*dns.SOA)
		if soa.Hdr.Name != "." || soa.Ns != "ns.dns." || soa.Mbox != "hostmaster." || soa.Hdr.Ttl != 10 || soa.Minttl != 10 {
			t.Errorf("zone . SOA: %v", soa)
		}
	})
	t.Run("fallthrough", func(t *testing.T) {
		next(t, b, "nope.example.org.", dns.TypeA)
		answer(t, b, "udp", "a.example.org.", dns.TypeA, 3600, "10.0.0.1")
		// fallthrough limited to other.example.org
		nxdomain(t, c, "nope.example.org.", dns.TypeA, "example.org.", 30)
		next(t, c, "nope.other.example.org.", dns.TypeA)
	})
	t.Run("out of zone goes to the next plugin", func(t *testing.T) {
		next(t, a, "www.example.net.", dns.TypeA)
		next(t, c, "www.example.net.", dns.TypeA)
		// Zones from the server block key.
		answer(t, d, "udp", "a.example.org.", dns.TypeA, 3600, "10.0.0.1")
	})
	t.Run("PTR", func(t *testing.T) {
		answer(t, a, "udp", "1.0.0.10.in-addr.arpa.", dns.TypePTR, 120, "a.example.org.", "a-alias.example.org.")
		answer(t, a, "tcp", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, 120, "a6.example.org.")
		answer(t, a, "udp", "4.0.0.10.in-addr.arpa.", dns.TypePTR, 120, "dual.example.org.")
		// Wildcards make no PTR.
		next(t, a, "9.0.0.10.in-addr.arpa.", dns.TypePTR)
	})
	t.Run("unknown PTR goes to the next plugin", func(t *testing.T) {
		next(t, a, "99.0.0.10.in-addr.arpa.", dns.TypePTR)
		next(t, c, "99.0.0.10.in-addr.arpa.", dns.TypePTR)
	})
	t.Run("no_reverse", func(t *testing.T) {
		next(t, b, "1.0.0.10.in-addr.arpa.", dns.TypePTR)
	})
}
