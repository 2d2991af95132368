package etcdhosts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// newOffline parses a Corefile block and opens its Rust handle against an etcd
// endpoint where nothing listens: etcdhosts_new must still succeed (it retries in
// the background) and the inline records are served.
func newOffline(t *testing.T, block string) *EtcdHosts {
	t.Helper()
	c := caddy.NewTestController("dns", block)
	e, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Endpoints = []string{"http://127.0.0.1:1"}
	e.cfg.TimeoutMs = 100
	cfg, err := json.Marshal(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.h.open(cfg); err != nil {
		t.Fatalf("etcdhosts_new with etcd down: %v", err)
	}
	t.Cleanup(e.h.close)
	e.Next = test.NextHandler(dns.RcodeRefused, nil) // "the next plugin"
	return e
}

const offlineBlock = `etcdhosts example.org {
	10.0.0.1 a.example.org a2.example.org
	10.0.0.2 multi.example.org
	10.0.0.3 multi.example.org
	fd00::1 a.example.org
	fd00::2 six.example.org
	ttl 300
	fallthrough sub.example.org
}`

func serve(t *testing.T, e *EtcdHosts, name string, qtype uint16) (*dns.Msg, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	code, err := e.ServeDNS(context.Background(), rec, m)
	if err != nil && code != dns.RcodeServerFailure {
		t.Fatalf("%s %s: %v", name, dns.Type(qtype), err)
	}
	return rec.Msg, code
}

func TestServeDNSOffline(t *testing.T) {
	e := newOffline(t, offlineBlock)
	if e.Ready() {
		t.Error("Ready() true without any read from etcd")
	}
	if _, err := e.h.stats(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		qtype  uint16
		rcode  int // written rcode; -1 = the next plugin (REFUSED returned, nothing written)
		answer []string
		soa    bool
	}{
		{"a.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"a.example.org.\t300\tIN\tA\t10.0.0.1"}, false},
		{"A.EXAMPLE.org.", dns.TypeA, dns.RcodeSuccess, []string{"A.EXAMPLE.org.\t300\tIN\tA\t10.0.0.1"}, false},
		{"a.example.org.", dns.TypeAAAA, dns.RcodeSuccess, []string{"a.example.org.\t300\tIN\tAAAA\tfd00::1"}, false},
		{"multi.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"multi.example.org.\t300\tIN\tA\t10.0.0.2", "multi.example.org.\t300\tIN\tA\t10.0.0.3"}, false},
		{"six.example.org.", dns.TypeA, dns.RcodeSuccess, nil, true},    // NODATA
		{"a.example.org.", dns.TypeMX, dns.RcodeSuccess, nil, true},     // NODATA
		{"nope.example.org.", dns.TypeA, dns.RcodeNameError, nil, true}, // NXDOMAIN
		{"x.sub.example.org.", dns.TypeA, -1, nil, false},               // fallthrough zone
		{"a.example.net.", dns.TypeA, -1, nil, false},                   // outside the zones
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"1.0.0.10.in-addr.arpa.\t300\tIN\tPTR\ta.example.org.", "1.0.0.10.in-addr.arpa.\t300\tIN\tPTR\ta2.example.org."}, false},
		{"9.9.9.10.in-addr.arpa.", dns.TypePTR, -1, nil, false}, // unknown PTR
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.name, dns.Type(tc.qtype)), func(t *testing.T) {
			m, code := serve(t, e, tc.name, tc.qtype)
			if tc.rcode == -1 {
				if m != nil || code != dns.RcodeRefused {
					t.Fatalf("want the next plugin, got code %d msg %v", code, m)
				}
				return
			}
			if m == nil {
				t.Fatalf("nothing written, code %d", code)
			}
			if m.Rcode != tc.rcode || !m.Authoritative {
				t.Fatalf("rcode %s aa %v", dns.RcodeToString[m.Rcode], m.Authoritative)
			}
			var got []string
			for _, rr := range m.Answer {
				got = append(got, rr.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.answer, "\n") {
				t.Fatalf("answer\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.answer, "\n"))
			}
			if tc.soa {
				if len(m.Ns) != 1 {
					t.Fatalf("authority %v", m.Ns)
				}
				soa := m.Ns[0].(*dns.SOA)
				if soa.Hdr.Name != "example.org." || soa.Ns != "ns.dns.example.org." || soa.Mbox != "hostmaster.example.org." ||
					soa.Hdr.Ttl != 30 || soa.Minttl != 30 {
					t.Fatalf("SOA %v", soa)
				}
			} else if len(m.Ns) != 0 {
				t.Fatalf("unexpected authority %v", m.Ns)
			}
		})
	}
}

// A closed handle answers SERVFAIL rather than touching freed memory.
func TestServeDNSClosed(t *testing.T) {
	e := newOffline(t, offlineBlock)
	e.h.close()
	_, code := serve(t, e, "a.example.org.", dns.TypeA)
	if code != dns.RcodeServerFailure {
		t.Fatalf("code %d", code)
	}
	if e.Ready() {
		t.Fatal("closed handle ready")
	}
}

// matchZone agrees with plugin.Zones.Matches.
func TestMatchZone(t *testing.T) {
	zoneSets := [][]string{
		{"example.org."},
		{"."},
		{"example.org.", "sub.example.org.", "10.in-addr.arpa."},
		{"org.", "example.org."},
		{"a\\.b.example.org."},
		{},
	}
	names := []string{".", "org.", "example.org.", "a.example.org.", "xexample.org.", "sub.example.org.",
		"a.sub.example.org.", "asub.example.org.", "example.org.example.net.", "1.0.0.10.in-addr.arpa.",
		"a\\.b.example.org.", "x.a\\.b.example.org.", "a\\.example.org.", "ample.org.", "g."}
	for _, zs := range zoneSets {
		c := caddy.NewTestController("dns", "etcdhosts "+strings.Join(zs, " "))
		e, err := parse(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if got, want := e.matchZone(n), e.zones.Matches(n); got != want {
				t.Errorf("zones %v name %q: matchZone %q, Matches %q", e.zones, n, got, want)
			}
		}
	}
}

func TestBuildAnswersMalformed(t *testing.T) {
	for _, tc := range []struct {
		qtype uint16
		data  []byte
	}{
		{dns.TypeA, []byte{1, 2, 3}},
		{dns.TypeAAAA, make([]byte, 15)},
		{dns.TypePTR, []byte{5, 'a', '.'}},
		{dns.TypePTR, []byte{0}},
		{dns.TypeMX, []byte{1}},
	} {
		if _, err := buildAnswers("x.", tc.qtype, 1, tc.data); err == nil {
			t.Errorf("%s %v: no error", dns.Type(tc.qtype), tc.data)
		}
	}
}

func BenchmarkServeDNS(b *testing.B) {
	c := caddy.NewTestController("dns", offlineBlock)
	e, err := parse(c)
	if err != nil {
		b.Fatal(err)
	}
	e.cfg.Endpoints = []string{"http://127.0.0.1:1"}
	e.cfg.TimeoutMs = 100
	cfg, _ := json.Marshal(e.cfg)
	if err := e.h.open(cfg); err != nil {
		b.Fatal(err)
	}
	defer e.h.close()
	m := new(dns.Msg)
	m.SetQuestion("multi.example.org.", dns.TypeA)
	w := &test.ResponseWriter{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.ServeDNS(context.Background(), w, m); err != nil {
			b.Fatal(err)
		}
	}
}
