package e2e

// Bad data and hostile queries through the whole stack (issue 5: "never
// crashes on bad data"): junk values in etcd, and random DNS questions with
// arbitrary label bytes, types and classes. The cargo-fuzz targets in fuzz/
// cover the parser and etcdhosts_lookup in depth; these check the same through
// etcd, the Go shim and the DNS wire format.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestFaultBadData: values no hosts file looks like are skipped line by line;
// CoreDNS keeps serving the valid lines and the inline ones, and never crashes.
func TestFaultBadData(t *testing.T) {
	etcd := startEtcd(t)
	gw := newGW(5*time.Second, nil)
	if _, err := gw.put(etcd.url(), faultKey, hostsVersion(0, 0)); err != nil {
		t.Fatal(err)
	}
	d := startFaultDNS(t, "coredns", []string{etcd.url()}, "")
	rnd := rand.New(rand.NewPCG(5, 5))
	junk := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return string(b)
	}
	values := map[string]string{
		"binary":           junk(64 << 10),
		"NUL and CR":       "10.1.1.1 a\x00b.example.org\r\n\x00\x00\x00\n10.1.1.2 ok\r.example.org\r\n",
		"one huge line":    "10.1.1.3 " + strings.Repeat("x", 1<<20) + "\n",
		"huge name":        "10.1.1.4 " + strings.Repeat("a.", 200) + "example.org\n",
		"many names":       "10.1.1.5" + strings.Repeat(" n.example.org", 50000) + "\n",
		"invalid UTF-8":    "10.1.1.6 caf\xc3\x28.example.org\n\xff\xfe\xfd 10.1.1.7\n",
		"addresses only":   strings.Repeat("10.1.1.8\n", 10000),
		"weird addresses":  "1.2.3 a.example.org\n::ffff:1.2.3.4.5 b.example.org\nfe80::1%%% c.example.org\n0x7f.1 d.example.org\n",
		"wildcards":        "10.1.1.9 *.*.example.org *example.org a.*.example.org *\n",
		"comments only":    strings.Repeat("# nothing here\n", 1000),
		"empty":            "",
		"deep and long":    "10.1.1.10 " + strings.Repeat(strings.Repeat("z", 63)+".", 3) + "example.org\n",
		"mixed with valid": junk(1000) + "\n" + stableAddr + " " + stableName + "\n" + junk(1000) + "\n10.0.0.1 " + versionName + "\n",
	}
	for name, v := range values {
		// Always keep the names the querier checks valid at the end of the value.
		value := v + "\n" + stableAddr + " " + stableName + "\n10.0.0.1 " + versionName + "\n"
		rev, err := gw.put(etcd.url(), faultKey, value)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		waitFor(t, 10*time.Second, name+" to be served", func() (bool, string) {
			d.alive(t)
			got, err := servedRevision(d.ex)
			return err == nil && got == rev, fmt.Sprintf("serves %d (%v), want %d", got, err, rev)
		})
		if ok, why := answerIs(fmt.Sprintf("127.0.0.1:%d", d.port), stableName, dns.TypeA, stableAddr); !ok {
			t.Errorf("%s: %s", name, why)
		}
	}
	d.alive(t)
	d.q.check(t)
	n, f := d.q.counts()
	t.Logf("RESULT %s: %d junk values served around; %d queries, %d failed", t.Name(), len(values), n, f)
}

// TestFaultHostileQueries: random questions (arbitrary bytes in labels, any
// type and class, names of every length) over UDP and TCP. etcdhosts answers
// what is in its zone and hands on the rest; no SERVFAIL (a panic behind the C
// ABI), no crash.
func TestFaultHostileQueries(t *testing.T) {
	etcd := startEtcd(t)
	gw := newGW(5*time.Second, nil)
	hosts := hostsVersion(1, 0) + "10.2.0.1 *.wild.example.org\n2001:db8::1 six.example.org\n" +
		"10.2.0.2 a.b.c.example.org\n"
	if _, err := gw.put(etcd.url(), faultKey, hosts); err != nil {
		t.Fatal(err)
	}
	// whoami answers what etcdhosts hands on (names outside example.org, unknown
	// PTRs): without a next plugin CoreDNS itself would answer those SERVFAIL.
	port, metricsPort := freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	corefile := strings.Replace(faultCorefile(port, metricsPort, []string{etcd.url()}, ""),
		"    prometheus", "    whoami\n    prometheus", 1)
	d := &faultDNS{label: "coredns", port: port, ex: udpExchange(addr)}
	d.c = startCoreDNS(t, corefile, addr)
	d.q = startQuerier(t, d.label, d.ex)
	// The same name on the wire, whatever its presentation: escapes and case.
	for _, q := range []string{"st\\097ble.example.org.", "STABLE.example.ORG.", "\\083table.example.org."} {
		if ok, why := answerIs(addr, q, dns.TypeA, stableAddr); !ok {
			t.Errorf("%s: %s", q, why)
		}
	}
	rnd := rand.New(rand.NewPCG(7, 7))
	suffixes := []string{"example.org.", "wild.example.org.", "in-addr.arpa.", "ip6.arpa.", "", "org.", "EXAMPLE.ORG."}
	label := func() string {
		n := 1 + rnd.IntN(63)
		if rnd.IntN(4) == 0 {
			return []string{"*", "a", "b", "c", "six", "stable", "10", "0", "1", "2"}[rnd.IntN(10)]
		}
		var b strings.Builder
		for i := 0; i < n; i++ {
			c := byte(rnd.IntN(256))
			// Presentation format: escape what is not a plain letter or digit.
			if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "\\%03d", c)
			}
		}
		return b.String()
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypePTR, dns.TypeANY, dns.TypeMX, dns.TypeSOA, dns.TypeNS, dns.TypeTXT, 0, 65535}
	// total questions are sent and their answers checked. A drawn question that is not
	// a valid name or does not encode is drawn again (counted): nothing is sent for it.
	const total = 3000
	sent, notName, noPack := 0, 0, 0
	servfail := 0
	var examples []string
	for sent < total {
		if sent+notName+noPack >= 4*total {
			t.Fatalf("only %d of %d questions could be sent after %d draws (%d not a name, %d do not encode)", sent, total, sent+notName+noPack, notName, noPack)
		}
		var name string
		for j, n := 0, rnd.IntN(5); j < n; j++ {
			name += label() + "."
		}
		name += suffixes[rnd.IntN(len(suffixes))]
		if name == "" {
			name = "."
		}
		if _, ok := dns.IsDomainName(name); !ok {
			notName++
			continue
		}
		m := new(dns.Msg)
		m.SetQuestion(name, types[rnd.IntN(len(types))])
		if rnd.IntN(8) == 0 {
			m.Question[0].Qtype = uint16(rnd.IntN(65536))
		}
		if rnd.IntN(8) == 0 {
			m.Question[0].Qclass = uint16(rnd.IntN(65536))
		}
		if _, err := m.Pack(); err != nil {
			noPack++ // e.g. a name longer than 255 octets once escapes are decoded
			continue
		}
		network := "udp"
		if sent%10 == 0 {
			network = "tcp"
		}
		cl := &dns.Client{Net: network, Timeout: 2 * time.Second}
		r, _, err := cl.Exchange(m, addr)
		if err != nil {
			t.Fatalf("query %q type %d class %d over %s: %v", name, m.Question[0].Qtype, m.Question[0].Qclass, network, err)
		}
		sent++
		if r.Rcode == dns.RcodeServerFailure {
			servfail++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%q type %d class %d", name, m.Question[0].Qtype, m.Question[0].Qclass))
			}
		}
	}
	d.alive(t)
	if servfail > 0 {
		t.Errorf("%d SERVFAIL answers, e.g. %v\n%s", servfail, examples, tail(d.c.output(), 2000))
	}
	d.q.check(t)
	if strings.Contains(d.c.output(), "panic") {
		t.Errorf("a panic was logged:\n%s", tail(d.c.output(), 3000))
	}
	n, f := d.q.counts()
	t.Logf("RESULT %s: %d random questions sent and answered (%d over UDP, %d over TCP), %d SERVFAIL; %d drawn questions were not names and %d did not encode, so were drawn again; checker %d queries, %d failed",
		t.Name(), sent, sent-(sent+9)/10, (sent+9)/10, servfail, notName, noPack, n, f)
}
