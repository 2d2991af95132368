package e2e

// Security tests (issue 5, part 3): etcd with client-certificate authentication,
// and etcd with users, passwords and RBAC. CoreDNS works with a read-only role;
// a wrong password, an expired certificate, a certificate from a CA etcd does
// not trust, a server CA CoreDNS does not trust and a role without access to
// the key each give a log line that says what is wrong, and no crash. No
// password ever appears in a log, nor on the command line or in the
// environment of any process the tests start.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// keyDNS starts one CoreDNS bound to 127.0.0.1 serving key from endpoint, with extra
// options (credentials, tls, status_key) in the block and one inline name.
func keyDNS(t *testing.T, label, key, endpoint, extra string) (*coreDNS, string) {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        %s %s
        key %s
        endpoint %s
        timeout 2s
        %s
    }
}
`, port, inlineAddr, inlineName, key, endpoint, extra), addr)
	c.proc.name = "coredns " + label
	return c, addr
}

// waitLog waits until the output of c has a line containing every one of words.
func waitLog(t *testing.T, label string, c *coreDNS, timeout time.Duration, words ...string) string {
	t.Helper()
	var found string
	waitFor(t, timeout, fmt.Sprintf("%s to log %q", label, words), func() (bool, string) {
	lines:
		for _, line := range strings.Split(c.output(), "\n") {
			for _, w := range words {
				if !strings.Contains(strings.ToLower(line), strings.ToLower(w)) {
					continue lines
				}
			}
			found = line
			return true, ""
		}
		return false, tail(c.output(), 1500)
	})
	return found
}

// stillServing: the process is alive and answers its inline name.
func stillServing(t *testing.T, label string, c *coreDNS, addr string) {
	t.Helper()
	if c.proc.exited() {
		t.Fatalf("%s exited: %v\n%s", label, c.proc.err, tail(c.output(), 3000))
	}
	if ok, why := answerIs(addr, inlineName, dns.TypeA, inlineAddr); !ok {
		t.Errorf("%s: inline record not served: %s", label, why)
	}
}

// TestSecurityTLS: client-certificate authentication.
func TestSecurityTLS(t *testing.T) {
	etcd := startTLSEtcd(t)
	etcd.put(t, "/sec/tls", stableAddr+" "+stableName+"\n")
	pki := etcd.tls
	good, goodAddr := keyDNS(t, "good", "/sec/tls", etcd.url(), fmt.Sprintf("tls %s %s %s", pki.clientCert, pki.clientKey, pki.ca))
	waitFor(t, 10*time.Second, "data over TLS", func() (bool, string) {
		return answerIs(goodAddr, stableName, dns.TypeA, stableAddr)
	})
	etcd.put(t, "/sec/tls", "10.250.0.2 "+stableName+"\n")
	waitFor(t, 10*time.Second, "watch over TLS", func() (bool, string) {
		return answerIs(goodAddr, stableName, dns.TypeA, "10.250.0.2")
	})

	cases := []struct {
		label, tls string
		words      []string // all in one log line
	}{
		{"expired client certificate", fmt.Sprintf("tls %s %s %s", pki.expiredCert, pki.expiredKey, pki.ca), []string{"WARNING", etcd.url(), "etcd refused the client certificate", "expired", "check the certificate and key of the tls option"}},
		{"client certificate from an untrusted CA", fmt.Sprintf("tls %s %s %s", pki.strangerCert, pki.strangerKey, pki.ca), []string{"WARNING", etcd.url(), "etcd refused the client certificate", "not signed by a CA etcd trusts"}},
		{"no client certificate", fmt.Sprintf("tls %s", pki.ca), []string{"WARNING", etcd.url(), "etcd refused the client certificate", "missing"}},
		{"server certificate from an untrusted CA", fmt.Sprintf("tls %s %s %s", pki.clientCert, pki.clientKey, pki.otherCA), []string{"WARNING", etcd.url(), "server certificate is not signed by the CA of the tls option"}},
	}
	for _, tc := range cases {
		c, addr := keyDNS(t, tc.label, "/sec/tls", etcd.url(), tc.tls)
		line := waitLog(t, tc.label, c, 60*time.Second, tc.words...)
		t.Logf("%s: %s", tc.label, line)
		stillServing(t, tc.label, c, addr)
		if ok, why := rcodeIs(addr, stableName, dns.TypeA, dns.RcodeNameError); !ok {
			t.Errorf("%s: etcd data served anyway: %s", tc.label, why)
		}
	}
	stillServing(t, "good", good, goodAddr)
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

// gwAuthSetup turns on etcd authentication through the JSON gateway (every
// password in a request body, none on a command line): root, a read-only role
// on key for user, and a role with access to another prefix only for nobody.
func gwAuthSetup(t *testing.T, gw *etcdGW, endpoint, key string, passwords map[string]string) {
	t.Helper()
	must := func(path string, req any) {
		t.Helper()
		if err := gw.call(endpoint, path, req, nil); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	for _, u := range []string{"root", "coredns", "nobody"} {
		must("/v3/auth/user/add", map[string]string{"name": u, "password": passwords[u]})
	}
	must("/v3/auth/user/grant", map[string]string{"user": "root", "role": "root"})
	must("/v3/auth/role/add", map[string]string{"name": "hosts-reader"})
	must("/v3/auth/role/grant", map[string]any{"name": "hosts-reader", "perm": map[string]string{"permType": "READ", "key": b64(key)}})
	must("/v3/auth/user/grant", map[string]string{"user": "coredns", "role": "hosts-reader"})
	must("/v3/auth/role/add", map[string]string{"name": "other-reader"})
	must("/v3/auth/role/grant", map[string]any{"name": "other-reader", "perm": map[string]string{"permType": "READ", "key": b64("/other/"), "range_end": b64("/other0")}})
	must("/v3/auth/user/grant", map[string]string{"user": "nobody", "role": "other-reader"})
	must("/v3/auth/enable", map[string]string{})
}

// TestSecurityRBAC: users and passwords, a read-only role for CoreDNS; short
// auth tokens (2 s TTL) and an etcd restart on the way.
func TestSecurityRBAC(t *testing.T) {
	const key = "/sec/hosts"
	passwords := map[string]string{"root": randomPassword(t), "coredns": randomPassword(t), "nobody": randomPassword(t)}
	wrong := randomPassword(t)
	etcd := newEtcd(t)
	etcd.extraArgs = []string{"--auth-token", "simple", "--auth-token-ttl", "2"}
	etcd.start(t)
	gw := newGW(2*time.Second, nil)
	if _, err := gw.put(etcd.url(), key, hostsVersion(0, 0)); err != nil {
		t.Fatal(err)
	}
	gwAuthSetup(t, gw, etcd.url(), key, passwords)
	if _, err := gw.put(etcd.url(), key, hostsVersion(1, 0)); err == nil {
		t.Fatal("etcd accepted an unauthenticated put after auth enable")
	}

	// CoreDNS with the read-only user: reads, watches, and cannot write.
	good, goodAddr := keyDNS(t, "read-only user", key, etcd.url(), fmt.Sprintf("credentials coredns %s", passwords["coredns"]))
	reader := newGW(2*time.Second, nil)
	if err := reader.authenticate(etcd.url(), "coredns", passwords["coredns"]); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.put(etcd.url(), key, "10.0.0.1 evil.example.org\n"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("the read-only role could write: %v", err)
	}
	if err := gw.authenticate(etcd.url(), "root", passwords["root"]); err != nil {
		t.Fatal(err)
	}
	w := startWriter(t, gw, []string{etcd.url()}, key, 0)
	d := &faultDNS{label: "read-only user", ex: udpExchange(goodAddr), c: good}
	d.q = startQuerier(t, d.label, d.ex)
	// Several token lifetimes of updates through one watch.
	waitFor(t, 20*time.Second, "60 writes (3 token lifetimes)", func() (bool, string) {
		st := w.stats()
		return st.ok >= 60, fmt.Sprintf("%+v", st)
	})
	_, sincePut := converge(t, w, time.Now(), d)
	t.Logf("read-only user: at the last revision %v after the last put, after 3 token lifetimes", sincePut.Round(time.Millisecond))

	// etcd restarts (every token is gone); the root writer logs in again.
	etcd.stop(t)
	etcd.launch(t)
	waitFor(t, 20*time.Second, "etcd to restart", func() (bool, string) {
		return gw.healthy(etcd.url()), "not healthy"
	})
	restarted := time.Now()
	if err := gw.authenticate(etcd.url(), "root", passwords["root"]); err != nil {
		t.Fatal(err)
	}
	converge(t, w, restarted, d)

	// A wrong password, and a user whose role cannot read the key.
	bad, badAddr := keyDNS(t, "wrong password", key, etcd.url(), fmt.Sprintf("credentials coredns %s", wrong))
	line := waitLog(t, "wrong password", bad, 15*time.Second, "WARNING", "authentication failed", `user "coredns"`, "credentials")
	t.Logf("wrong password: %s", line)
	stillServing(t, "wrong password", bad, badAddr)
	noAccess, noAccessAddr := keyDNS(t, "role without access", key, etcd.url(), fmt.Sprintf("credentials nobody %s", passwords["nobody"]))
	line = waitLog(t, "role without access", noAccess, 15*time.Second, "WARNING", "permission denied", "read access to "+key)
	t.Logf("role without access: %s", line)
	stillServing(t, "role without access", noAccess, noAccessAddr)
	if ok, why := rcodeIs(badAddr, stableName, dns.TypeA, dns.RcodeNameError); !ok {
		t.Errorf("wrong password: etcd data served: %s", why)
	}
	if ok, why := rcodeIs(noAccessAddr, stableName, dns.TypeA, dns.RcodeNameError); !ok {
		t.Errorf("role without access: etcd data served: %s", why)
	}

	// No password in any log, nor on any command line or environment.
	secrets := []string{passwords["root"], passwords["coredns"], passwords["nobody"], wrong}
	logs := map[string]string{"etcd": etcd.proc.out.String(), "coredns (read-only user)": good.output(),
		"coredns (wrong password)": bad.output(), "coredns (role without access)": noAccess.output()}
	for name, out := range logs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("a password appears in the log of %s", name)
			}
		}
	}
	checkNoSecretsInProcesses(t, secrets, good.proc.pid(), bad.proc.pid(), noAccess.proc.pid(), etcd.proc.pid())
	d.q.check(t)
	n, f := d.q.counts()
	t.Logf("RESULT %s: %d queries, %d failed", t.Name(), n, f)
}

// checkNoSecretsInProcesses: no process on the machine has a secret on its
// command line (what ps shows), and the processes started here have none in
// their environment either.
func checkNoSecretsInProcesses(t *testing.T, secrets []string, ours ...int) {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		checked++
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("a password is on the command line of process %d: %q", pid, strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}
	for _, pid := range ours {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Errorf("environment of %d: %v", pid, err)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("a password is in the environment of process %d", pid)
			}
		}
	}
	t.Logf("no password on the command line of %d processes nor in the environment of %d processes started here", checked, len(ours))
}
