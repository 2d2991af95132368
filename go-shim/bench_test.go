package etcdhosts

// The per-query cost of ServeDNS, for etcdhosts and for CoreDNS's own hosts plugin,
// on the same records (inline in both Corefile blocks) and the same questions:
//
//	go test -run '^$' -bench 'BenchmarkPlugins' -benchmem
//
// Each sub-benchmark is plugin/size/kind. The kinds are an A hit, an AAAA hit, an
// AAAA query on an A-only name (NODATA), an unknown name (a miss: etcdhosts
// answers NXDOMAIN with an SOA, hosts returns SERVFAIL without writing anything),
// and a PTR hit. Every reply is checked before the timing starts. Each iteration asks the next of 4096 different names, and the
// reply is packed into a reused buffer, as the server does with every answer.
// When a plugin returns an rcode without writing (hosts's SERVFAIL for a miss),
// the benchmark writes that reply the way CoreDNS's server does, so both sides
// pay for a reply to every query.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/hosts" // registers "hosts"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// Record i of the benchmark set: the same scheme as bench/tool (gen).
func benchName(i int) string { return fmt.Sprintf("host%07d.rack%02d.dc1.example.com", i, i%64) }

func benchV4(i int) [4]byte {
	x := (uint32(i)*2654435761 + 12345) & 0xFFFFFF
	return [4]byte{10, byte(x >> 16), byte(x >> 8), byte(x)}
}

func benchHosts(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		a := benchV4(i)
		fmt.Fprintf(&b, "%d.%d.%d.%d %s\n", a[0], a[1], a[2], a[3], benchName(i))
		if i%4 == 0 {
			fmt.Fprintf(&b, "fd00::%x:%x %s\n", i>>16, i&0xffff, benchName(i))
		}
	}
	return b.String()
}

// packWriter packs every reply into one reused buffer, like the server's
// WriteMsg, so that the shape of the RRs a plugin builds is paid for as well.
type packWriter struct {
	test.ResponseWriter
	buf    []byte
	writes int
}

func (w *packWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	if err != nil {
		return err
	}
	w.buf = b[:cap(b)]
	w.writes++
	return nil
}

func benchEtcdHosts(b *testing.B, records string) plugin.Handler {
	b.Helper()
	// Nothing listens at the endpoint: inline records only.
	e, err := parse(caddy.NewTestController("dns", offline("etcdhosts example.com {\n"+records+"}")))
	if err != nil {
		b.Fatal(err)
	}
	if err := e.h.open(e.block); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.h.close)
	return e
}

func benchHostsPlugin(b *testing.B, records string) plugin.Handler {
	b.Helper()
	// A hosts file path that does not exist: only the inline records are served.
	c := caddy.NewTestController("dns", "hosts /nonexistent/bench-hosts example.com {\n"+records+"}")
	setup, err := caddy.DirectiveAction("dns", "hosts")
	if err != nil {
		b.Fatal(err)
	}
	if err := setup(c); err != nil {
		b.Fatal(err)
	}
	plugins := dnsserver.GetConfig(c).Plugin
	if len(plugins) != 1 {
		b.Fatalf("hosts setup added %d plugins", len(plugins))
	}
	return plugins[0](nil)
}

type benchKind struct {
	name     string
	question func(i int) (string, uint16)
}

func benchKinds(n int) []benchKind {
	return []benchKind{
		{"A", func(i int) (string, uint16) { return benchName(i%n) + ".", dns.TypeA }},
		{"AAAA", func(i int) (string, uint16) { return benchName((i*4)%n) + ".", dns.TypeAAAA }},
		{"NODATA", func(i int) (string, uint16) { return benchName((i*4+1)%n) + ".", dns.TypeAAAA }},
		{"miss", func(i int) (string, uint16) {
			return fmt.Sprintf("nx%07d.rack%02d.dc1.example.com.", i, i%64), dns.TypeA
		}},
		{"PTR", func(i int) (string, uint16) {
			a := benchV4(i % n)
			return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", a[3], a[2], a[1], a[0]), dns.TypePTR
		}},
	}
}

func BenchmarkPlugins(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		records := benchHosts(n)
		handlers := []struct {
			name string
			h    plugin.Handler
		}{
			{"etcdhosts", benchEtcdHosts(b, records)},
			{"hosts", benchHostsPlugin(b, records)},
		}
		for _, kind := range benchKinds(n) {
			const distinct = 4096
			msgs := make([]*dns.Msg, distinct)
			for i := range msgs {
				name, qtype := kind.question(i * 7919 % n)
				msgs[i] = new(dns.Msg)
				msgs[i].SetQuestion(name, qtype)
			}
			for _, h := range handlers {
				checkReplies(b, h.name, h.h, kind.name, msgs)
				b.Run(fmt.Sprintf("%s/%dk/%s", h.name, n/1000, kind.name), func(b *testing.B) {
					w := &packWriter{buf: make([]byte, 0, 4096)}
					ctx := context.Background()
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						r := msgs[i&(distinct-1)]
						if rc, _ := h.h.ServeDNS(ctx, w, r); !plugin.ClientWrite(rc) {
							// dnsserver's errorAndMetricsFunc, less the metrics.
							answer := new(dns.Msg)
							answer.SetRcode(r, rc)
							w.WriteMsg(answer)
						}
					}
					b.StopTimer()
					if w.writes != b.N {
						b.Fatalf("%d replies written for %d queries", w.writes, b.N)
					}
				})
			}
		}
	}
}

// checkReplies fails the benchmark unless every question of a kind gets the reply that
// kind stands for, so that what is timed is a right answer and not a fast wrong one.
func checkReplies(b *testing.B, pluginName string, h plugin.Handler, kind string, msgs []*dns.Msg) {
	b.Helper()
	for _, r := range msgs {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		rc, err := h.ServeDNS(context.Background(), rec, r)
		if err != nil {
			b.Fatalf("%s %s %s: %v", pluginName, kind, r.Question[0].Name, err)
		}
		if kind == "miss" {
			// etcdhosts writes NXDOMAIN with an SOA; hosts returns SERVFAIL unwritten.
			if pluginName == "etcdhosts" && (rec.Msg == nil || rec.Msg.Rcode != dns.RcodeNameError || len(rec.Msg.Ns) != 1) {
				b.Fatalf("etcdhosts miss %s: want NXDOMAIN with an SOA, got %v", r.Question[0].Name, rec.Msg)
			}
			if pluginName == "hosts" && rc != dns.RcodeServerFailure {
				b.Fatalf("hosts miss %s: rcode %d", r.Question[0].Name, rc)
			}
			continue
		}
		if rec.Msg == nil || rec.Msg.Rcode != dns.RcodeSuccess {
			b.Fatalf("%s %s %s: want NOERROR, got %v (rcode %d)", pluginName, kind, r.Question[0].Name, rec.Msg, rc)
		}
		want := 1
		if kind == "NODATA" {
			want = 0
		}
		if (want == 0) != (len(rec.Msg.Answer) == 0) {
			b.Fatalf("%s %s %s: %d answers", pluginName, kind, r.Question[0].Name, len(rec.Msg.Answer))
		}
		for _, rr := range rec.Msg.Answer {
			if rr.Header().Rrtype != r.Question[0].Qtype {
				b.Fatalf("%s %s %s: answer of the wrong type: %v", pluginName, kind, r.Question[0].Name, rr)
			}
		}
	}
}
