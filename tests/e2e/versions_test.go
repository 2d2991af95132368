package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// supportedCoreDNSVersions reads the newest and the oldest supported CoreDNS versions from
// build.sh (DEFAULT_COREDNS_VERSION and OLDEST_COREDNS_VERSION), so that a change of either
// is tested without editing this file.
func supportedCoreDNSVersions(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, name := range []string{"DEFAULT_COREDNS_VERSION", "OLDEST_COREDNS_VERSION"} {
		m := regexp.MustCompile(`(?m)^` + name + `=(v[0-9]+\.[0-9]+\.[0-9]+)$`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("build.sh: no line %s=vX.Y.Z", name)
		}
		versions = append(versions, string(m[1]))
	}
	if versions[0] == versions[1] {
		t.Fatalf("build.sh: the default and the oldest CoreDNS version are both %s", versions[0])
	}
	return versions
}

// TestSupportedVersions runs a short black-box DNS check against each supported CoreDNS
// version built by `ETCDHOSTS_COREDNS_ONLY=1 ./build.sh v1.12.4 v1.15.0` (test.sh does): A,
// AAAA and PTR answers from etcd, NXDOMAIN for an unknown name, and an update through the
// watch. A supported version whose binary is missing fails the test; it is never skipped.
// It always uses build/coredns-<version>/coredns, whatever COREDNS_BIN says.
func TestSupportedVersions(t *testing.T) {
	for _, version := range supportedCoreDNSVersions(t) {
		t.Run(version, func(t *testing.T) {
			bin := filepath.Join(repoRoot, "build", "coredns-"+version, "coredns")
			if _, err := os.Stat(bin); err != nil {
				t.Fatalf("CoreDNS %s is supported but not built: %v\n(build it with: ETCDHOSTS_COREDNS_ONLY=1 ./build.sh %s)", version, err, version)
			}
			checkVersion(t, bin, version)
		})
	}
}

func checkVersion(t *testing.T, bin, version string) {
	// The binary is the version it claims to be, with the plugin in it.
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -version: %v\n%s", bin, err, out)
	}
	if want := "CoreDNS-" + strings.TrimPrefix(version, "v"); !strings.Contains(string(out), want) {
		t.Fatalf("%s -version says %q, want %s", bin, out, want)
	}
	if !strings.Contains(string(out), "etcdhosts") {
		t.Errorf("%s -version does not name etcdhosts: %q", bin, out)
	}
	out, err = exec.Command(bin, "-plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -plugins: %v\n%s", bin, err, out)
	}
	if !regexp.MustCompile(`(?m)^(dns\.)?etcdhosts$`).Match(out) {
		t.Fatalf("%s -plugins does not list etcdhosts:\n%s", bin, out)
	}

	etcd := startEtcd(t)
	const key = "/e2e/versions"
	etcd.put(t, key, "10.1.2.3 web.example.org\n2001:db8::7 web.example.org\n10.1.2.4 db.example.org\n")

	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`example.org:%d in-addr.arpa:%d ip6.arpa:%d {
    bind 127.0.0.1
    etcdhosts {
        key %s
        endpoint %s
        ttl 60
    }
}
`, port, port, port, key, etcd.url())), 0o644); err != nil {
		t.Fatal(err)
	}
	cd := &coreDNS{dir: dir, corefile: corefile}
	cd.proc = startProc(t, "coredns-"+version, nil, dir, bin, "-conf", corefile)
	cd.waitServing(t, addr)
	waitFor(t, 10*time.Second, "the first read from etcd", func() (bool, string) {
		return answerIs(addr, "web.example.org.", dns.TypeA, "10.1.2.3")
	})

	for _, network := range []string{"udp", "tcp"} {
		r := query(t, addr, network, "web.example.org.", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !sameSet(addrs(r), []string{"10.1.2.3"}) {
			t.Errorf("A over %s: rcode %s aa %v answer %v, want NOERROR, AA, [10.1.2.3]", network, dns.RcodeToString[r.Rcode], r.Authoritative, addrs(r))
		}
		if len(r.Answer) == 1 && r.Answer[0].Header().Ttl != 60 {
			t.Errorf("A over %s: TTL %d, want 60", network, r.Answer[0].Header().Ttl)
		}
	}
	r := query(t, addr, "udp", "WEB.example.org.", dns.TypeAAAA)
	if r.Rcode != dns.RcodeSuccess || !sameSet(addrs(r), []string{"2001:db8::7"}) {
		t.Errorf("AAAA: rcode %s answer %v, want NOERROR [2001:db8::7]", dns.RcodeToString[r.Rcode], addrs(r))
	}
	r = query(t, addr, "udp", "3.2.1.10.in-addr.arpa.", dns.TypePTR)
	if r.Rcode != dns.RcodeSuccess || !sameSet(addrs(r), []string{"web.example.org."}) {
		t.Errorf("PTR 10.1.2.3: rcode %s answer %v, want NOERROR [web.example.org.]", dns.RcodeToString[r.Rcode], addrs(r))
	}
	ptr6, err := dns.ReverseAddr("2001:db8::7")
	if err != nil {
		t.Fatal(err)
	}
	r = query(t, addr, "udp", ptr6, dns.TypePTR)
	if r.Rcode != dns.RcodeSuccess || !sameSet(addrs(r), []string{"web.example.org."}) {
		t.Errorf("PTR 2001:db8::7: rcode %s answer %v, want NOERROR [web.example.org.]", dns.RcodeToString[r.Rcode], addrs(r))
	}

	// A miss: NXDOMAIN, authoritative, with the synthesized SOA whose serial is the revision.
	rev := etcd.revision(t)
	r = query(t, addr, "udp", "nope.example.org.", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Answer) != 0 {
		t.Errorf("miss: rcode %s aa %v answer %v, want NXDOMAIN, AA, no answer", dns.RcodeToString[r.Rcode], r.Authoritative, addrs(r))
	}
	if len(r.Ns) != 1 {
		t.Errorf("miss: authority %v, want one SOA", r.Ns)
	} else if soa, ok := r.Ns[0].(*dns.SOA); !ok || soa.Hdr.Name != "example.org." || int64(soa.Serial) != rev {
		t.Errorf("miss: authority %v, want the SOA of example.org. with serial %d", r.Ns[0], rev)
	}

	// An update reaches the answers through the watch, without a reload.
	etcd.put(t, key, "10.9.9.9 web.example.org\n10.1.2.4 db.example.org\nfd00::5 new.example.org\n")
	waitFor(t, 5*time.Second, "the update to be served", func() (bool, string) {
		return answerIs(addr, "web.example.org.", dns.TypeA, "10.9.9.9")
	})
	waitFor(t, 5*time.Second, "the new name to be served", func() (bool, string) {
		return answerIs(addr, "new.example.org.", dns.TypeAAAA, "fd00::5")
	})
	r = query(t, addr, "udp", "web.example.org.", dns.TypeAAAA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("AAAA after the update (address removed): rcode %s answer %v, want NOERROR with no answer (NODATA)", dns.RcodeToString[r.Rcode], addrs(r))
	}
	r = query(t, addr, "udp", "3.2.1.10.in-addr.arpa.", dns.TypePTR)
	if len(addrs(r)) != 0 {
		t.Errorf("PTR of the removed address after the update: answer %v, want none", addrs(r))
	}
	if cd.proc.exited() {
		t.Fatalf("CoreDNS %s exited: %v", version, cd.proc.err)
	}
}
