package e2e

// The chunked layout end to end: dnsctl writes a hosts file larger than a default
// etcd's request limit, three CoreDNS instances serve it and converge on every edit,
// and a version naming a missing chunk is counted, not served.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var (
	dnsctlOnce sync.Once
	dnsctlPath string
	dnsctlErr  error
)

// dnsctlBin is $DNSCTL_BIN, else the workspace's debug build (built once here).
func dnsctlBin(t testing.TB) string {
	t.Helper()
	dnsctlOnce.Do(func() {
		if dnsctlPath = os.Getenv("DNSCTL_BIN"); dnsctlPath != "" {
			return
		}
		cmd := exec.Command("cargo", "build", "-q", "-p", "dnsctl")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			dnsctlErr = fmt.Errorf("cargo build -p dnsctl: %v\n%s", err, out)
			return
		}
		dnsctlPath = filepath.Join(repoRoot, "target", "debug", "dnsctl")
	})
	if dnsctlErr != nil {
		t.Fatal(dnsctlErr)
	}
	return dnsctlPath
}

// dnsctl runs dnsctl against etcd and key, with no config file and its own cache.
func dnsctl(t testing.TB, etcd *etcdServer, key, cache string, args ...string) string {
	t.Helper()
	cmd := exec.Command(dnsctlBin(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+cache, "DNSCTL_CACHE_DIR="+cache,
		"ETCDCTL_ENDPOINTS="+etcd.url(), "DNSCTL_HOSTS_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dnsctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestChunkedThreeInstances(t *testing.T) {
	const key = "/e2e/chunked"
	etcd := startEtcd(t) // default limits: 1.5 MiB per request
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 60000; i++ {
		fmt.Fprintf(&b, "10.%d.%d.%d host%d.example.org\n", i>>16, (i>>8)&255, i&255, i)
	}
	if b.Len() <= 1536*1024 {
		t.Fatalf("the file is %d bytes: not over the request limit", b.Len())
	}
	file := filepath.Join(dir, "hosts")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dnsctl(t, etcd, key, dir, "upload", file)
	head := etcd.mustCtl(t, "get", key, "--print-value-only")
	if !strings.HasPrefix(head, "# etcdhosts chunked hosts data v1.") {
		t.Fatalf("the key's value is not a manifest: %.200s", head)
	}

	type instance struct{ addr, metrics string }
	var fleet []instance
	for i := 0; i < 3; i++ {
		port, metricsPort := freePort(t), freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    etcdhosts {
        key %s
        endpoint %s
    }
}
`, port, metricsPort, key, etcd.url()), addr)
		fleet = append(fleet, instance{addr, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)})
	}
	for _, in := range fleet {
		waitFor(t, 20*time.Second, "the chunked data on "+in.addr, func() (bool, string) {
			return answerIs(in.addr, "host59999.example.org.", dns.TypeA, "10.0.234.95")
		})
	}

	for round := 1; round <= 3; round++ {
		name, ip := fmt.Sprintf("added%d.example.org", round), fmt.Sprintf("10.200.0.%d", round)
		dnsctl(t, etcd, key, dir, "add", name, ip)
		start := time.Now()
		for _, in := range fleet {
			waitFor(t, 10*time.Second, name+" on "+in.addr, func() (bool, string) {
				return answerIs(in.addr, name+".", dns.TypeA, ip)
			})
		}
		t.Logf("round %d: all 3 instances serve the add %v after dnsctl exited", round, time.Since(start))
	}

	// A version naming a chunk that is not there: counted, and the last one stays.
	before := metricValue(t, fleet[0].metrics, "coredns_etcdhosts_bad_versions_total")
	chunks := strings.Fields(etcd.mustCtl(t, "get", "--prefix", key+".chunks/", "--keys-only"))
	etcd.mustCtl(t, "del", chunks[0])
	etcd.mustCtl(t, "del", chunks[len(chunks)-1])
	// A plain put makes every instance re-read, then the manifest again names what is gone.
	etcd.put(t, key, "10.9.9.9 plain.example.org\n")
	for _, in := range fleet {
		waitFor(t, 10*time.Second, "the plain value on "+in.addr, func() (bool, string) {
			return answerIs(in.addr, "plain.example.org.", dns.TypeA, "10.9.9.9")
		})
	}
	etcd.put(t, key, strings.TrimRight(head, "\n")+"\n")
	waitFor(t, 10*time.Second, "the bad version counted", func() (bool, string) {
		v := metricValue(t, fleet[0].metrics, "coredns_etcdhosts_bad_versions_total")
		return v > before, fmt.Sprintf("bad_versions_total %v", v)
	})
	for _, in := range fleet {
		if ok, why := answerIs(in.addr, "plain.example.org.", dns.TypeA, "10.9.9.9"); !ok {
			t.Errorf("%s no longer serves the last good version: %s", in.addr, why)
		}
	}
}
