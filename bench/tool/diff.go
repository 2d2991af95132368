package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// diffCmd sends the same random queries to server A (etcdhosts) and server B (the
// hosts plugin) holding the same records, and compares rcode and RRsets. Names
// are compared case-insensitively (etcdhosts keeps the question's case in the
// owner name, hosts lowercases it). Differences are classified: the documented
// ones are counted, any other is listed.
func diffCmd(args []string) error {
	fs := flag.NewFlagSet("diff", flag.ExitOnError)
	a := fs.String("a", "", "server A host:port (etcdhosts)")
	b := fs.String("b", "", "server B host:port (hosts plugin)")
	n := fs.Int("n", 100000, "queries")
	names := fs.Int("names", 1000, "names in the record set made by gen")
	workers := fs.Int("workers", 16, "queries in flight")
	seed := fs.Int64("seed", 7, "random seed")
	fs.Parse(args)
	for _, s := range []string{*a, *b} {
		if err := loopbackOnly(s); err != nil {
			return err
		}
	}

	type query struct {
		name  string
		qtype uint16
		cat   string
	}
	r := rand.New(rand.NewSource(*seed))
	randCase := func(s string) string {
		if r.Intn(10) != 0 {
			return s
		}
		b := []byte(s)
		for i := range b {
			if b[i] >= 'a' && b[i] <= 'z' && r.Intn(2) == 0 {
				b[i] -= 'a' - 'A'
			}
		}
		return string(b)
	}
	fwdTypes := []uint16{dns.TypeA, dns.TypeA, dns.TypeA, dns.TypeAAAA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT,
		dns.TypeSRV, dns.TypeNS, dns.TypeSOA, dns.TypeCNAME, dns.TypeANY, dns.TypePTR, dns.TypeHTTPS}
	qs := make([]query, *n)
	for k := range qs {
		var q query
		x := r.Intn(100)
		switch {
		case x < 55: // existing names
			i := r.Intn(*names)
			q = query{recName(i), fwdTypes[r.Intn(len(fwdTypes))], "existing name"}
		case x < 67: // unknown names in the zone
			i := r.Intn(10000000)
			q = query{fmt.Sprintf("nx%07d.rack%02d.dc1.%s", i, i%64, zone), fwdTypes[r.Intn(len(fwdTypes))], "unknown name"}
		case x < 71: // empty non-terminals and the apex
			choices := []string{fmt.Sprintf("rack%02d.dc1.%s", r.Intn(64), zone), "dc1." + zone, zone}
			q = query{choices[r.Intn(len(choices))], fwdTypes[r.Intn(len(fwdTypes))], "empty non-terminal or apex"}
		case x < 74: // outside the zone
			q = query{fmt.Sprintf("host%d.example.net", r.Intn(1000)), dns.TypeA, "outside the zone"}
		case x < 86: // PTR of an existing IPv4 address
			q = query{v4Reverse(recV4(r.Intn(*names))), dns.TypePTR, "PTR hit v4"}
		case x < 90: // PTR of an existing IPv6 address
			i := r.Intn(*names) &^ 3
			rev, _ := dns.ReverseAddr(recV6(i))
			q = query{strings.TrimSuffix(rev, "."), dns.TypePTR, "PTR hit v6"}
		case x < 95: // PTR of an unknown address
			q = query{fmt.Sprintf("%d.%d.254.10.in-addr.arpa", r.Intn(256), r.Intn(256)), dns.TypePTR, "PTR unknown"}
		default: // other types on reverse names
			q = query{v4Reverse(recV4(r.Intn(*names))), fwdTypes[r.Intn(len(fwdTypes))], "reverse name, any type"}
		}
		q.name = dns.Fqdn(randCase(q.name))
		qs[k] = q
	}

	type result struct {
		same   bool
		class  string
		detail string
	}
	results := make([]result, len(qs))
	var wg sync.WaitGroup
	next := make(chan int, 1024)
	errs := make(chan error, *workers)
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := dialUDP(*a)
			if err != nil {
				errs <- err
				return
			}
			defer ca.conn.Close()
			cb, err := dialUDP(*b)
			if err != nil {
				errs <- err
				return
			}
			defer cb.conn.Close()
			for k := range next {
				q := qs[k]
				ra, erra := ca.ask(q.name, q.qtype)
				rb, errb := cb.ask(q.name, q.qtype)
				results[k] = compare(ra, erra, rb, errb)
			}
		}()
	}
	for k := range qs {
		if time.Since(start) > 10*time.Minute {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	elapsed := time.Since(start)

	identical := 0
	classes := map[string]int{}
	classCats := map[string]map[string]int{}
	var undocumented []string
	for k, res := range results {
		if res.same {
			identical++
			continue
		}
		classes[res.class]++
		if classCats[res.class] == nil {
			classCats[res.class] = map[string]int{}
		}
		classCats[res.class][qs[k].cat+" "+dns.Type(qs[k].qtype).String()]++
		if res.class == classOther && len(undocumented) < 20 {
			undocumented = append(undocumented, fmt.Sprintf("%s %s: %s", qs[k].name, dns.Type(qs[k].qtype), res.detail))
		}
	}
	fmt.Printf("differential: %d queries in %.1fs, %d identical, %d differ\n", len(qs), elapsed.Seconds(), identical, len(qs)-identical)
	cls := make([]string, 0, len(classes))
	for c := range classes {
		cls = append(cls, c)
	}
	sort.Strings(cls)
	for _, c := range cls {
		fmt.Printf("  %7d  %s\n", classes[c], c)
		cats := make([]string, 0)
		for k := range classCats[c] {
			cats = append(cats, k)
		}
		sort.Strings(cats)
		for _, k := range cats {
			fmt.Printf("           %6d  %s\n", classCats[c][k], k)
		}
	}
	for _, u := range undocumented {
		fmt.Println("  UNDOCUMENTED:", u)
	}
	fmt.Printf("differential_undocumented=%d\n", classes[classOther])
	if classes[classOther] > 0 {
		os.Exit(3)
	}
	return nil
}

const (
	classNX     = "documented: etcdhosts NXDOMAIN + SOA, hosts SERVFAIL (unknown name)"
	classENT    = "documented: etcdhosts NODATA + SOA, hosts SERVFAIL (name without records but with names below it, or the apex)"
	classNODATA = "documented: NODATA, etcdhosts adds the SOA in authority"
	classOther  = "UNDOCUMENTED"
)

type udpClient struct {
	c    *dns.Client
	conn *dns.Conn
}

func dialUDP(addr string) (*udpClient, error) {
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		return nil, err
	}
	return &udpClient{c, conn}, nil
}

func (u *udpClient) ask(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	var r *dns.Msg
	var err error
	for try := 0; try < 3; try++ {
		r, _, err = u.c.ExchangeWithConn(m, u.conn)
		if err == nil {
			return r, nil
		}
	}
	return nil, err
}

func rrset(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.ToLower(rr.String()))
	}
	sort.Strings(out)
	return out
}

func hasSOA(rrs []dns.RR) bool {
	return len(rrs) == 1 && rrs[0].Header().Rrtype == dns.TypeSOA
}

func compare(a *dns.Msg, erra error, b *dns.Msg, errb error) (res struct {
	same   bool
	class  string
	detail string
}) {
	if erra != nil || errb != nil {
		res.class = classOther
		res.detail = fmt.Sprintf("errors: etcdhosts %v, hosts %v", erra, errb)
		return
	}
	ansA, ansB := rrset(a.Answer), rrset(b.Answer)
	nsA, nsB := rrset(a.Ns), rrset(b.Ns)
	sameAns := strings.Join(ansA, "\n") == strings.Join(ansB, "\n")
	sameNs := strings.Join(nsA, "\n") == strings.Join(nsB, "\n")
	if a.Rcode == b.Rcode && sameAns && sameNs && a.Authoritative == b.Authoritative {
		res.same = true
		return
	}
	switch {
	case a.Rcode == dns.RcodeNameError && b.Rcode == dns.RcodeServerFailure && len(a.Answer) == 0 && hasSOA(a.Ns):
		res.class = classNX
	case a.Rcode == dns.RcodeSuccess && b.Rcode == dns.RcodeServerFailure && len(a.Answer) == 0 && hasSOA(a.Ns):
		res.class = classENT
	case a.Rcode == dns.RcodeSuccess && b.Rcode == dns.RcodeSuccess && sameAns && len(ansA) == 0 && hasSOA(a.Ns) && len(b.Ns) == 0:
		res.class = classNODATA
	default:
		res.class = classOther
		res.detail = fmt.Sprintf("etcdhosts %s aa=%v an=%q ns=%q | hosts %s aa=%v an=%q ns=%q",
			dns.RcodeToString[a.Rcode], a.Authoritative, ansA, nsA, dns.RcodeToString[b.Rcode], b.Authoritative, ansB, nsB)
	}
	return
}
