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
	"github.com/coredns/coredns/request"

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
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	qtype := state.QType()

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

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	// The owner name keeps the question's case (0x20-friendly); it is equal to qname.
	owner := r.Question[0].Name

	switch st {
	case statusAnswer:
		answers, err := buildAnswers(owner, qtype, ttl, data)
		if err != nil {
			return e.fail(qname, qtype, err)
		}
		m.Answer = answers
	case statusNXDomain:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{e.soaRecord(zone, ttl, serial)}
	case statusNoData, statusEmptyNonTerminal:
		m.Ns = []dns.RR{e.soaRecord(zone, ttl, serial)}
	}

	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// matchZone returns the longest of our zones that contains qname, or "": it is
// plugin.Zones.Matches without that function's two allocations per call
// (dns.Split). qname (from request.Name) and the zones are lowercase and fully
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

func (e *EtcdHosts) soaRecord(zone string, ttl, serial uint32) dns.RR {
	names, ok := e.soa[zone]
	if !ok {
		names = newSOANames(zone)
	}
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      names.mname,
		Mbox:    names.rname,
		Serial:  serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  ttl,
	}
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
