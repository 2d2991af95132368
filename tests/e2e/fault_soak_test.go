//go:build soak

package e2e

// The soak (issue 5, part 5), run by bench/soak.sh, not by the normal test
// command (it needs the build tag): ETCDHOSTS_SOAK=30m go test -tags soak -run '^TestSoak$' -timeout 0 -v .
//
// A three-member etcd cluster, two CoreDNS instances (the second one also
// reloaded with SIGUSR1 every 30 s), a client querying both continuously plus a
// background load, and a writer putting a new version every 100 ms, for the
// given duration. Every minute: threads, open fds and resident memory of each
// CoreDNS, queries and failures, writes, and how far each instance is behind
// the writer. At the end: no failed query, convergence, no growth beyond noise.

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestSoak(t *testing.T) {
	spec := os.Getenv("ETCDHOSTS_SOAK")
	if spec == "" {
		t.Fatal("set ETCDHOSTS_SOAK=DURATION (bench/soak.sh does)")
	}
	duration, err := time.ParseDuration(spec)
	if err != nil || duration < time.Minute {
		t.Fatalf("ETCDHOSTS_SOAK=%q: want a duration of at least 1m", spec)
	}
	sampleEvery := time.Minute
	if s := os.Getenv("ETCDHOSTS_SOAK_SAMPLE"); s != "" {
		if sampleEvery, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	env := newClusterEnv(t, 0, "", "")
	reloaded := env.dns[1]

	// Background load: one more query loop per instance (names that exist and
	// names that do not), checked only for SERVFAIL and timeouts.
	stop := make(chan struct{})
	loadDone := make(chan struct{}, len(env.dns))
	loadCount := make([]atomic.Int64, len(env.dns))
	var loadMu sync.Mutex
	loadFail := make([]string, len(env.dns))
	for i, d := range env.dns {
		go func() {
			defer func() { loadDone <- struct{}{} }()
			names := []string{stableName, versionName, "nope.example.org.", inlineName}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				if d.q.paused.Load() {
					continue
				}
				r, err := d.ex(names[n%len(names)], []uint16{dns.TypeA, dns.TypeAAAA}[n/4%2])
				if d.q.paused.Load() {
					continue
				}
				loadCount[i].Add(1)
				if err != nil || r.Rcode == dns.RcodeServerFailure {
					loadMu.Lock()
					if loadFail[i] == "" {
						loadFail[i] = fmt.Sprintf("%s: %v %v", time.Now().Format("15:04:05"), err, r)
					}
					loadMu.Unlock()
				}
			}
		}()
	}
	defer func() {
		close(stop)
		for range env.dns {
			<-loadDone
		}
	}()

	reloads := 0
	reload := func() {
		ttl := 2000 + reloads
		body := strings.Replace(reloaded.corefile, "timeout 2s", fmt.Sprintf("timeout 2s\n        ttl %d", ttl), 1)
		if err := os.WriteFile(reloaded.c.corefile, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// Old and new instance overlap for a moment (see TestChurnReloads).
		reloaded.q.overlapUntil.Store(time.Now().Add(time.Hour).UnixNano())
		if err := syscall.Kill(reloaded.c.proc.pid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "a soak reload", func() (bool, string) {
			r, err := exchange(fmt.Sprintf("127.0.0.1:%d", reloaded.port), "udp", stableName, dns.TypeA)
			if err != nil || len(r.Answer) != 1 {
				return false, fmt.Sprint(err, r)
			}
			return r.Answer[0].Header().Ttl == uint32(ttl), fmt.Sprint(r.Answer[0])
		})
		reloaded.q.overlapUntil.Store(time.Now().Add(time.Second).UnixNano())
		reloads++
	}

	header := fmt.Sprintf("%-6s | %-31s | %-31s | %-17s | %-13s | %s", "min", "coredns-0 thr/fds/rss MiB/lag", "coredns-1 thr/fds/rss MiB/lag", "queries (failed)", "writes ok/err", "reloads")
	var table []string
	var first, last [2]procSample
	sample := func(elapsed time.Duration) {
		st := env.w.stats()
		cells := make([]string, 2)
		var queries, failed int
		for i, d := range env.dns {
			s := sampleProc(t, d.c.proc.pid())
			if len(table) == 1 { // the first sample after the baseline row
				first[i] = s
			}
			last[i] = s
			served, _ := servedRevision(d.ex)
			cells[i] = fmt.Sprintf("%3d / %3d / %6.1f / %4d", s.threads, s.fds, float64(s.rssKB)/1024, max(0, st.rev-served))
			n, f := d.q.counts()
			queries += n + int(loadCount[i].Load())
			failed += f
		}
		row := fmt.Sprintf("%6.1f | %-31s | %-31s | %9d (%d) | %6d/%-6d | %d", elapsed.Minutes(), cells[0], cells[1], queries, failed, st.ok, st.failed, reloads)
		table = append(table, row)
		t.Log(row)
	}
	t.Logf("soak for %v, a sample every %v; lag = revisions behind the writer", duration, sampleEvery)
	t.Log(header)
	start := time.Now()
	sample(0)
	nextSample := start.Add(sampleEvery)
	nextReload := start.Add(30 * time.Second)
	for time.Since(start) < duration {
		now := time.Now()
		switch {
		case !now.Before(nextReload):
			reload()
			nextReload = nextReload.Add(30 * time.Second)
		case !now.Before(nextSample):
			sample(time.Since(start))
			nextSample = nextSample.Add(sampleEvery)
		default:
			// A hold: the soak is timed, nothing to wait for.
			time.Sleep(time.Until(earliest(nextReload, nextSample, start.Add(duration))))
		}
		for _, d := range env.dns {
			d.alive(t)
		}
	}
	sample(time.Since(start))
	env.finish(t, time.Now())
	loadMu.Lock()
	defer loadMu.Unlock()
	for i, f := range loadFail {
		if f != "" {
			t.Errorf("background load on coredns-%d: %s", i, f)
		}
	}
	for i := range env.dns {
		if last[i].threads > first[i].threads+6 || last[i].fds > first[i].fds+6 {
			t.Errorf("coredns-%d grew: %v -> %v", i, first[i], last[i])
		}
		if last[i].rssKB > first[i].rssKB+32<<10 {
			t.Errorf("coredns-%d resident memory grew by %.1f MiB: %v -> %v", i, float64(last[i].rssKB-first[i].rssKB)/1024, first[i], last[i])
		}
	}
	t.Logf("SOAK TABLE\n%s\n%s", header, strings.Join(table, "\n"))
}

func earliest(ts ...time.Time) time.Time {
	e := ts[0]
	for _, t := range ts[1:] {
		if t.Before(e) {
			e = t
		}
	}
	return e
}
