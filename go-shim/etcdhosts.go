// Package etcdhosts is the CoreDNS side of etcdhosts: it serves a hosts file
// kept in etcd. The work (parsing, the lookup table, the etcd watch) is done by
// the Rust library behind include/etcdhosts.h; this package only adapts CoreDNS
// to it: one cgo call per query, then the reply is built here.
package etcdhosts

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"

	"github.com/miekg/dns"
)

// Constants of the synthesized SOA (the TTL, minimum and serial come from Rust).
const (
	soaRefresh = 7200
	soaRetry   = 1800
	soaExpire  = 86400
)

// stackBufLen is the size of the lookup buffer tried first; larger answers are
// retried with a heap buffer of the size Rust asks for.
const stackBufLen = 512

// EtcdHosts is the plugin handler.
type EtcdHosts struct {
	Next plugin.Handler
	Fall fall.F

	// Origins are the zones this block answers for (normalized, fully qualified).
	Origins []string
	zones   plugin.Zones
	// zonesEscaped: some zone has a backslash escape (see matchZone).
	zonesEscaped bool
	// soa holds the precomputed SOA names per zone: no allocation per negative answer.
	soa map[string]soaNames

	cfg    config
	h      *handle
	labels metricLabels
}

type soaNames struct {
	mname, rname string
}

func newSOANames(zone string) soaNames {
	if zone == "." {
		return soaNames{mname: "ns.dns.", rname: "hostmaster."}
	}
	return soaNames{mname: "ns.dns." + zone, rname: "hostmaster." + zone}
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
	qname := lowerName(r.Question[0].Name)
	qtype := r.Question[0].Qtype

	zone := e.matchZone(qname)
	if zone == "" && qtype != dns.TypePTR {
		// PTR queries are answered for any address in the table (Rust decides);
		// everything else outside our zones goes on regardless of fallthrough.
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}

	var stack [stackBufLen]byte
	buf := stack[:]
	st, n, ok := e.h.lookup(qname, qtype, buf)
	// The table may grow between two calls: retry a few times with what Rust asks for.
	for i := 0; ok && st == statusBufferTooSmall && i < 3; i++ {
		buf = make([]byte, n+n/4+64)
		st, n, ok = e.h.lookup(qname, qtype, buf)
	}
	if !ok {
		// Only between OnShutdown and the end of a reload's graceful stop.
		return dns.RcodeServerFailure, plugin.Error(pluginName, errClosed)
	}

	switch st {
	case statusAnswer, statusNoData, statusNXDomain, statusEmptyNonTerminal:
		if n < outHeaderLen || n > len(buf) {
			return e.fail(qname, qtype, fmt.Errorf("lookup returned %s with %d bytes", st, n))
		}
	case statusNotMine:
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	case statusBufferTooSmall:
		return e.fail(qname, qtype, fmt.Errorf("answer still does not fit after retries (%d bytes needed)", n))
	default:
		return e.fail(qname, qtype, fmt.Errorf("lookup returned %s", st))
	}

	ttl := binary.LittleEndian.Uint32(buf[0:4])
	serial := binary.LittleEndian.Uint32(buf[4:8])
	data := buf[outHeaderLen:n]

	// An empty non-terminal (names exist below it) is unknown to a hosts file, so
	// fallthrough takes it like an unknown name; without fallthrough it is NODATA.
	if (st == statusNXDomain || st == statusEmptyNonTerminal) && e.Fall.Through(qname) {
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}
	if st != statusAnswer && zone == "" {
		// A negative answer for a name outside our zones (only possible for PTR,
		// which Rust reports as NOT_MINE anyway): we have no SOA to give, pass it on.
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}

	// The owner name keeps the question's case (0x20-friendly); it is equal to qname.
	owner := r.Question[0].Name
	var m *dns.Msg
	switch st {
	case statusAnswer:
		var err error
		if m, err = buildReply(r, owner, qtype, ttl, data); err != nil {
			return e.fail(qname, qtype, err)
		}
	case statusNXDomain:
		m = e.negativeReply(r, zone, ttl, serial)
		m.Rcode = dns.RcodeNameError
	case statusNoData, statusEmptyNonTerminal:
		m = e.negativeReply(r, zone, ttl, serial)
	}

	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// lowerName is request.Request.Name (strings.ToLower(dns.Name(name).String()))
// without its cost for the names every query has: letters, digits, '-', '_' and
// '.' need no escaping, so only the case is changed (and nothing is allocated
// when the name is lowercase already). Any other byte takes CoreDNS's way.
func lowerName(name string) string {
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		case c >= 'A' && c <= 'Z':
			upper = true
		default:
			return strings.ToLower(dns.Name(name).String())
		}
	}
	if upper {
		return strings.ToLower(name)
	}
	return name
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

// negativeReply is NODATA (the caller sets NXDOMAIN) with the zone's SOA in authority.
func (e *EtcdHosts) negativeReply(r *dns.Msg, zone string, ttl, serial uint32) *dns.Msg {
	x := new(replySOA)
	m := x.init(r)
	e.fillSOA(&x.soa, zone, ttl, serial)
	x.rr[0] = &x.soa
	m.Ns = x.rr[:]
	return m
}

func (e *EtcdHosts) fillSOA(soa *dns.SOA, zone string, ttl, serial uint32) {
	names, ok := e.soa[zone]
	if !ok {
		names = newSOANames(zone)
	}
	soa.Hdr = dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl}
	soa.Ns = names.mname
	soa.Mbox = names.rname
	soa.Serial = serial
	soa.Refresh = soaRefresh
	soa.Retry = soaRetry
	soa.Expire = soaExpire
	soa.Minttl = ttl
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

// matchZone returns the longest of our zones that contains qname, or "": it is
// plugin.Zones.Matches without that function's two allocations per call
// (dns.Split). qname (from lowerName) and the zones are lowercase and fully
// qualified; a name or zone with a backslash escape takes plugin.Zones.Matches.
func (e *EtcdHosts) matchZone(qname string) string {
	if e.zonesEscaped || strings.IndexByte(qname, '\\') >= 0 {
		return e.zones.Matches(qname)
	}
	zone := ""
	for _, z := range e.zones {
		if len(z) > len(zone) && inZone(qname, z) {
			zone = z
		}
	}
	return zone
}

// inZone reports whether qname is zone or below it (label-aligned suffix).
func inZone(qname, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(qname, zone) {
		return false
	}
	n := len(qname) - len(zone)
	return n == 0 || qname[n-1] == '.'
}

// fail logs an unexpected lookup result and makes the server answer SERVFAIL.
func (e *EtcdHosts) fail(qname string, qtype uint16, err error) (int, error) {
	err = fmt.Errorf("%s %s: %w", qname, dns.Type(qtype), err)
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
