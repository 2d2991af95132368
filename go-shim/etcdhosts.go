// Package etcdhosts is the CoreDNS side of etcdhosts: it serves a hosts file
// kept in etcd. The work (the config, the lookup table, zones, the SOA, the etcd
// watch) is done by the Rust library behind include/etcdhosts.h; this package
// only adapts CoreDNS to it: one cgo call per query, then the reply is built
// here from what Rust returned.
package etcdhosts

import (
	"context"
	"fmt"
	"net"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"

	"github.com/miekg/dns"
)

// stackBufLen is the size of the lookup buffer tried first; larger answers are
// retried with a heap buffer of the size Rust asks for.
const stackBufLen = 512

// EtcdHosts is the plugin handler.
type EtcdHosts struct {
	Next plugin.Handler
	Fall fall.F

	// block is the Corefile block as Rust reads it, checked; OnStartup starts it.
	block  []byte
	h      *handle
	labels metricLabels
}

// Name implements plugin.Handler.
func (e *EtcdHosts) Name() string { return pluginName }

// Ready implements the ready plugin's Readiness interface: true once the first
// full read (from etcd or from the snapshot file) succeeded.
func (e *EtcdHosts) Ready() bool {
	s, err := e.h.stats()
	return err == nil && s.Ready
}

// ServeDNS implements plugin.Handler.
func (e *EtcdHosts) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) == 0 {
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}
	q := r.Question[0]

	var stack [stackBufLen]byte
	buf := stack[:]
	st, a, ok := e.h.lookup(q.Name, q.Qtype, buf)
	// The table may grow between two calls: retry a few times with what Rust asks for.
	for i := 0; ok && st == statusBufferTooSmall && i < 3; i++ {
		buf = make([]byte, a.len+a.len/4+64)
		st, a, ok = e.h.lookup(q.Name, q.Qtype, buf)
	}
	if !ok {
		// Only between OnShutdown and the end of a reload's graceful stop.
		return dns.RcodeServerFailure, plugin.Error(pluginName, errClosed)
	}

	switch st {
	case statusNotMine:
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	case statusNXDomain, statusEmptyNonTerminal:
		// An empty non-terminal (names exist below it) is unknown to a hosts file, so
		// fallthrough takes it like an unknown name; without fallthrough it is NODATA.
		if e.Fall.Through(q.Name) {
			return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
		}
	case statusAnswer, statusNoData:
	case statusBufferTooSmall:
		return e.fail(q, fmt.Errorf("answer still does not fit after retries (%d bytes needed)", a.len))
	default:
		return e.fail(q, fmt.Errorf("lookup returned %s", st))
	}

	var m *dns.Msg
	if st == statusAnswer {
		if a.len > len(buf) {
			return e.fail(q, fmt.Errorf("lookup returned %d bytes in a buffer of %d", a.len, len(buf)))
		}
		// The owner name keeps the question's case (0x20-friendly).
		var err error
		if m, err = buildReply(r, q.Name, q.Qtype, a.ttl, buf[:a.len]); err != nil {
			return e.fail(q, err)
		}
	} else {
		if a.zone == nil {
			return e.fail(q, fmt.Errorf("lookup returned %s without a zone", st))
		}
		m = negativeReply(r, a)
		if st == statusNXDomain {
			m.Rcode = dns.RcodeNameError
		}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// The replies are built in one allocation each (two for PTR) rather than one per
// message, question, slice, record and address: the message, its question and
// answer or authority slice and the usual single record live in one struct. Each
// reply is new: CoreDNS plugins above this one (cache, metrics, log) may keep the
// message or its records after ServeDNS returns, so nothing here is pooled.

// replyBase holds a reply's message with room for its question and one record.
type replyBase struct {
	msg dns.Msg
	q   [1]dns.Question
	rr  [1]dns.RR
}

// init makes b.msg the reply to r, like dns.Msg.SetReply with the question
// copied into b.q, and authoritative.
func (b *replyBase) init(r *dns.Msg) *dns.Msg {
	m := &b.msg
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	if m.Opcode == dns.OpcodeQuery {
		m.RecursionDesired = r.RecursionDesired
		m.CheckingDisabled = r.CheckingDisabled
	}
	m.Rcode = dns.RcodeSuccess
	b.q[0] = r.Question[0]
	m.Question = b.q[:]
	m.Authoritative = true
	return m
}

type replyA struct {
	replyBase
	a  dns.A
	ip [net.IPv4len]byte
}

type replyAAAA struct {
	replyBase
	aaaa dns.AAAA
	ip   [net.IPv6len]byte
}

type replyPTR struct {
	replyBase
	ptr dns.PTR
}

type replySOA struct {
	replyBase
	soa dns.SOA
}

// negativeReply is NODATA (the caller sets NXDOMAIN) with the zone's SOA in
// authority, every field of it as Rust returned it.
func negativeReply(r *dns.Msg, a answer) *dns.Msg {
	x := new(replySOA)
	m := x.init(r)
	x.soa = dns.SOA{
		Hdr:     dns.RR_Header{Name: a.zone.name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: a.ttl},
		Ns:      a.zone.mname,
		Mbox:    a.zone.rname,
		Serial:  a.soa.serial,
		Refresh: a.soa.refresh,
		Retry:   a.soa.retry,
		Expire:  a.soa.expire,
		Minttl:  a.soa.minimum,
	}
	x.rr[0] = &x.soa
	m.Ns = x.rr[:]
	return m
}

// buildReply is the positive reply to r: one allocation for a single A or AAAA
// record, two for a single PTR (the name), otherwise the message plus the records of buildAnswers.
func buildReply(r *dns.Msg, owner string, qtype uint16, ttl uint32, data []byte) (*dns.Msg, error) {
	hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	switch {
	case qtype == dns.TypeA && len(data) == net.IPv4len:
		x := new(replyA)
		m := x.init(r)
		copy(x.ip[:], data)
		x.a = dns.A{Hdr: hdr, A: net.IP(x.ip[:])}
		x.rr[0] = &x.a
		m.Answer = x.rr[:]
		return m, nil
	case qtype == dns.TypeAAAA && len(data) == net.IPv6len:
		x := new(replyAAAA)
		m := x.init(r)
		copy(x.ip[:], data)
		x.aaaa = dns.AAAA{Hdr: hdr, AAAA: net.IP(x.ip[:])}
		x.rr[0] = &x.aaaa
		m.Answer = x.rr[:]
		return m, nil
	case qtype == dns.TypePTR && len(data) > 1 && int(data[0]) == len(data)-1:
		x := new(replyPTR)
		m := x.init(r)
		x.ptr = dns.PTR{Hdr: hdr, Ptr: dns.Fqdn(string(data[1:]))}
		x.rr[0] = &x.ptr
		m.Answer = x.rr[:]
		return m, nil
	}
	answers, err := buildAnswers(owner, qtype, ttl, data)
	if err != nil {
		return nil, err
	}
	x := new(replyBase)
	m := x.init(r)
	m.Answer = answers
	return m, nil
}

// fail logs an unexpected lookup result and makes the server answer SERVFAIL.
func (e *EtcdHosts) fail(q dns.Question, err error) (int, error) {
	err = fmt.Errorf("%s %s: %w", q.Name, dns.Type(q.Qtype), err)
	log.Error(err)
	return dns.RcodeServerFailure, plugin.Error(pluginName, err)
}

// buildAnswers decodes the records Rust wrote after the header: A = n*4 bytes,
// AAAA = n*16 bytes, PTR = a sequence of (u8 length, name). Each type uses one
// slab of records and one copy of the address bytes.
func buildAnswers(owner string, qtype uint16, ttl uint32, data []byte) ([]dns.RR, error) {
	hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		size := net.IPv4len
		if qtype == dns.TypeAAAA {
			size = net.IPv6len
		}
		if len(data) == 0 || len(data)%size != 0 {
			return nil, fmt.Errorf("malformed %s answer of %d bytes", dns.Type(qtype), len(data))
		}
		count := len(data) / size
		ips := make([]byte, len(data))
		copy(ips, data)
		answers := make([]dns.RR, count)
		if qtype == dns.TypeA {
			rrs := make([]dns.A, count)
			for i := range rrs {
				rrs[i].Hdr = hdr
				rrs[i].A = net.IP(ips[i*size : (i+1)*size : (i+1)*size])
				answers[i] = &rrs[i]
			}
		} else {
			rrs := make([]dns.AAAA, count)
			for i := range rrs {
				rrs[i].Hdr = hdr
				rrs[i].AAAA = net.IP(ips[i*size : (i+1)*size : (i+1)*size])
				answers[i] = &rrs[i]
			}
		}
		return answers, nil
	case dns.TypePTR:
		count := 0
		for i := 0; i < len(data); count++ {
			l := int(data[i])
			if l == 0 || i+1+l > len(data) {
				return nil, fmt.Errorf("malformed PTR answer at byte %d", i)
			}
			i += 1 + l
		}
		if count == 0 {
			return nil, fmt.Errorf("empty PTR answer")
		}
		rrs := make([]dns.PTR, count)
		answers := make([]dns.RR, count)
		for i, k := 0, 0; i < len(data); k++ {
			l := int(data[i])
			rrs[k].Hdr = hdr
			rrs[k].Ptr = dns.Fqdn(string(data[i+1 : i+1+l]))
			answers[k] = &rrs[k]
			i += 1 + l
		}
		return answers, nil
	}
	return nil, fmt.Errorf("ANSWER for unsupported type %s", dns.Type(qtype))
}
