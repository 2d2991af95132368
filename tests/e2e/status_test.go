package e2e

// Fleet status (status_key): every CoreDNS keeps one lease-backed key under the
// prefix saying which revision it serves. The key goes with the process (clean
// stop, SIGKILL, a long SIGSTOP), a frozen instance visibly lags behind, and
// without the option nothing at all is written to etcd.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	statusHostsKey = "/e2e/fleet/hosts"
	statusPrefix   = "/e2e-status/"
)

// statusValue is the JSON value of a status key: the contract with dnsctl serve.
type statusValue struct {
	Instance         string `json:"instance"`
	Hostname         string `json:"hostname"`
	Listen           string `json:"listen"`
	PID              int    `json:"pid"`
	Key              string `json:"key"`
	Revision         int64  `json:"revision"`
	Entries          int64  `json:"entries"`
	InvalidLines     int64  `json:"invalid_lines"`
	LastReload       string `json:"last_reload"`
	LastReloadUnixMs int64  `json:"last_reload_unix_ms"`
	Started          string `json:"started"`
	Version          string `json:"version"`
	EtcdConnected    bool   `json:"etcd_connected"`
}

// statusKV is one status key as stored in etcd.
type statusKV struct {
	v           statusValue
	raw         string
	lease       int64
	modRevision int64
}

// readStatus returns the status key (nil if it does not exist), read through
// etcd's JSON gateway.
func readStatus(gw *etcdGW, endpoint, key string) (*statusKV, error) {
	var r struct {
		Kvs []struct {
			Value       []byte      `json:"value"`
			Lease       json.Number `json:"lease"`
			ModRevision json.Number `json:"mod_revision"`
		}
	}
	if err := gw.call(endpoint, "/v3/kv/range", map[string]string{"key": b64(key)}, &r); err != nil {
		return nil, err
	}
	if len(r.Kvs) == 0 {
		return nil, nil
	}
	kv := r.Kvs[0]
	s := &statusKV{raw: string(kv.Value)}
	dec := json.NewDecoder(bytes.NewReader(kv.Value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.v); err != nil {
		return nil, fmt.Errorf("status value %s: %v", kv.Value, err)
	}
	var fields map[string]any
	if err := json.Unmarshal(kv.Value, &fields); err != nil || len(fields) != 13 {
		return nil, fmt.Errorf("status value %s: want exactly 13 fields (%v)", kv.Value, err)
	}
	s.lease, _ = kv.Lease.Int64()
	s.modRevision, _ = kv.ModRevision.Int64()
	return s, nil
}

// waitStatus waits until key exists and cond holds for it.
func waitStatus(t *testing.T, gw *etcdGW, endpoint, key string, timeout time.Duration, what string, cond func(*statusKV) bool) *statusKV {
	t.Helper()
	var s *statusKV
	waitFor(t, timeout, what, func() (bool, string) {
		var err error
		s, err = readStatus(gw, endpoint, key)
		if err != nil || s == nil {
			return false, fmt.Sprintf("%s: %v", key, err)
		}
		return cond(s), s.raw
	})
	return s
}

// waitStatusGone waits until key no longer exists and returns how long that took.
func waitStatusGone(t *testing.T, gw *etcdGW, endpoint, key string, timeout time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, timeout, what, func() (bool, string) {
		s, err := readStatus(gw, endpoint, key)
		if err != nil {
			return false, err.Error()
		}
		if s != nil {
			return false, fmt.Sprintf("still there: %s", s.raw)
		}
		return true, ""
	})
	return time.Since(start)
}

// statusDNS starts one CoreDNS bound to 127.0.0.1 serving statusHostsKey, with
// extra options in the etcdhosts block.
func statusDNS(t *testing.T, label, endpoint, extra string) (c *coreDNS, addr string, port int) {
	t.Helper()
	c, addr = keyDNS(t, label, statusHostsKey, endpoint, extra)
	_, p, _ := net.SplitHostPort(addr)
	port, _ = strconv.Atoi(p)
	return c, addr, port
}

func mustHostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestStatusKey: two CoreDNS with status_key. Each writes its key with the
// contract's JSON on a 10 s lease; a put moves both; a SIGSTOPped instance lags
// behind the key's mod revision while the other matches, and catches up on
// SIGCONT; a SIGKILLed instance's key is gone within 15 s; a long SIGSTOP lets
// the lease expire and SIGCONT brings the key back on a new lease; a reload
// hands the key to the new instance; a clean stop removes the key at once.
func TestStatusKey(t *testing.T) {
	etcd := startEtcd(t)
	ep := etcd.url()
	gw := newGW(5*time.Second, nil)
	rev1 := etcd.put(t, statusHostsKey, stableAddr+" "+stableName+"\n")
	host := mustHostname(t)

	a, _, portA := statusDNS(t, "a", ep, "status_key /e2e-status")
	b, addrB, portB := statusDNS(t, "b", ep, "status_key "+statusPrefix)
	keyA := fmt.Sprintf("%s%s/127.0.0.1:%d", statusPrefix, host, portA)
	keyB := fmt.Sprintf("%s%s/127.0.0.1:%d", statusPrefix, host, portB)

	sa := waitStatus(t, gw, ep, keyA, 10*time.Second, "a's status key", func(s *statusKV) bool {
		return s.v.Revision == rev1 && s.v.EtcdConnected
	})
	sb := waitStatus(t, gw, ep, keyB, 10*time.Second, "b's status key", func(s *statusKV) bool {
		return s.v.Revision == rev1 && s.v.EtcdConnected
	})
	t.Logf("a: %s = %s", keyA, sa.raw)
	for _, c := range []struct {
		s    *statusKV
		port int
		pid  int
	}{{sa, portA, a.proc.pid()}, {sb, portB, b.proc.pid()}} {
		v := c.s.v
		listen := fmt.Sprintf("127.0.0.1:%d", c.port)
		if v.Instance != host+"/"+listen || v.Hostname != host || v.Listen != listen || v.PID != c.pid ||
			v.Key != statusHostsKey || v.Entries != 2 || v.InvalidLines != 0 || !strings.HasPrefix(v.Version, "0.") {
			t.Errorf("status %s", c.s.raw)
		}
		reload, err1 := time.Parse(time.RFC3339, v.LastReload)
		started, err2 := time.Parse(time.RFC3339, v.Started)
		if err1 != nil || err2 != nil || !strings.HasSuffix(v.LastReload, "Z") || reload.Unix() != v.LastReloadUnixMs/1000 ||
			started.After(reload) || time.Since(started) > time.Minute {
			t.Errorf("times in %s: %v %v", c.s.raw, err1, err2)
		}
		if c.s.lease == 0 {
			t.Errorf("status key without a lease: %+v", c.s)
		}
	}
	if sa.lease == sb.lease {
		t.Errorf("a and b share lease %x", sa.lease)
	}

	// The revision in the key is the SOA serial served.
	if got, err := servedRevision(udpExchange(addrB)); err != nil || got != rev1 {
		t.Errorf("b serves revision %d (%v), its status key says %d", got, err, rev1)
	}

	// a frozen: a put moves b's key, a's stays behind (its lease has not run out yet).
	leaseA := sa.lease
	a.proc.signal(t, syscall.SIGSTOP)
	stopped := time.Now()
	rev2 := etcd.put(t, statusHostsKey, stableAddr+" "+stableName+"\n10.250.0.2 two.example.org\n")
	sb = waitStatus(t, gw, ep, keyB, 5*time.Second, "b's status at the new revision", func(s *statusKV) bool {
		return s.v.Revision == rev2
	})
	mod, err := gw.modRevision(ep, statusHostsKey)
	if err != nil {
		t.Fatal(err)
	}
	sa, err = readStatus(gw, ep, keyA)
	if err != nil || sa == nil {
		t.Fatalf("a's key %v after %v of SIGSTOP: %v", sa, time.Since(stopped), err)
	}
	if !(sa.v.Revision < mod && sb.v.Revision == mod && sb.v.Entries == 3) {
		t.Fatalf("hosts key at mod revision %d: stopped a says %d, running b says %d (%s)", mod, sa.v.Revision, sb.v.Revision, sb.raw)
	}
	t.Logf("SIGSTOP: hosts key at revision %d; a (stopped) reports %d, b reports %d", mod, sa.v.Revision, sb.v.Revision)
	a.proc.signal(t, syscall.SIGCONT)
	sa = waitStatus(t, gw, ep, keyA, 10*time.Second, "a to catch up after SIGCONT", func(s *statusKV) bool {
		return s.v.Revision == mod
	})
	t.Logf("a caught up %v after SIGSTOP (lease kept: %v)", time.Since(stopped).Round(time.Millisecond), sa.lease == leaseA)

	// SIGKILL: nobody cleans up, the lease runs out.
	a.proc.kill(t)
	gone := waitStatusGone(t, gw, ep, keyA, 15*time.Second, "a's key to expire after SIGKILL")
	t.Logf("SIGKILL: a's status key gone %v after the kill", gone.Round(time.Millisecond))
	if s, err := readStatus(gw, ep, keyB); err != nil || s == nil {
		t.Fatalf("b's key went too: %v", err)
	}

	// A reload (SIGUSR1): the new instance takes the key over on its own lease,
	// and the old one, stopping after it, leaves it alone.
	corefile, err := os.ReadFile(b.corefile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(corefile), "timeout 2s", "timeout 2s\n        ttl 61", 1)
	if err := os.WriteFile(b.corefile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	b.proc.signal(t, syscall.SIGUSR1)
	waitLog(t, "b", b, 15*time.Second, "Reloading complete")
	reloaded, err := readStatus(gw, ep, keyB)
	if err != nil || reloaded == nil || reloaded.lease == sb.lease || reloaded.v.PID != b.proc.pid() || reloaded.v.Revision != mod {
		t.Fatalf("b's key after a reload (lease before %x): %+v %v", sb.lease, reloaded, err)
	}
	sb = reloaded

	// A SIGSTOP longer than the lease: the key goes, and comes back on a new lease.
	before := sb.lease
	b.proc.signal(t, syscall.SIGSTOP)
	gone = waitStatusGone(t, gw, ep, keyB, 15*time.Second, "b's key to expire while stopped")
	t.Logf("SIGSTOP: b's status key gone %v after the stop", gone.Round(time.Millisecond))
	b.proc.signal(t, syscall.SIGCONT)
	cont := time.Now()
	sb = waitStatus(t, gw, ep, keyB, 10*time.Second, "b's key back after SIGCONT", func(s *statusKV) bool {
		return s.lease != before && s.v.Revision == mod && s.v.EtcdConnected
	})
	t.Logf("SIGCONT: b's status key back %v later on a new lease", time.Since(cont).Round(time.Millisecond))
	if ok, why := answerIs(addrB, "two.example.org.", dns.TypeA, "10.250.0.2"); !ok {
		t.Errorf("b after SIGCONT: %s", why)
	}

	// A clean stop removes the key before CoreDNS exits.
	b.proc.stop(t)
	if s, err := readStatus(gw, ep, keyB); err != nil || s != nil {
		t.Errorf("b's key after a clean stop: %+v %v", s, err)
	}
	if got := b.output(); strings.Contains(got, "[WARNING] plugin/etcdhosts: status") {
		t.Errorf("b warned about its status key:\n%s", tail(got, 2000))
	}
}

// TestStatusReadOnlyUser: without status_key nothing at all is written (no
// key, no lease, the store's revision moves only with our own puts), so a
// read-only etcd user keeps working. With status_key the same user gets a
// warning that says what to do, and DNS is not affected.
func TestStatusReadOnlyUser(t *testing.T) {
	passwords := map[string]string{"root": randomPassword(t), "coredns": randomPassword(t), "nobody": randomPassword(t)}
	etcd := startEtcd(t)
	ep := etcd.url()
	gw := newGW(5*time.Second, nil)
	if _, err := gw.put(ep, statusHostsKey, stableAddr+" "+stableName+"\n"); err != nil {
		t.Fatal(err)
	}
	gwAuthSetup(t, gw, ep, statusHostsKey, passwords)
	if err := gw.authenticate(ep, "root", passwords["root"]); err != nil {
		t.Fatal(err)
	}
	// keyspace returns every key in the store and the store's revision.
	keyspace := func() ([]string, int64) {
		var r struct {
			Header gwHeader
			Kvs    []struct {
				Key []byte `json:"key"`
			}
		}
		if err := gw.call(ep, "/v3/kv/range", map[string]any{"key": b64("\x00"), "range_end": b64("\x00"), "keys_only": true}, &r); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range r.Kvs {
			keys = append(keys, string(kv.Key))
		}
		rev, _ := r.Header.Revision.Int64()
		return keys, rev
	}
	leases := func() int {
		var r struct {
			Leases []json.RawMessage `json:"leases"`
		}
		if err := gw.call(ep, "/v3/lease/leases", map[string]string{}, &r); err != nil {
			t.Fatal(err)
		}
		return len(r.Leases)
	}

	creds := "credentials coredns " + passwords["coredns"]
	off, offAddr, _ := statusDNS(t, "no status_key", ep, creds)
	waitFor(t, 10*time.Second, "the read-only user's data", func() (bool, string) {
		return answerIs(offAddr, stableName, dns.TypeA, stableAddr)
	})
	rev, err := gw.put(ep, statusHostsKey, stableAddr+" "+stableName+"\n10.250.0.3 three.example.org\n")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the put served", func() (bool, string) {
		return answerIs(offAddr, "three.example.org.", dns.TypeA, "10.250.0.3")
	})
	if got, err := servedRevision(udpExchange(offAddr)); err != nil || got != rev {
		t.Fatalf("serves revision %d (%v), want %d", got, err, rev)
	}
	keys, storeRev := keyspace()
	if len(keys) != 1 || keys[0] != statusHostsKey || storeRev != rev || leases() != 0 {
		t.Fatalf("without status_key: keys %q at revision %d (last put %d), %d leases", keys, storeRev, rev, leases())
	}
	for _, l := range strings.Split(off.output(), "\n") {
		if strings.Contains(l, "plugin/etcdhosts") && (strings.Contains(l, "status") || strings.Contains(l, "WARNING")) {
			t.Errorf("without status_key: %s", l)
		}
	}

	// The same user with status_key: a clear warning, answers unaffected.
	on, onAddr, _ := statusDNS(t, "status_key, read-only user", ep, creds+"\n        status_key "+statusPrefix)
	line := waitLog(t, "status_key, read-only user", on, 15*time.Second, "WARNING", "status key "+statusPrefix, "permission denied",
		"write access to the status prefix "+statusPrefix, "remove the status_key option")
	t.Logf("read-only user with status_key: %s", line)
	if ok, why := answerIs(onAddr, "three.example.org.", dns.TypeA, "10.250.0.3"); !ok {
		t.Errorf("read-only user with status_key: %s", why)
	}
	if keys, _ := keyspace(); len(keys) != 1 {
		t.Errorf("keys %q", keys)
	}
	// Its stop revokes the lease it got, without complaint.
	on.proc.stop(t)
	if n := leases(); n != 0 {
		t.Errorf("%d leases left after the stop", n)
	}
	if strings.Contains(on.output(), "not removed") {
		t.Errorf("stop of the read-only instance:\n%s", tail(on.output(), 2000))
	}
}
