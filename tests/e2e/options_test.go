package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// etcdErrors returns coredns_etcdhosts_etcd_errors_total per key label.
func etcdErrors(t *testing.T, metricsURL string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range findMetrics(scrape(t, metricsURL, "coredns_etcdhosts_etcd_errors_total"), "coredns_etcdhosts_etcd_errors_total") {
		i := strings.Index(m.labels, `key="`)
		if i < 0 {
			continue
		}
		k := m.labels[i+5:]
		out[k[:strings.IndexByte(k, '"')]] = m.value
	}
	return out
}

// TestCredentials: etcd with authentication on; the right user and password
// read and watch the key, a wrong password gets nothing from etcd.
func TestCredentials(t *testing.T) {
	etcd := startEtcd(t)
	etcd.put(t, "/e2e/auth/hosts", "10.7.0.1 auth.example.org\n")
	etcd.put(t, "/e2e/auth/hosts2", "10.7.0.2 auth2.example.org\n")
	etcd.enableAuth(t, "coredns", "s3cret pw", "/e2e/auth/")
	if out, err := (&etcdServer{clientPort: etcd.clientPort, scheme: "http"}).ctl(t, "get", "/e2e/auth/hosts"); err == nil {
		t.Fatalf("etcd accepted an unauthenticated read: %s", out)
	}

	good, bad, metricsPort := freePort(t), freePort(t), freePort(t)
	goodAddr := fmt.Sprintf("127.0.0.1:%d", good)
	badAddr := fmt.Sprintf("127.0.0.1:%d", bad)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/auth/hosts
        endpoint %[3]s
        credentials coredns "s3cret pw"
    }
    prometheus 127.0.0.1:%[4]d
}
.:%[2]d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/auth/hosts2
        endpoint %[3]s
        credentials coredns wrong
        timeout 1s
    }
    prometheus 127.0.0.1:%[4]d
}
`, good, bad, etcd.url(), metricsPort), goodAddr, badAddr)

	waitFor(t, 10*time.Second, "authenticated read", func() (bool, string) {
		return answerIs(goodAddr, "auth.example.org.", dns.TypeA, "10.7.0.1")
	})
	etcd.put(t, "/e2e/auth/hosts", "10.7.0.11 auth.example.org\n")
	waitFor(t, 10*time.Second, "authenticated watch", func() (bool, string) {
		return answerIs(goodAddr, "auth.example.org.", dns.TypeA, "10.7.0.11")
	})

	waitFor(t, 15*time.Second, "etcd errors for the wrong password", func() (bool, string) {
		errs := etcdErrors(t, metricsURL)
		return errs["/e2e/auth/hosts2"] > 0, fmt.Sprint(errs)
	})
	if ok, why := rcodeIs(badAddr, "auth2.example.org.", dns.TypeA, dns.RcodeNameError); !ok {
		t.Fatalf("wrong password still served etcd data: %s", why)
	}
}

// TestTLS: etcd on https with client-certificate authentication.
func TestTLS(t *testing.T) {
	etcd := startTLSEtcd(t)
	etcd.put(t, "/e2e/tls", "10.8.0.1 tls.example.org\n")
	pki := etcd.tls
	good, noCert, wrongCA, metricsPort := freePort(t), freePort(t), freePort(t), freePort(t)
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	startCoreDNS(t, fmt.Sprintf(`
.:%[1]d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/tls
        endpoint %[4]s
        tls %[5]s %[6]s %[7]s
    }
    prometheus 127.0.0.1:%[9]d
}
.:%[2]d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/tls-nocert
        endpoint %[4]s
        tls %[7]s
        timeout 1s
    }
    prometheus 127.0.0.1:%[9]d
}
.:%[3]d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/tls-wrongca
        endpoint 127.0.0.1:%[10]d
        tls %[5]s %[6]s %[8]s
        timeout 1s
    }
    prometheus 127.0.0.1:%[9]d
}
`, good, noCert, wrongCA, etcd.url(), pki.clientCert, pki.clientKey, pki.ca, pki.otherCA, metricsPort, etcd.clientPort),
		addr(good), addr(noCert), addr(wrongCA))

	waitFor(t, 10*time.Second, "read over TLS", func() (bool, string) {
		return answerIs(addr(good), "tls.example.org.", dns.TypeA, "10.8.0.1")
	})
	etcd.put(t, "/e2e/tls", "10.8.0.2 tls.example.org\n")
	waitFor(t, 10*time.Second, "watch over TLS", func() (bool, string) {
		return answerIs(addr(good), "tls.example.org.", dns.TypeA, "10.8.0.2")
	})
	// Without a client certificate, or trusting the wrong CA: no data, errors counted.
	waitFor(t, 15*time.Second, "TLS errors without a client certificate and with the wrong CA", func() (bool, string) {
		errs := etcdErrors(t, metricsURL)
		return errs["/e2e/tls-nocert"] > 0 && errs["/e2e/tls-wrongca"] > 0, fmt.Sprint(errs)
	})
}

// stubUpstream is a local DNS server standing in for a public resolver: it
// answers A queries with 203.0.113.7 and NS queries for the root (forward's
// health checks) with NOERROR.
func stubUpstream(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var count atomic.Int64
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if q.Qtype == dns.TypeA && q.Name != "." {
			count.Add(1)
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A:   net.ParseIP("203.0.113.7").To4(),
			}}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return addr, &count
}

// TestOperatorCorefile: the operator's production Corefile, with 127.0.0.1 and
// free ports for every address, a local stub for the upstream resolver, and of
// the three etcd endpoints only the second is a real (TLS) etcd: nothing listens
// on the first and the third, as when two members are down.
func TestOperatorCorefile(t *testing.T) {
	etcd := startTLSEtcd(t)
	etcd.put(t, "/etcdhosts", "10.10.0.1 op.example.org\n10.10.0.2 op2.example.org\n")
	upstream, upstreamQueries := stubUpstream(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dead1, dead2 := freePort(t), freePort(t)
	pki := etcd.tls
	corefile := `
.:PORT {
    bind 127.0.0.1
    cache 30 . {
        success 4096
    }
    etcdhosts . {
        fallthrough .
        key /etcdhosts
        timeout 5s
        tls CERT KEY CA
        endpoint https://127.0.0.1:DEAD1 https://127.0.0.1:ETCD https://127.0.0.1:DEAD2
    }
    forward . UPSTREAM {
        max_fails 2
        expire 20s
        policy random
        health_check 0.2s
    }
    errors
    log . "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}"
}
`
	corefile = strings.NewReplacer(
		"PORT", fmt.Sprint(port), "CERT", pki.clientCert, "KEY", pki.clientKey, "CA", pki.ca,
		"ETCD", fmt.Sprint(etcd.clientPort), "DEAD1", fmt.Sprint(dead1), "DEAD2", fmt.Sprint(dead2),
		"UPSTREAM", upstream,
	).Replace(corefile)
	c := startCoreDNS(t, corefile, addr)

	// The cache in front would keep a forwarded answer to a name asked before etcd's data
	// arrived: wait for the plugin to say what it serves, then ask.
	servingRecords := func(n int) func() (bool, string) {
		return func() (bool, string) {
			line := fmt.Sprintf("serving %d records", n)
			return strings.Contains(c.output(), line), "no log line " + line
		}
	}
	waitFor(t, 15*time.Second, "etcd data", servingRecords(2))
	if ok, got := answerIs(addr, "op.example.org.", dns.TypeA, "10.10.0.1"); !ok {
		t.Fatalf("op: %s", got)
	}
	r := query(t, addr, "udp", "op2.example.org.", dns.TypeA)
	if !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("op2: %v", r)
	}
	// Unknown names fall through to forward and the (stub) upstream.
	r = query(t, addr, "udp", "www.unknown-upstream.test.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(addrs(r)) != 1 || addrs(r)[0] != "203.0.113.7" {
		t.Fatalf("forwarded answer: %v", r)
	}
	if upstreamQueries.Load() == 0 {
		t.Fatal("the stub upstream saw no query")
	}
	// The cache answers the second time.
	before := upstreamQueries.Load()
	query(t, addr, "tcp", "www.unknown-upstream.test.", dns.TypeA)
	if upstreamQueries.Load() != before {
		t.Errorf("second query not served from cache")
	}
	// An update reaches this server through TLS (cache in front: ask a fresh name, once
	// the update is served).
	etcd.put(t, "/etcdhosts", "10.10.0.1 op.example.org\n10.10.0.2 op2.example.org\n10.10.0.3 op3.example.org\n")
	waitFor(t, 10*time.Second, "update", servingRecords(3))
	if ok, got := answerIs(addr, "op3.example.org.", dns.TypeA, "10.10.0.3"); !ok {
		t.Fatalf("op3: %s", got)
	}
	// The log plugin writes the operator's format.
	waitFor(t, 5*time.Second, "a query log line", func() (bool, string) {
		out := c.output()
		return strings.Contains(out, `"A IN op.example.org. udp `) && strings.Contains(out, "127.0.0.1:"), tail(out, 2000)
	})
}
