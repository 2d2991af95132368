package e2e

// Churn (issue 5, part 5): 200 CoreDNS reloads (SIGUSR1, with the reload plugin
// in the Corefile) while a client queries and a writer puts a new version every
// 100 ms. Threads, open file descriptors and resident memory are sampled: a
// leak of a handle, its etcd connection or its table per reload would show as
// growth with the number of reloads.

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const churnReloads = 200

func TestChurnReloads(t *testing.T) {
	etcd := startEtcd(t)
	gw := newGW(time.Second, nil)
	if _, err := gw.put(etcd.url(), faultKey, hostsVersion(0, 0)); err != nil {
		t.Fatal(err)
	}
	port, metricsPort := freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	corefile := func(ttl int) string {
		return strings.Replace(faultCorefile(port, metricsPort, []string{etcd.url()}, fmt.Sprintf("ttl %d", ttl)),
			fmt.Sprintf("    prometheus 127.0.0.1:%d\n", metricsPort),
			fmt.Sprintf("    prometheus 127.0.0.1:%d\n    reload 2s 1s\n", metricsPort), 1)
	}
	c := startCoreDNS(t, corefile(1000), addr)
	pid := c.proc.pid()
	d := &faultDNS{label: "coredns", port: port, ex: udpExchange(addr), c: c,
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)}
	d.q = startQuerier(t, d.label, d.ex)
	w := startWriter(t, gw, []string{etcd.url()}, faultKey, 0)

	ttlIs := func(ttl uint32) func() (bool, string) {
		return func() (bool, string) {
			r, err := exchange(addr, "udp", stableName, dns.TypeA)
			if err != nil {
				return false, err.Error()
			}
			if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != ttl {
				return false, fmt.Sprintf("answer %v, want ttl %d", r.Answer, ttl)
			}
			return true, ""
		}
	}
	reload := func(i int) {
		t.Helper()
		if err := os.WriteFile(c.corefile, []byte(corefile(1000+i)), 0o644); err != nil {
			t.Fatal(err)
		}
		d.q.overlapUntil.Store(time.Now().Add(time.Hour).UnixNano())
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, fmt.Sprintf("reload %d", i), ttlIs(uint32(1000+i)))
		// The old instance is stopped right after the new one answers.
		d.q.overlapUntil.Store(time.Now().Add(time.Second).UnixNano())
		// Let each instance serve a little (about 10 queries) before the next reload.
		n0, _ := d.q.counts()
		waitFor(t, 5*time.Second, "queries between reloads", func() (bool, string) {
			n, _ := d.q.counts()
			return n >= n0+10, fmt.Sprint(n - n0)
		})
	}

	// Warm-up: the first reloads start worker threads that stay.
	for i := 1; i <= 10; i++ {
		reload(i)
	}
	base := sampleProc(t, pid)
	samples := []string{"after 10 warm-up reloads: " + base.String()}
	var half procSample
	start := time.Now()
	for i := 1; i <= churnReloads; i++ {
		reload(10 + i)
		if i%50 == 0 {
			s := sampleProc(t, pid)
			samples = append(samples, fmt.Sprintf("after %d reloads: %s", i, s))
			if i == churnReloads/2 {
				half = s
			}
		}
	}
	elapsed := time.Since(start)
	// Old instances are shut down asynchronously: let the counts settle.
	var end procSample
	waitFor(t, 20*time.Second, "threads and fds to settle", func() (bool, string) {
		end = sampleProc(t, pid)
		return end.threads <= base.threads+6 && end.fds <= base.fds+6,
			fmt.Sprintf("%v -> %v", base, end)
	})
	samples = append(samples, "settled: "+end.String())
	// Memory: a leak grows with every reload, so compare the second hundred with
	// the first; a one-off step (allocator arenas, Go heap target) is noise.
	if grow := end.rssKB - half.rssKB; grow > 8<<10 {
		t.Errorf("resident memory grew %d KiB over the last %d reloads (%v -> %v)", grow, churnReloads/2, half, end)
	}
	if grow := end.rssKB - base.rssKB; grow > 24<<10 {
		t.Errorf("resident memory grew %d KiB over %d reloads (%v -> %v)", grow, churnReloads, base, end)
	}
	// One metrics series: old instances left the collector.
	if got := findMetrics(scrape(t, d.metricsURL, "coredns_etcdhosts_entries"), "coredns_etcdhosts_entries"); len(got) != 1 {
		t.Errorf("coredns_etcdhosts_entries after %d reloads: %v", churnReloads, got)
	}
	converge(t, w, time.Now(), d)
	d.alive(t)
	d.q.check(t)
	n, f := d.q.counts()
	st := w.stats()
	t.Logf("RESULT %s: %d reloads in %v (%v each); %d queries, %d failed (%d saw the revision go back while old and new instance overlapped); writes %d ok\n  %s",
		t.Name(), churnReloads, elapsed.Round(time.Millisecond), (elapsed / churnReloads).Round(time.Millisecond), n, f, d.q.overlapBack.Load(), st.ok,
		strings.Join(samples, "\n  "))
}
