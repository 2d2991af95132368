package e2e

// The snapshot file (`snapshot PATH`): after every change it holds exactly the
// data being served, and it is replaced atomically, so a CoreDNS killed at any
// moment leaves either no file or a complete one, never a torn one. A complete
// snapshot is what src/engine.rs writes: the line "# etcdhosts snapshot,
// revision N" and then the value of the key at revision N, byte for byte.

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const snapshotHeader = "# etcdhosts snapshot, revision "

// values remembers the value the test wrote at each revision.
type values struct {
	mu    sync.Mutex
	byRev map[int64]string
}

func (v *values) add(rev int64, text string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byRev[rev] = text
}

func (v *values) at(rev int64) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.byRev[rev]
	return s, ok
}

func writerError(p *atomic.Pointer[error]) error {
	if e := p.Load(); e != nil {
		return *e
	}
	return nil
}

// checkSnapshot parses a snapshot and compares it with the value written at its
// revision; it returns the revision, or an error saying what is wrong.
func checkSnapshot(b []byte, vals *values) (int64, error) {
	s := string(b)
	nl := strings.IndexByte(s, '\n')
	if !strings.HasPrefix(s, snapshotHeader) || nl < 0 {
		return 0, fmt.Errorf("no header line: %q", tail(s[:min(len(s), 80)], 80))
	}
	rev, err := strconv.ParseInt(s[len(snapshotHeader):nl], 10, 64)
	if err != nil || rev <= 0 {
		return 0, fmt.Errorf("header %q: no revision", s[:nl])
	}
	want, ok := vals.at(rev)
	if !ok {
		return rev, fmt.Errorf("revision %d: the test wrote no value at that revision", rev)
	}
	if got := s[nl+1:]; got != want {
		return rev, fmt.Errorf("revision %d: %d bytes of data, the value written at that revision has %d (torn or foreign)", rev, len(got), len(want))
	}
	return rev, nil
}

// TestSnapshotFollowsUpdates: the snapshot holds the first value, then, after a
// put, exactly the new one; a CoreDNS started later with etcd down serves it.
func TestSnapshotFollowsUpdates(t *testing.T) {
	etcd := startEtcd(t)
	gw := newGW(5*time.Second, nil)
	const key = "/e2e/snapshot-updates"
	vals := &values{byRev: map[int64]string{}}
	put := func(text string) int64 {
		t.Helper()
		rev, err := gw.put(etcd.url(), key, text)
		if err != nil {
			t.Fatal(err)
		}
		vals.add(rev, text)
		return rev
	}
	snap := filepath.Join(t.TempDir(), "etcdhosts.snapshot")
	corefile := func(port int, endpoint string) string {
		return fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        key %s
        endpoint %s
        timeout 500ms
        snapshot %s
    }
}
`, port, key, endpoint, snap)
	}
	waitSnapshot := func(rev int64) {
		t.Helper()
		waitFor(t, 10*time.Second, fmt.Sprintf("the snapshot of revision %d", rev), func() (bool, string) {
			b, err := os.ReadFile(snap)
			if err != nil {
				return false, err.Error()
			}
			got, err := checkSnapshot(b, vals)
			if err != nil {
				return false, err.Error()
			}
			return got == rev, fmt.Sprintf("snapshot at revision %d", got)
		})
	}
	rev1 := put("10.8.0.1 snap.example.org\n10.8.0.2 old.example.org\n")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := startCoreDNS(t, corefile(port, etcd.url()), addr)
	waitFor(t, 10*time.Second, "the first value", func() (bool, string) {
		return answerIs(addr, "snap.example.org.", dns.TypeA, "10.8.0.1")
	})
	waitSnapshot(rev1)

	rev2 := put("# second\n10.8.0.9 snap.example.org\n10.8.0.3 new.example.org\n")
	waitFor(t, 10*time.Second, "the second value", func() (bool, string) {
		return answerIs(addr, "new.example.org.", dns.TypeA, "10.8.0.3")
	})
	waitSnapshot(rev2)
	b, _ := os.ReadFile(snap)
	if strings.Contains(string(b), "old.example.org") {
		t.Fatalf("the snapshot still holds the first value:\n%s", b)
	}

	// The file is what a restart with etcd down serves.
	c.proc.kill(t)
	etcd.stop(t)
	port2 := freePort(t)
	addr2 := fmt.Sprintf("127.0.0.1:%d", port2)
	startCoreDNS(t, corefile(port2, etcd.url()), addr2)
	if ok, why := answerIs(addr2, "new.example.org.", dns.TypeA, "10.8.0.3"); !ok {
		t.Fatalf("restarted with etcd down: %s", why)
	}
	if ok, why := rcodeIs(addr2, "old.example.org.", dns.TypeA, dns.RcodeNameError); !ok {
		t.Fatalf("restarted with etcd down: %s", why)
	}
	if got, err := servedRevision(udpExchange(addr2)); err != nil || got != rev2 {
		t.Fatalf("restarted with etcd down: serves revision %d (%v), want %d", got, err, rev2)
	}
}

// TestSnapshotKill9: a writer puts a 32 KiB value every 10 ms while CoreDNS is
// started and SIGKILLed again and again, each time right when it starts serving
// a new revision (that is when it writes the snapshot). After every kill the
// file is absent (only before the first snapshot) or complete; and the last one
// is served by a CoreDNS started with etcd down.
func TestSnapshotKill9(t *testing.T) {
	const rounds = 30
	etcd := startEtcd(t)
	gw := newGW(10*time.Second, nil)
	dir := t.TempDir()
	snap := filepath.Join(dir, "etcdhosts.snapshot")
	tmp := filepath.Join(dir, "etcdhosts.tmp") // engine.rs: path.with_extension("tmp")
	vals := &values{byRev: map[int64]string{}}

	// The writer: a new 32 KiB version every 10 ms.
	stop, done := make(chan struct{}), make(chan struct{})
	var writeErr atomic.Pointer[error]
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for v := 1; ; v++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			text := hostsVersion(v, 32<<10)
			rev, err := gw.put(etcd.url(), faultKey, text)
			if err != nil {
				writeErr.Store(&err)
				return
			}
			vals.add(rev, text)
		}
	}()
	stopWriter := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}
	t.Cleanup(stopWriter)

	corefile := func(port int, endpoint string) string {
		return fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        key %s
        endpoint %s
        timeout 1s
        snapshot %s
    }
}
`, port, faultKey, endpoint, snap)
	}
	rnd := rand.New(rand.NewPCG(11, 12))
	var last int64
	absent, midWrite := 0, 0
	for round := 1; round <= rounds; round++ {
		// A temp file left by the previous kill would hide whether this kill landed
		// mid-write; CoreDNS is not running now.
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		port := freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		c := startCoreDNS(t, corefile(port, etcd.url()), addr)
		ex := udpExchange(addr)
		first, _ := servedRevision(ex)
		// Kill right after the n-th new revision shows up in an answer: the snapshot
		// is written just after the table is swapped in. Polled back to back.
		n := 1 + rnd.IntN(4)
		seen, prev := 0, first
		deadline := time.Now().Add(20 * time.Second)
		for seen < n {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d new revisions served within 20 s (writer error: %v)", round, seen, n, writerError(&writeErr))
			}
			if got, err := servedRevision(ex); err == nil && got != prev {
				prev = got
				seen++
			}
		}
		c.proc.kill(t)

		if _, err := os.Stat(tmp); err == nil {
			midWrite++
		}
		b, err := os.ReadFile(snap)
		if errors.Is(err, fs.ErrNotExist) {
			if last > 0 {
				t.Fatalf("round %d: the snapshot (revision %d before) is gone after a kill", round, last)
			}
			absent++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var rev int64
		// The writer may not have recorded a put that etcd already delivered.
		waitFor(t, 10*time.Second, fmt.Sprintf("round %d: a complete snapshot", round), func() (bool, string) {
			var err error
			rev, err = checkSnapshot(b, vals)
			if err != nil && strings.Contains(err.Error(), "wrote no value") && writeErr.Load() == nil {
				return false, err.Error()
			}
			if err != nil {
				t.Fatalf("round %d: after kill -9 the snapshot is not complete: %v", round, err)
			}
			return true, ""
		})
		if rev < last {
			t.Fatalf("round %d: the snapshot went back from revision %d to %d", round, last, rev)
		}
		last = rev
	}
	stopWriter()
	if err := writerError(&writeErr); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if last == 0 {
		t.Fatalf("no snapshot was ever written in %d rounds", rounds)
	}
	// The test proves something only if kills landed mid-write (between the temp
	// file's creation and its rename), and if the check would see a torn file.
	if midWrite == 0 {
		t.Errorf("no kill landed while a snapshot was being written: this run did not test atomicity")
	}
	if b, err := os.ReadFile(snap); err == nil {
		if _, err := checkSnapshot(b[:len(b)-len(b)/3], vals); err == nil {
			t.Errorf("checkSnapshot accepts a snapshot cut short")
		}
	}
	t.Logf("RESULT %s: %d kill -9 rounds: snapshot absent after %d (before the first was written), complete after %d; %d kills landed while a new snapshot was being written (its temp file left behind); last snapshot at revision %d",
		t.Name(), rounds, absent, rounds-absent, midWrite, last)

	// The last snapshot is what a CoreDNS started with etcd down serves.
	etcd.stop(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startCoreDNS(t, corefile(port, etcd.url()), addr)
	if got, err := servedRevision(udpExchange(addr)); err != nil || got != last {
		t.Fatalf("started with etcd down: serves revision %d (%v), want the snapshot's %d", got, err, last)
	}
	if ok, why := answerIs(addr, stableName, dns.TypeA, stableAddr); !ok {
		t.Fatalf("started with etcd down: %s", why)
	}
}
