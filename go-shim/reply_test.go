package etcdhosts

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// The one-allocation replies carry the same header, question and records as
// dns.Msg.SetReply would, for every reply shape.
func TestReplyShapes(t *testing.T) {
	e := newOffline(t, `etcdhosts example.org {
	10.0.0.1 one.example.org
	fd00::1 one.example.org
	10.0.0.5 single.example.org
	ttl 300
}`)
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string
		ns     bool
	}{
		{"one.example.org.", dns.TypeA, dns.RcodeSuccess, "one.example.org.\t300\tIN\tA\t10.0.0.1", false},
		{"ONE.example.org.", dns.TypeAAAA, dns.RcodeSuccess, "ONE.example.org.\t300\tIN\tAAAA\tfd00::1", false},
		{"5.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "5.0.0.10.in-addr.arpa.\t300\tIN\tPTR\tsingle.example.org.", false},
		{"single.example.org.", dns.TypeAAAA, dns.RcodeSuccess, "", true},
		{"nope.example.org.", dns.TypeA, dns.RcodeNameError, "", true},
	} {
		q := new(dns.Msg)
		q.SetQuestion(tc.name, tc.qtype)
		q.Id = 4242
		q.CheckingDisabled = true
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := e.ServeDNS(context.Background(), rec, q); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := rec.Msg
		if m == nil {
			t.Fatalf("%s: no reply", tc.name)
		}
		want := new(dns.Msg)
		want.SetReply(q)
		if m.Response != want.Response || m.Opcode != want.Opcode || !m.Authoritative || m.Rcode != tc.rcode ||
			len(m.Question) != 1 || m.Question[0] != q.Question[0] || m.Id != want.Id ||
			m.RecursionDesired != want.RecursionDesired || m.CheckingDisabled != want.CheckingDisabled {
			t.Errorf("%s: header/question %+v", tc.name, m.MsgHdr)
		}
		got := ""
		if len(m.Answer) == 1 {
			got = m.Answer[0].String()
		}
		if got != tc.answer || len(m.Answer) > 1 {
			t.Errorf("%s: answer %v, want %q", tc.name, m.Answer, tc.answer)
		}
		if tc.ns != (len(m.Ns) == 1) {
			t.Errorf("%s: authority %v", tc.name, m.Ns)
		}
		if _, err := m.Pack(); err != nil {
			t.Errorf("%s: pack: %v", tc.name, err)
		}
	}
}
