package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// putToAnswer measures one update end to end: the clock starts before the put is
// sent to etcd (an HTTP request to etcd's JSON gateway from this process) and stops
// when a DNS answer with the new address arrives. A poller asks CoreDNS back to back
// over one UDP socket, with no pause between queries, from before the put until the
// answer changes; so the figure includes etcd's commit, the watch, the table build
// and one DNS round trip, and its resolution is one DNS round trip.
// It returns the latency, how long etcd took to acknowledge the put, and the number
// of queries the poller sent meanwhile.
func putToAnswer(t *testing.T, gw *etcdGW, endpoint, key, addr, name, want string, deadline time.Duration) (lat, ack time.Duration, polls int) {
	t.Helper()
	cl := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	co, err := cl.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	type seen struct {
		at    time.Time
		polls int
		err   error
	}
	start := make(chan time.Time)
	done := make(chan seen, 1)
	go func() {
		t0 := <-start
		for polls := 1; ; polls++ {
			r, _, err := cl.ExchangeWithConn(m, co)
			now := time.Now()
			if err != nil {
				done <- seen{err: err}
				return
			}
			got := addrs(r)
			if r.Rcode == dns.RcodeSuccess && len(got) == 1 && got[0] == want {
				done <- seen{at: now, polls: polls}
				return
			}
			if now.Sub(t0) > deadline {
				done <- seen{err: fmt.Errorf("%s still answers %v after %v", name, got, deadline)}
				return
			}
		}
	}()
	t0 := time.Now()
	start <- t0
	if _, err := gw.put(endpoint, key, want+" "+strings.TrimSuffix(name, ".")+"\n"); err != nil {
		t.Fatalf("put: %v", err)
	}
	ack = time.Since(t0)
	s := <-done
	if s.err != nil {
		t.Fatalf("waiting for %s = %s: %v", name, want, s.err)
	}
	return s.at.Sub(t0), ack, s.polls
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// TestUpdates: a put changes the answer (latency measured), a delete empties the
// table but keeps the inline records, the SOA serial follows the revision, and
// the metrics and readiness report it.
func TestUpdates(t *testing.T) {
	etcd := startEtcd(t)
	port, metricsPort, readyPort := freePort(t), freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        10.9.9.9 inline.example.org
        key /e2e/update
        endpoint %s
        ttl 60
    }
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d
}
`, port, etcd.url(), metricsPort, readyPort), addr)

	// The key does not exist yet: only the inline record, and ready (the read succeeded).
	if ok, why := answerIs(addr, "inline.example.org.", dns.TypeA, "10.9.9.9"); !ok {
		t.Fatal(why)
	}
	if ok, why := rcodeIs(addr, "u.example.org.", dns.TypeA, dns.RcodeNameError); !ok {
		t.Fatal(why)
	}
	waitFor(t, 10*time.Second, "/ready", func() (bool, string) {
		code, body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort))
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})

	// put -> answer latency: from before the put is sent until the first answer with
	// the new address (see putToAnswer).
	gw := newGW(5*time.Second, nil)
	var lat, acks []time.Duration
	var total time.Duration
	polls := 0
	for i := 1; i <= 50; i++ {
		want := fmt.Sprintf("10.1.0.%d", i)
		d, ack, n := putToAnswer(t, gw, etcd.url(), "/e2e/update", addr, "u.example.org.", want, 10*time.Second)
		lat, acks = append(lat, d), append(acks, ack)
		total += d
		polls += n
	}
	p50 := percentile(lat, 0.5)
	t.Logf("put->answer latency over %d puts (clock started before the put was sent): min %v p50 %v p90 %v max %v; etcd acknowledged the put after p50 %v; DNS polled back to back, one query every %v on average",
		len(lat), percentile(lat, 0).Round(time.Microsecond), p50.Round(time.Microsecond), percentile(lat, 0.9).Round(time.Microsecond),
		percentile(lat, 1).Round(time.Microsecond), percentile(acks, 0.5).Round(time.Microsecond), (total / time.Duration(polls)).Round(time.Microsecond))
	// README: "every CoreDNS sees the change ... within milliseconds".
	if p50 > 50*time.Millisecond {
		t.Errorf("median put->answer latency %v, want < 50 ms", p50)
	}

	// The NXDOMAIN serial is the revision being served.
	rev := etcd.put(t, "/e2e/update", "10.1.1.1 u.example.org\n10.1.1.2 v.example.org\n")
	waitFor(t, 10*time.Second, "second put", func() (bool, string) {
		return answerIs(addr, "v.example.org.", dns.TypeA, "10.1.1.2")
	})
	r := query(t, addr, "udp", "nope.example.org.", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || int64(r.Ns[0].(*dns.SOA).Serial) != rev {
		t.Fatalf("NXDOMAIN after put at revision %d: %v", rev, r)
	}

	// Metrics, read at scrape time.
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	waitFor(t, 10*time.Second, "metrics to show the revision", func() (bool, string) {
		ms := scrape(t, metricsURL, "coredns_etcdhosts_")
		rv := findMetrics(ms, "coredns_etcdhosts_revision")
		return len(rv) == 1 && int64(rv[0].value) == rev, fmt.Sprint(ms)
	})
	ms := scrape(t, metricsURL, "coredns_etcdhosts_")
	for _, name := range []string{"coredns_etcdhosts_entries", "coredns_etcdhosts_reloads_total",
		"coredns_etcdhosts_reload_timestamp_seconds", "coredns_etcdhosts_invalid_lines",
		"coredns_etcdhosts_etcd_errors_total", "coredns_etcdhosts_watch_connected"} {
		got := findMetrics(ms, name)
		if len(got) != 1 {
			t.Fatalf("%s: %v", name, got)
		}
		if !strings.Contains(got[0].labels, fmt.Sprintf(`server="dns://127.0.0.1:%d"`, port)) ||
			!strings.Contains(got[0].labels, `zones="example.org."`) || !strings.Contains(got[0].labels, `key="/e2e/update"`) {
			t.Errorf("%s labels %s", name, got[0].labels)
		}
		switch name {
		case "coredns_etcdhosts_entries":
			if got[0].value < 3 {
				t.Errorf("entries %v, want >= 3 (u, v, inline)", got[0].value)
			}
		case "coredns_etcdhosts_reloads_total":
			if got[0].value < 51 {
				t.Errorf("reloads_total %v after 51 puts", got[0].value)
			}
		case "coredns_etcdhosts_watch_connected":
			if got[0].value != 1 {
				t.Errorf("watch_connected %v", got[0].value)
			}
		case "coredns_etcdhosts_reload_timestamp_seconds":
			if d := time.Since(time.Unix(int64(got[0].value), 0)); d < -time.Minute || d > time.Minute {
				t.Errorf("reload timestamp %v is %v away from now", got[0].value, d)
			}
		}
	}

	// Invalid lines are skipped, counted and logged with their line number.
	etcd.put(t, "/e2e/update", "10.1.1.1 u.example.org\n# comment\n10.1.1.300 bad.example.org\n10.1.1.3 w.example.org\n")
	waitFor(t, 10*time.Second, "the put with an invalid line", func() (bool, string) {
		return answerIs(addr, "w.example.org.", dns.TypeA, "10.1.1.3")
	})
	waitFor(t, 5*time.Second, "invalid_lines 1", func() (bool, string) {
		il := findMetrics(scrape(t, metricsURL, "coredns_etcdhosts_invalid_lines"), "coredns_etcdhosts_invalid_lines")
		return len(il) == 1 && il[0].value == 1, fmt.Sprint(il)
	})
	waitFor(t, 5*time.Second, "a warning naming line 3", func() (bool, string) {
		for _, line := range strings.Split(c.output(), "\n") {
			if strings.HasPrefix(line, "[WARNING] plugin/etcdhosts: ") && strings.Contains(line, "line 3") {
				return true, ""
			}
		}
		return false, tail(c.output(), 2000)
	})

	// Delete: the etcd records go, the inline ones stay.
	etcd.del(t, "/e2e/update")
	waitFor(t, 10*time.Second, "delete to empty the table", func() (bool, string) {
		return rcodeIs(addr, "u.example.org.", dns.TypeA, dns.RcodeNameError)
	})
	if ok, why := answerIs(addr, "inline.example.org.", dns.TypeA, "10.9.9.9"); !ok {
		t.Fatal(why)
	}
	// And back.
	etcd.put(t, "/e2e/update", "10.1.2.1 u.example.org\n")
	waitFor(t, 10*time.Second, "put after delete", func() (bool, string) {
		return answerIs(addr, "u.example.org.", dns.TypeA, "10.1.2.1")
	})
}

// TestPrefixKey: a key ending in / merges every key below it, in key order.
func TestPrefixKey(t *testing.T) {
	etcd := startEtcd(t)
	etcd.put(t, "/e2e/prefix/10-a", "10.2.0.1 pa.example.org\n10.2.0.9 shared.example.org\n")
	etcd.put(t, "/e2e/prefix/20-b", "10.2.0.2 pb.example.org\n10.2.0.10 shared.example.org\n")
	etcd.put(t, "/e2e/prefixother", "10.2.0.3 other.example.org\n")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startCoreDNS(t, fmt.Sprintf(`
example.org:%d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/prefix/
        endpoint %s
        force_reload 1s
    }
}
`, port, etcd.url()), addr)
	waitFor(t, 10*time.Second, "fragments", func() (bool, string) {
		if ok, why := answerIs(addr, "pa.example.org.", dns.TypeA, "10.2.0.1"); !ok {
			return ok, why
		}
		if ok, why := answerIs(addr, "pb.example.org.", dns.TypeA, "10.2.0.2"); !ok {
			return ok, why
		}
		return answerIs(addr, "shared.example.org.", dns.TypeA, "10.2.0.9", "10.2.0.10")
	})
	if ok, why := rcodeIs(addr, "other.example.org.", dns.TypeA, dns.RcodeNameError); !ok {
		t.Fatalf("a key beside the prefix must not be read: %s", why)
	}
	etcd.put(t, "/e2e/prefix/30-c", "10.2.0.4 pc.example.org\n")
	etcd.del(t, "/e2e/prefix/10-a")
	waitFor(t, 10*time.Second, "fragment changes", func() (bool, string) {
		if ok, why := answerIs(addr, "pc.example.org.", dns.TypeA, "10.2.0.4"); !ok {
			return ok, why
		}
		return rcodeIs(addr, "pa.example.org.", dns.TypeA, dns.RcodeNameError)
	})
}

// TestThreeInstances: three CoreDNS processes on one key all see a put.
func TestThreeInstances(t *testing.T) {
	etcd := startEtcd(t)
	etcd.put(t, "/e2e/fleet", "10.3.0.1 fleet.example.org\n")
	var servers []string
	for i := 0; i < 3; i++ {
		port := freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/fleet
        endpoint %s
    }
}
`, port, etcd.url()), addr)
		servers = append(servers, addr)
	}
	for _, addr := range servers {
		waitFor(t, 10*time.Second, "initial data on "+addr, func() (bool, string) {
			return answerIs(addr, "fleet.example.org.", dns.TypeA, "10.3.0.1")
		})
	}
	for round := 2; round <= 4; round++ {
		want := fmt.Sprintf("10.3.0.%d", round)
		etcd.put(t, "/e2e/fleet", want+" fleet.example.org\n")
		start := time.Now()
		for _, addr := range servers {
			waitFor(t, 10*time.Second, "the put on "+addr, func() (bool, string) {
				return answerIs(addr, "fleet.example.org.", dns.TypeA, want)
			})
		}
		t.Logf("round %d: all 3 instances serve the put after %v", round, time.Since(start))
	}
}

// TestEtcdDownAtStart: CoreDNS starts while etcd is down, serves its inline
// records, catches up when etcd comes, and keeps answering when etcd goes again.
func TestEtcdDownAtStart(t *testing.T) {
	etcd := newEtcd(t) // ports reserved, not started
	port, readyPort, metricsPort := freePort(t), freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	start := time.Now()
	startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts {
        10.9.9.9 inline.example.org
        key /e2e/down
        endpoint %s
        timeout 1s
    }
    ready 127.0.0.1:%d
    prometheus 127.0.0.1:%d
}
`, port, etcd.url(), readyPort, metricsPort), addr)
	startup := time.Since(start)
	t.Logf("CoreDNS served %v after start with etcd down (timeout 1s)", startup)
	if startup > 8*time.Second {
		t.Errorf("startup with etcd down took %v; it must not block on etcd beyond the timeout", startup)
	}
	if ok, why := answerIs(addr, "inline.example.org.", dns.TypeA, "10.9.9.9"); !ok {
		t.Fatal(why)
	}
	if ok, why := rcodeIs(addr, "late.example.org.", dns.TypeA, dns.RcodeNameError); !ok {
		t.Fatal(why)
	}
	if code, _, err := httpGet(readyURL); err != nil || code == 200 {
		t.Fatalf("/ready with etcd down: %d %v, want not ready", code, err)
	}

	etcd.start(t)
	etcd.put(t, "/e2e/down", "10.4.0.1 late.example.org\n")
	waitFor(t, 30*time.Second, "CoreDNS to catch up with etcd", func() (bool, string) {
		return answerIs(addr, "late.example.org.", dns.TypeA, "10.4.0.1")
	})
	waitFor(t, 10*time.Second, "/ready", func() (bool, string) {
		code, body, err := httpGet(readyURL)
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})
	waitFor(t, 10*time.Second, "watch_connected 1", func() (bool, string) {
		wc := findMetrics(scrape(t, metricsURL, "coredns_etcdhosts_watch_connected"), "coredns_etcdhosts_watch_connected")
		return len(wc) == 1 && wc[0].value == 1, fmt.Sprint(wc)
	})
	// The watch is live: a second put arrives too.
	etcd.put(t, "/e2e/down", "10.4.0.2 late.example.org\n")
	waitFor(t, 10*time.Second, "a put after catching up", func() (bool, string) {
		return answerIs(addr, "late.example.org.", dns.TypeA, "10.4.0.2")
	})

	// etcd goes away: the last table keeps being served.
	etcd.stop(t)
	waitFor(t, 30*time.Second, "watch_connected 0 after etcd stopped", func() (bool, string) {
		wc := findMetrics(scrape(t, metricsURL, "coredns_etcdhosts_watch_connected"), "coredns_etcdhosts_watch_connected")
		return len(wc) == 1 && wc[0].value == 0, fmt.Sprint(wc)
	})
	for i := 0; i < 5; i++ {
		if ok, why := answerIs(addr, "late.example.org.", dns.TypeA, "10.4.0.2"); !ok {
			t.Fatalf("with etcd down: %s", why)
		}
	}

	// etcd comes back (same data): the watch is re-established and updates flow again.
	etcd.start(t)
	etcd.put(t, "/e2e/down", "10.4.0.3 late.example.org\n")
	waitFor(t, 30*time.Second, "a put after etcd restarted", func() (bool, string) {
		return answerIs(addr, "late.example.org.", dns.TypeA, "10.4.0.3")
	})
}

// TestSnapshot: the last good data is kept on disk and served at the next start
// while etcd is unreachable.
func TestSnapshot(t *testing.T) {
	etcd := startEtcd(t)
	etcd.put(t, "/e2e/snap", "10.5.0.1 snap.example.org\n")
	snap := filepath.Join(t.TempDir(), "etcdhosts.snapshot")
	corefile := func(port int, endpoint string) string {
		return fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/snap
        endpoint %s
        timeout 500ms
        snapshot %s
    }
}
`, port, endpoint, snap)
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	first := startCoreDNS(t, corefile(port, etcd.url()), addr)
	waitFor(t, 10*time.Second, "data", func() (bool, string) {
		return answerIs(addr, "snap.example.org.", dns.TypeA, "10.5.0.1")
	})
	waitFor(t, 10*time.Second, "the snapshot file", func() (bool, string) {
		b, err := os.ReadFile(snap)
		return err == nil && strings.Contains(string(b), "snap.example.org"), fmt.Sprint(err)
	})
	first.proc.stop(t)
	etcd.stop(t)

	port2, readyPort := freePort(t), freePort(t)
	addr2 := fmt.Sprintf("127.0.0.1:%d", port2)
	second := startCoreDNS(t, strings.Replace(corefile(port2, etcd.url()), "    }\n}", fmt.Sprintf("    }\n    ready 127.0.0.1:%d\n}", readyPort), 1), addr2)
	if ok, why := answerIs(addr2, "snap.example.org.", dns.TypeA, "10.5.0.1"); !ok {
		t.Fatalf("snapshot not served while etcd is down: %s", why)
	}
	waitFor(t, 10*time.Second, "/ready from the snapshot", func() (bool, string) {
		code, body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort))
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})

	// SIGTERM while etcd is unreachable: CoreDNS (and the Rust handle) stop promptly.
	start := time.Now()
	if err := second.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := second.proc.waitExit(t, 10*time.Second)
	t.Logf("SIGTERM with etcd down: exit %d after %v", code, time.Since(start))
	if code != 0 || time.Since(start) > 6*time.Second {
		t.Errorf("SIGTERM: exit code %d after %v, want 0 within 6s", code, time.Since(start))
	}
}

// TestReload: SIGUSR1 (CoreDNS re-reads its Corefile) 20 times, and the reload
// plugin once: answers follow the new Corefile, and threads and fds do not grow.
func TestReload(t *testing.T) {
	etcd := startEtcd(t)
	etcd.put(t, "/e2e/reload", "10.6.0.1 r.example.org\n")
	port, metricsPort := freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	corefile := func(ttl int, reloadPlugin bool) string {
		rl := ""
		if reloadPlugin {
			rl = "reload 2s 1s"
		}
		return fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts {
        key /e2e/reload
        endpoint %s
        ttl %d
    }
    prometheus 127.0.0.1:%d
    %s
}
`, port, etcd.url(), ttl, metricsPort, rl)
	}
	c := startCoreDNS(t, corefile(100, false), addr)
	pid := c.proc.pid()
	ttlIs := func(ttl uint32) func() (bool, string) {
		return func() (bool, string) {
			r, err := exchange(addr, "udp", "r.example.org.", dns.TypeA)
			if err != nil {
				return false, err.Error()
			}
			if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != ttl || addrs(r)[0] != "10.6.0.1" {
				return false, fmt.Sprintf("answer %v, want ttl %d", r.Answer, ttl)
			}
			return true, ""
		}
	}
	waitFor(t, 10*time.Second, "first answer", ttlIs(100))

	reload := func(ttl int) {
		t.Helper()
		if err := os.WriteFile(c.corefile, []byte(corefile(ttl, false)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, fmt.Sprintf("reload to ttl %d", ttl), ttlIs(uint32(ttl)))
	}
	// Warm up (the first reloads start Go and Rust worker threads that stay).
	for i := 1; i <= 3; i++ {
		reload(100 + i)
	}
	threads0, fds0 := procStatus(t, pid)
	start := time.Now()
	for i := 1; i <= 20; i++ {
		reload(200 + i)
	}
	t.Logf("20 SIGUSR1 reloads in %v", time.Since(start))
	// Old handles are freed asynchronously: allow the counts to settle. A leak
	// would show as about one thread or fd per reload (+20); allow +6 for noise.
	var threads, fds int
	waitFor(t, 15*time.Second, "threads and fds to settle", func() (bool, string) {
		threads, fds = procStatus(t, pid)
		return threads <= threads0+6 && fds <= fds0+6,
			fmt.Sprintf("threads %d -> %d, fds %d -> %d", threads0, threads, fds0, fds)
	})
	t.Logf("after 20 reloads: threads %d -> %d, fds %d -> %d", threads0, threads, fds0, fds)

	// One series per metric: the old instances left the collector.
	ms := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), "coredns_etcdhosts_entries")
	if got := findMetrics(ms, "coredns_etcdhosts_entries"); len(got) != 1 || got[0].value != 1 {
		t.Errorf("coredns_etcdhosts_entries after reloads: %v", got)
	}
	// Updates still arrive through the current instance's watch.
	etcd.put(t, "/e2e/reload", "10.6.0.2 r.example.org\n")
	waitFor(t, 10*time.Second, "a put after the reloads", func() (bool, string) {
		return answerIs(addr, "r.example.org.", dns.TypeA, "10.6.0.2")
	})
	etcd.put(t, "/e2e/reload", "10.6.0.1 r.example.org\n")
	waitFor(t, 10*time.Second, "put back", ttlIs(220))

	// The reload plugin: it notices the changed Corefile by itself.
	if err := os.WriteFile(c.corefile, []byte(corefile(300, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil { // loads the reload plugin
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "ttl 300", ttlIs(300))
	if err := os.WriteFile(c.corefile, []byte(corefile(301, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the reload plugin to apply ttl 301", ttlIs(301))
	if c.proc.exited() {
		t.Fatal("CoreDNS exited")
	}
}

// TestMalformedCorefile: bad options stop CoreDNS with a message naming etcdhosts.
func TestMalformedCorefile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct{ block, want string }{
		{"ttl 0", "ttl"},
		{"ttl 70000", "ttl"},
		{"ttl x", "ttl"},
		{"bogus 1", "bogus"},
		{"fallthrough\n        nonsense", "nonsense"},
		{"timeout forever", "timeout"},
		{"force_reload -5s", "force_reload"},
		{"endpoint ftp://127.0.0.1:2379", "endpoint"},
		{"credentials onlyuser", "credentials"},
		{"tls " + missing, "tls"},
		{"tls a b c d", "tls"},
		{"key", "key"},
		{"snapshot /nonexistent-e2e-dir/snap", "snapshot"},
		{"status_key", "status_key"},
		{"status_key /a/ /b/", "status_key"},
		{"key /e2e/hosts/\n        status_key /e2e/hosts/status", "status_key"},
		{"10.0.0.1", "inline"},
	}
	for _, tc := range cases {
		t.Run(strings.Fields(tc.block)[0], func(t *testing.T) {
			port := freePort(t)
			c := &coreDNS{dir: t.TempDir()}
			c.corefile = filepath.Join(c.dir, "Corefile")
			body := fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    etcdhosts {\n        %s\n    }\n}\n", port, tc.block)
			if err := os.WriteFile(c.corefile, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			p := startProc(t, "coredns", nil, c.dir, corednsBin, "-conf", c.corefile)
			code := p.waitExit(t, 15*time.Second)
			out := p.out.String()
			if code == 0 {
				t.Fatalf("exit code 0 for %q", tc.block)
			}
			if !strings.Contains(out, "plugin/etcdhosts") || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output does not name etcdhosts and %q:\n%s", code, tc.want, out)
			}
		})
	}
	t.Run("twice in a block", func(t *testing.T) {
		port := freePort(t)
		dir := t.TempDir()
		cf := filepath.Join(dir, "Corefile")
		body := fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    etcdhosts\n    etcdhosts\n}\n", port)
		if err := os.WriteFile(cf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, "coredns", nil, dir, corednsBin, "-conf", cf)
		if code := p.waitExit(t, 15*time.Second); code == 0 || !strings.Contains(p.out.String(), "etcdhosts") {
			t.Fatalf("exit %d:\n%s", code, p.out.String())
		}
	})
}
