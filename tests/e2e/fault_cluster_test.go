package e2e

// Cluster fault tests (issue 5, part 1): a three-member etcd cluster on
// loopback, two CoreDNS instances listing all three endpoints (in different
// orders, so that they start on different members), a client querying both
// continuously and a writer putting a new version every 100 ms. After every
// fault: no query for a name that exists got SERVFAIL or a timeout, no instance
// ever served an older revision than it had served before, and every instance
// serves the last written revision within 5 s of etcd being healthy.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type clusterEnv struct {
	cluster *etcdCluster
	gw      *etcdGW
	w       *writer
	dns     []*faultDNS
	start   time.Time
}

// newClusterEnv starts the cluster, the first version, the CoreDNS instances
// (extra[i] is added to the etcdhosts block of instance i), the writer and the
// queriers, and waits until both instances serve a version the writer wrote.
func newClusterEnv(t *testing.T, padding int, extra ...string) *clusterEnv {
	t.Helper()
	env := &clusterEnv{start: time.Now()}
	env.cluster = startEtcdCluster(t, 3)
	env.gw = newGW(time.Second, nil)
	urls := env.cluster.urls()
	if _, err := env.gw.put(urls[0], faultKey, hostsVersion(0, padding)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		x := ""
		if i < len(extra) {
			x = extra[i]
		}
		order := append(append([]string{}, urls[i:]...), urls[:i]...)
		d := startFaultDNS(t, fmt.Sprintf("coredns-%d", i), order, x)
		env.dns = append(env.dns, d)
	}
	env.w = startWriter(t, env.gw, urls, faultKey, padding)
	waitFor(t, 10*time.Second, "the writer's first puts to be served", func() (bool, string) {
		st := env.w.stats()
		if st.ok < 5 {
			return false, fmt.Sprintf("writer: %+v", st)
		}
		for _, d := range env.dns {
			if got, err := servedRevision(d.ex); err != nil || got < st.rev-2 {
				return false, fmt.Sprintf("%s serves %d (%v), writer at %d", d.label, got, err, st.rev)
			}
		}
		return true, ""
	})
	return env
}

// leader returns the index of the current leader among the running members.
func (env *clusterEnv) leader(t *testing.T) int {
	t.Helper()
	idx := -1
	waitFor(t, 15*time.Second, "a leader", func() (bool, string) {
		ids := map[string]int{}
		var leader string
		for i, m := range env.cluster.members {
			if m.proc.exited() {
				continue
			}
			id, l, err := env.gw.status(m.url())
			if err != nil {
				continue
			}
			ids[id] = i
			if l != "0" && l != "" {
				leader = l
			}
		}
		i, ok := ids[leader]
		idx = i
		return ok, fmt.Sprintf("members %v, leader %q", ids, leader)
	})
	return idx
}

// connectedTo returns the members instance d holds a connection to.
func (env *clusterEnv) connectedTo(d *faultDNS) []int {
	ports := map[int]bool{}
	for _, m := range env.cluster.members {
		ports[m.clientPort] = true
	}
	conns := etcdConnections(d.c.proc.pid(), ports)
	var out []int
	for i, m := range env.cluster.members {
		if conns[m.clientPort] {
			out = append(out, i)
		}
	}
	return out
}

// waitHealthy waits until every running member reports healthy and returns when.
func (env *clusterEnv) waitHealthy(t *testing.T, timeout time.Duration) time.Time {
	t.Helper()
	waitFor(t, timeout, "the cluster to be healthy", func() (bool, string) {
		for _, m := range env.cluster.members {
			if !m.proc.exited() && !env.gw.healthy(m.url()) {
				return false, m.name + " not healthy"
			}
		}
		return true, ""
	})
	return time.Now()
}

// writesFor waits until the writer made n more attempts (the fault is held
// while the writer keeps going) and returns how many of them succeeded.
func (env *clusterEnv) writesFor(t *testing.T, n int, timeout time.Duration) (ok int) {
	t.Helper()
	before := env.w.stats()
	waitFor(t, timeout, fmt.Sprintf("%d more write attempts", n), func() (bool, string) {
		st := env.w.stats()
		return st.attempts >= before.attempts+n, fmt.Sprintf("%+v", st)
	})
	return env.w.stats().ok - before.ok
}

// restart starts killed members again (same data directories and ports).
func (env *clusterEnv) restart(t *testing.T, idx ...int) {
	t.Helper()
	for _, i := range idx {
		env.cluster.members[i].launch(t)
	}
}

// finish: convergence, no failed query, nobody crashed; one summary line.
func (env *clusterEnv) finish(t *testing.T, healthyAt time.Time) {
	t.Helper()
	took, sincePut := converge(t, env.w, healthyAt, env.dns...)
	var total, failed int
	for _, d := range env.dns {
		d.alive(t)
		d.q.check(t)
		n, f := d.q.counts()
		total += n
		failed += f
	}
	if os.Getenv("E2E_SHOW_LOGS") != "" {
		for _, d := range env.dns {
			t.Logf("---- %s ----\n%s", d.label, tail(d.c.output(), 4000))
		}
	}
	st := env.w.stats()
	t.Logf("RESULT %s: %d queries, %d failed; writes %d ok, %d failed; all instances at the last revision %v after etcd was healthy (%v after the last put); %v",
		t.Name(), total, failed, st.ok, st.failed, took.Round(time.Millisecond), sincePut.Round(time.Millisecond), time.Since(env.start).Round(time.Second))
	env.stopAll(t)
}

// stopAll kills every process at once: SIGTERM one by one costs seconds of
// leader transfers, and the data is thrown away anyway.
func (env *clusterEnv) stopAll(t *testing.T) {
	var wg sync.WaitGroup
	for _, m := range env.cluster.members {
		wg.Add(1)
		go func() { defer wg.Done(); m.proc.kill(t) }()
	}
	wg.Wait()
}

// memberID returns the raft member ID of member i.
func (env *clusterEnv) memberID(t *testing.T, i int) string {
	t.Helper()
	id, _, err := env.gw.status(env.cluster.members[i].url())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestFaultKillLeader: SIGKILL the leader while an instance watches through it;
// a new one is elected, writes go on, both instances follow; the old leader
// comes back as a follower.
func TestFaultKillLeader(t *testing.T) {
	env := newClusterEnv(t, 0)
	// Make the member coredns-0 watches through the leader.
	conns := env.connectedTo(env.dns[0])
	if len(conns) == 0 {
		t.Fatalf("%s holds no connection to etcd", env.dns[0].label)
	}
	if l := env.leader(t); l != conns[0] {
		if err := env.gw.moveLeader(env.cluster.members[l].url(), env.memberID(t, conns[0])); err != nil {
			t.Fatalf("move-leader: %v", err)
		}
	}
	l := env.leader(t)
	if l != conns[0] {
		t.Fatalf("leader is %d after move-leader to %d", l, conns[0])
	}
	t.Logf("killing leader %s; instances connected to %v and %v", env.cluster.members[l].name, env.connectedTo(env.dns[0]), env.connectedTo(env.dns[1]))
	env.cluster.members[l].proc.kill(t)
	healthy := env.waitHealthy(t, 20*time.Second)
	if ok := env.writesFor(t, 20, 20*time.Second); ok == 0 {
		t.Errorf("no write succeeded with a new leader: %+v", env.w.stats())
	}
	env.converged(t, "with the leader dead", healthy)
	env.restart(t, l)
	env.finish(t, env.waitHealthy(t, 20*time.Second))
}

// converged runs the convergence check in the middle of a fault.
func (env *clusterEnv) converged(t *testing.T, when string, healthyAt time.Time) {
	t.Helper()
	took, sincePut := converge(t, env.w, healthyAt, env.dns...)
	t.Logf("%s: both instances at the last revision %v after the cluster was healthy (%v after the last put)", when, took.Round(time.Millisecond), sincePut.Round(time.Millisecond))
}

// TestFaultKillFollower: SIGKILL the follower that coredns-0 is connected to
// (found from its TCP connections; leadership is moved away from that member
// first if needed); coredns-0 moves to another member at once and serves the
// writes made after the kill.
func TestFaultKillFollower(t *testing.T) {
	env := newClusterEnv(t, 0)
	d := env.dns[0]
	f := -1
	waitFor(t, 5*time.Second, d.label+"'s one etcd connection", func() (bool, string) {
		conns := env.connectedTo(d)
		if len(conns) != 1 {
			return false, fmt.Sprintf("connected to members %v", conns)
		}
		f = conns[0]
		return true, ""
	})
	l := env.leader(t)
	if l == f {
		// The member coredns-0 uses is the leader: hand leadership to another one.
		target := (f + 1) % 3
		if err := env.gw.moveLeader(env.cluster.members[l].url(), env.memberID(t, target)); err != nil {
			t.Fatalf("move-leader: %v", err)
		}
		if l = env.leader(t); l == f {
			t.Fatalf("%s is still the leader after move-leader", env.cluster.members[f].name)
		}
	}
	if conns := env.connectedTo(d); len(conns) != 1 || conns[0] != f {
		t.Fatalf("%s moved from member %d to %v on its own before the kill", d.label, f, conns)
	}
	t.Logf("killing follower %s, which %s is connected to (leader %s; %s is connected to %v)",
		env.cluster.members[f].name, d.label, env.cluster.members[l].name, env.dns[1].label, env.connectedTo(env.dns[1]))
	revAtKill := env.w.stats().rev
	killedAt := time.Now()
	env.cluster.members[f].proc.kill(t)
	// It moves: a connection to another member, and a revision written after the kill served.
	var movedAfter time.Duration
	var movedTo []int
	waitFor(t, 10*time.Second, d.label+" to move to another member", func() (bool, string) {
		conns := env.connectedTo(d)
		got, err := servedRevision(d.ex)
		st := env.w.stats()
		if len(conns) == 0 || slices.Contains(conns, f) || err != nil || got <= revAtKill {
			return false, fmt.Sprintf("connected to %v, serves %d (%v); the kill was at revision %d, the writer is at %d", conns, got, err, revAtKill, st.rev)
		}
		movedAfter, movedTo = time.Since(killedAt), conns
		return true, ""
	})
	// "At once": the dead member refuses connections, so the next endpoint is tried
	// without a backoff; the bound is the writer's 100 ms plus margin for a loaded machine.
	const moveLimit = 2 * time.Second
	t.Logf("%s moved to member(s) %v and served a revision written after the kill %v after the kill", d.label, movedTo, movedAfter.Round(time.Millisecond))
	if movedAfter > moveLimit {
		t.Errorf("%s took %v to move to another member, want < %v", d.label, movedAfter, moveLimit)
	}
	if ok := env.writesFor(t, 20, 20*time.Second); ok < 15 {
		t.Errorf("one follower down must not stop writes: %d of 20 succeeded", ok)
	}
	env.converged(t, "with a follower dead", killedAt)
	env.restart(t, f)
	env.finish(t, env.waitHealthy(t, 20*time.Second))
}

// TestFaultQuorumLoss: SIGKILL two members. Writes fail, queries are answered
// from memory; after the restart of both, everything converges.
func TestFaultQuorumLoss(t *testing.T) {
	env := newClusterEnv(t, 0)
	l := env.leader(t)
	other := (l + 1) % 3
	t.Logf("killing %s (leader) and %s", env.cluster.members[l].name, env.cluster.members[other].name)
	env.cluster.members[l].proc.kill(t)
	env.cluster.members[other].proc.kill(t)
	// Writes in flight at the kill may still land; after that, none.
	waitFor(t, 15*time.Second, "writes to fail", func() (bool, string) {
		return env.writesFor(t, 3, 10*time.Second) == 0, fmt.Sprintf("%+v", env.w.stats())
	})
	if ok := env.writesFor(t, 10, 30*time.Second); ok != 0 {
		t.Errorf("%d writes succeeded without a quorum", ok)
	}
	t.Logf("without quorum: writer %+v", env.w.stats())
	env.restart(t, l, other)
	env.finish(t, env.waitHealthy(t, 30*time.Second))
}

// TestFaultKillAllRestart: SIGKILL every member, keep querying, start them again.
func TestFaultKillAllRestart(t *testing.T) {
	env := newClusterEnv(t, 0)
	for _, m := range env.cluster.members {
		m.proc.kill(t)
	}
	before := map[string]int{}
	for _, d := range env.dns {
		before[d.label], _ = d.q.counts()
	}
	// Hold the outage while both instances answer a few hundred queries.
	waitFor(t, 20*time.Second, "queries during the outage", func() (bool, string) {
		for _, d := range env.dns {
			if n, _ := d.q.counts(); n < before[d.label]+200 {
				return false, fmt.Sprintf("%s: %d queries", d.label, n-before[d.label])
			}
		}
		return true, ""
	})
	if ok := env.writesFor(t, 5, 20*time.Second); ok != 0 {
		t.Errorf("%d writes succeeded with etcd down", ok)
	}
	env.restart(t, 0, 1, 2)
	env.finish(t, env.waitHealthy(t, 30*time.Second))
}

// TestFaultStopMember: SIGSTOP the member an instance is connected to for 20 s.
// The TCP connection stays open and silent: only the HTTP/2 keepalive (10 s
// interval, 5 s timeout) can tell, and the instance must move to another member
// and catch up before the member is continued.
func TestFaultStopMember(t *testing.T) {
	env := newClusterEnv(t, 0)
	d := env.dns[0]
	conns := env.connectedTo(d)
	if len(conns) == 0 {
		t.Fatalf("%s holds no connection to etcd", d.label)
	}
	m := env.cluster.members[conns[0]]
	t.Logf("SIGSTOP %s, which %s is connected to (%s is connected to %v)", m.name, d.label, env.dns[1].label, env.connectedTo(env.dns[1]))
	stoppedRev := env.w.stats().rev
	stoppedAt := time.Now()
	m.proc.signal(t, syscall.SIGSTOP)
	continued := false
	defer func() {
		if !continued {
			m.proc.signal(t, syscall.SIGCONT)
		}
	}()
	// Writes go on through the other members; the stopped member holds a watch
	// that says nothing.
	var marker int64
	waitFor(t, 10*time.Second, "a write after the stop", func() (bool, string) {
		st := env.w.stats()
		marker = st.rev
		return st.rev > stoppedRev && time.Since(stoppedAt) > time.Second, fmt.Sprintf("%+v", st)
	})
	var movedAfter time.Duration
	waitFor(t, 20*time.Second-time.Since(stoppedAt), d.label+" to move on from the stopped member", func() (bool, string) {
		got, err := servedRevision(d.ex)
		if err != nil || got < marker {
			return false, fmt.Sprintf("serves %d (%v), a write after the stop is at %d; connected to %v", got, err, marker, env.connectedTo(d))
		}
		movedAfter = time.Since(stoppedAt)
		return true, ""
	})
	t.Logf("%s moved on %v after the SIGSTOP (keepalive 10 s + 5 s); now connected to %v", d.label, movedAfter.Round(time.Millisecond), env.connectedTo(d))
	// Hold the stop for the full 20 s.
	time.Sleep(time.Until(stoppedAt.Add(20 * time.Second)))
	m.proc.signal(t, syscall.SIGCONT)
	continued = true
	env.finish(t, env.waitHealthy(t, 20*time.Second))
}

// TestFaultCompactWhileStopped: SIGSTOP a CoreDNS, write a few hundred versions
// and compact etcd's history past its watch, SIGCONT: the watch is canceled as
// compacted and the instance re-reads the key.
func TestFaultCompactWhileStopped(t *testing.T) {
	// 32 KiB versions, 600 of them while the instance is stopped: the backlog
	// exceeds the HTTP/2 windows, the socket buffers and etcd's 128-response
	// channel, so etcd parks the watcher and must later resend from its history,
	// which by then is compacted.
	const padding = 32 << 10
	env := newClusterEnv(t, padding)
	d := env.dns[0]
	d.q.paused.Store(true)
	d.c.proc.signal(t, syscall.SIGSTOP)
	continued := false
	defer func() {
		if !continued {
			d.c.proc.signal(t, syscall.SIGCONT)
		}
	}()
	stoppedRev := env.w.stats().rev
	// A burst on top of the writer.
	burst := &writer{gw: env.gw, endpoints: env.cluster.urls(), key: faultKey, padding: padding, version: 1 << 20}
	for i := 0; i < 600; i++ {
		if _, err := burst.putOnce(); err != nil {
			t.Fatalf("burst put: %v", err)
		}
	}
	rev := env.w.stats().rev
	if r := burst.stats().rev; r > rev {
		rev = r
	}
	if err := env.gw.compact(env.cluster.urls()[0], rev); err != nil {
		t.Fatalf("compact at %d: %v", rev, err)
	}
	t.Logf("%s stopped at revision %d; compacted at %d", d.label, stoppedRev, rev)
	d.c.proc.signal(t, syscall.SIGCONT)
	continued = true
	contAt := time.Now()
	d.q.paused.Store(false)
	env.finish(t, contAt)
	if !strings.Contains(d.c.output(), "compact revision") {
		t.Errorf("%s did not see a compacted watch: etcd delivered the whole backlog before the compaction, so this test did not test what it says", d.label)
	}
}

// TestFaultRestartCoreDNSEtcdDown: with every etcd member down, restart both
// instances: the one with `snapshot` serves the last revision it had; the one
// without serves its inline records (etcd's names are unknown until etcd is
// back: NXDOMAIN, never SERVFAIL or a timeout). Both catch up when etcd returns.
func TestFaultRestartCoreDNSEtcdDown(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "etcdhosts.snapshot")
	env := newClusterEnv(t, 0, "snapshot "+snap, "")
	withSnap, without := env.dns[0], env.dns[1]
	// Both at the same revision, then etcd goes away.
	rev := env.w.finalPut(t, 10*time.Second)
	waitFor(t, convergeLimit, "both instances at the last revision", func() (bool, string) {
		for _, d := range env.dns {
			if got, err := servedRevision(d.ex); err != nil || got != rev {
				return false, fmt.Sprintf("%s at %d (%v), want %d", d.label, got, err, rev)
			}
		}
		return true, ""
	})
	for _, m := range env.cluster.members {
		m.proc.kill(t)
	}
	env.w.setPaused(false) // writes fail until etcd is back
	without.q.allowMissing.Store(true)
	for _, d := range env.dns {
		start := time.Now()
		d.restart(t)
		t.Logf("%s restarted with etcd down in %v", d.label, time.Since(start).Round(time.Millisecond))
	}
	if got, err := servedRevision(withSnap.ex); err != nil || got != rev {
		t.Errorf("%s with snapshot serves revision %d (%v), want %d", withSnap.label, got, err, rev)
	}
	if ok, why := answerIs(fmt.Sprintf("127.0.0.1:%d", withSnap.port), stableName, dns.TypeA, stableAddr); !ok {
		t.Errorf("%s with snapshot: %s", withSnap.label, why)
	}
	if ok, why := rcodeIs(fmt.Sprintf("127.0.0.1:%d", without.port), stableName, dns.TypeA, dns.RcodeNameError); !ok {
		t.Errorf("%s without snapshot: %s", without.label, why)
	}
	// Keep querying the restarted instances for a while with etcd still down.
	before, _ := without.q.counts()
	waitFor(t, 20*time.Second, "queries to the restarted instances", func() (bool, string) {
		n, _ := without.q.counts()
		return n >= before+200, fmt.Sprint(n - before)
	})
	env.restart(t, 0, 1, 2)
	healthy := env.waitHealthy(t, 30*time.Second)
	env.finish(t, healthy)
	without.q.allowMissing.Store(false)
	// Now the instance without snapshot knows etcd's names again.
	waitFor(t, time.Second, "etcd names on "+without.label, func() (bool, string) {
		return answerIs(fmt.Sprintf("127.0.0.1:%d", without.port), stableName, dns.TypeA, stableAddr)
	})
}
