package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// coreDNS is one running CoreDNS built by build.sh.
type coreDNS struct {
	dir      string
	corefile string
	proc     *proc
}

// startCoreDNS writes corefile to a temp dir, starts CoreDNS on it and waits
// until every address in waitAddrs answers a DNS query (any answer).
func startCoreDNS(t testing.TB, corefile string, waitAddrs ...string) *coreDNS {
	t.Helper()
	c := &coreDNS{dir: t.TempDir()}
	c.corefile = filepath.Join(c.dir, "Corefile")
	if err := os.WriteFile(c.corefile, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	c.proc = startProc(t, "coredns", nil, c.dir, corednsBin, "-conf", c.corefile)
	for _, addr := range waitAddrs {
		c.waitServing(t, addr)
	}
	return c
}

// waitServing waits until addr answers DNS over UDP (whatever the rcode).
func (c *coreDNS) waitServing(t testing.TB, addr string) {
	t.Helper()
	waitFor(t, 20*time.Second, "CoreDNS to serve on "+addr, func() (bool, string) {
		if c.proc.exited() {
			t.Fatalf("CoreDNS exited: %v\n%s", c.proc.err, tail(c.proc.out.String(), 4000))
		}
		_, err := exchange(addr, "udp", "serving.probe.", dns.TypeA)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func (c *coreDNS) output() string { return c.proc.out.String() }

// exchange sends one query (RD set, like a stub resolver) and returns the reply.
func exchange(addr, network, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	cl := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := cl.Exchange(m, addr)
	return r, err
}

// query is exchange that fails the test on a transport error.
func query(t testing.TB, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := exchange(addr, network, name, qtype)
	if err != nil {
		t.Fatalf("query %s %s over %s to %s: %v", name, dns.Type(qtype), network, addr, err)
	}
	return r
}

// addrs returns the A/AAAA addresses in the answer section, in order.
func addrs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.PTR:
			out = append(out, v.Ptr)
		}
	}
	return out
}

// answerIs reports whether name/qtype currently resolves to exactly want
// (order-insensitive) with NOERROR; the string explains a mismatch.
func answerIs(addr, name string, qtype uint16, want ...string) (bool, string) {
	r, err := exchange(addr, "udp", name, qtype)
	if err != nil {
		return false, err.Error()
	}
	got := addrs(r)
	if r.Rcode != dns.RcodeSuccess || !sameSet(got, want) {
		return false, fmt.Sprintf("%s %s: rcode %s answer %v, want %v", name, dns.Type(qtype), dns.RcodeToString[r.Rcode], got, want)
	}
	return true, ""
}

// rcodeIs reports whether name/qtype currently gets rcode.
func rcodeIs(addr, name string, qtype uint16, rcode int) (bool, string) {
	r, err := exchange(addr, "udp", name, qtype)
	if err != nil {
		return false, err.Error()
	}
	if r.Rcode != rcode {
		return false, fmt.Sprintf("%s %s: rcode %s answer %v, want %s", name, dns.Type(qtype), dns.RcodeToString[r.Rcode], addrs(r), dns.RcodeToString[rcode])
	}
	return true, ""
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
		if m[x] < 0 {
			return false
		}
	}
	return true
}

// httpGet returns the status code and body of a GET to url.
func httpGet(url string) (int, string, error) {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metric is one sample of a Prometheus text exposition.
type metric struct {
	name   string
	labels string
	value  float64
}

// scrape returns the samples whose name starts with prefix.
func scrape(t testing.TB, url, prefix string) []metric {
	t.Helper()
	code, body, err := httpGet(url)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	var out []metric
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("bad metric line %q", line)
		}
		name, labels := line[:sp], ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		out = append(out, metric{name: name, labels: labels, value: v})
	}
	return out
}

func findMetrics(ms []metric, name string) []metric {
	var out []metric
	for _, m := range ms {
		if m.name == name {
			out = append(out, m)
		}
	}
	return out
}
