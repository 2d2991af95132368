package etcdhosts

import (
	"context"
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
func newOffline(t *testing.T, corefile string) *EtcdHosts {
	t.Helper()
	e, err := parse(caddy.NewTestController("dns", offline(corefile)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.h.open(e.block); err != nil {
		t.Fatalf("etcdhosts_new with etcd down: %v", err)
	}
	t.Cleanup(e.h.close)
	e.Next = test.NextHandler(dns.RcodeRefused, nil) // "the next plugin"
	return e
}

// offline points an etcdhosts block at an etcd that is not there.
func offline(corefile string) string {
	return strings.Replace(corefile, "{", "{\n\tendpoint http://127.0.0.1:1\n\ttimeout 100ms", 1)
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
				want := "example.org.\t30\tIN\tSOA\tns.dns.example.org. hostmaster.example.org. 0 7200 1800 86400 30"
				if soa.String() != want {
					t.Fatalf("SOA %v, want %s", soa, want)
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

// The SOA of a negative answer is the one of the zone Rust matched: the longest.
func TestNegativeAnswerNamesItsZone(t *testing.T) {
	e := newOffline(t, "etcdhosts example.org sub.example.org {\n10.0.0.1 a.sub.example.org\n}")
	for name, zone := range map[string]string{"nope.example.org.": "example.org.", "NOPE.Sub.example.org.": "sub.example.org."} {
		m, _ := serve(t, e, name, dns.TypeA)
		if m == nil || m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Name != zone {
			t.Errorf("%s: %v, want NXDOMAIN with the SOA of %s", name, m, zone)
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
	e, err := parse(caddy.NewTestController("dns", offline(offlineBlock)))
	if err != nil {
		b.Fatal(err)
	}
	if err := e.h.open(e.block); err != nil {
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
