package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// etcdServer is one Debian etcd (3.4) member in a temporary directory.
type etcdServer struct {
	clientPort, peerPort int
	dataDir              string
	scheme               string
	tls                  *pkiFiles // server side certificates when scheme is https
	proc                 *proc
	// for etcdctl
	user, password string
	clientTLS      *pkiFiles
	// Cluster membership (etcdCluster); empty for a single member named "e2e".
	name, initialCluster, clusterToken string
	// extraArgs are appended to etcd's command line (e.g. --auth-token-ttl).
	extraArgs []string
}

func (e *etcdServer) url() string {
	return fmt.Sprintf("%s://127.0.0.1:%d", e.scheme, e.clientPort)
}

// newEtcd allocates ports and a data directory; start() runs it.
func newEtcd(t testing.TB) *etcdServer {
	t.Helper()
	return &etcdServer{
		clientPort: freePort(t),
		peerPort:   freePort(t),
		dataDir:    filepath.Join(t.TempDir(), "etcd"),
		scheme:     "http",
	}
}

// startEtcd starts a plain-http etcd and waits until it answers.
func startEtcd(t testing.TB) *etcdServer {
	t.Helper()
	e := newEtcd(t)
	e.start(t)
	return e
}

func (e *etcdServer) start(t testing.TB) {
	t.Helper()
	e.launch(t)
	e.waitHealthy(t, 20*time.Second)
}

func (e *etcdServer) peerURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", e.peerPort)
}

// launch starts the etcd process without waiting for it: a cluster member only
// becomes healthy once a quorum of its peers runs too.
func (e *etcdServer) launch(t testing.TB) {
	t.Helper()
	peer := e.peerURL()
	name, cluster := e.name, e.initialCluster
	if name == "" {
		name, cluster = "e2e", "e2e="+peer
	}
	args := []string{"etcd",
		"--name", name,
		"--data-dir", e.dataDir,
		"--listen-client-urls", e.url(),
		"--advertise-client-urls", e.url(),
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", cluster,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-level", "warn",
		"--log-outputs", "stderr",
		"--snapshot-count", "100000",
	}
	if e.clusterToken != "" {
		args = append(args, "--initial-cluster-token", e.clusterToken)
	}
	if e.tls != nil {
		args = append(args,
			"--cert-file", e.tls.serverCert, "--key-file", e.tls.serverKey,
			"--trusted-ca-file", e.tls.ca, "--client-cert-auth")
	}
	args = append(args, e.extraArgs...)
	label := fmt.Sprintf("etcd:%d", e.clientPort)
	if e.name != "" {
		label = fmt.Sprintf("etcd %s:%d", e.name, e.clientPort)
	}
	e.proc = startProc(t, label, nil, "", args...)
}

// waitHealthy waits until etcdctl endpoint health succeeds (the member has a
// leader and answers a read).
func (e *etcdServer) waitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "etcd to answer", func() (bool, string) {
		if e.proc.exited() {
			t.Fatalf("etcd exited: %v\n%s", e.proc.err, e.proc.out.String())
		}
		out, err := e.ctl(t, "endpoint", "health")
		return err == nil, out
	})
}

func (e *etcdServer) stop(t testing.TB) { e.proc.stop(t) }

// ctl runs etcdctl against this server and returns its combined output.
func (e *etcdServer) ctl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	full := []string{"--endpoints", e.url(), "--dial-timeout", "2s", "--command-timeout", "5s"}
	if c := e.clientTLS; c != nil {
		full = append(full, "--cacert", c.ca, "--cert", c.clientCert, "--key", c.clientKey)
	}
	cmd := exec.Command("etcdctl", append(full, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	if e.user != "" {
		// In the environment, not on the command line: argv is world-readable (ps).
		cmd.Env = append(cmd.Env, "ETCDCTL_USER="+e.user+":"+e.password)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustCtl is ctl that fails the test on error.
func (e *etcdServer) mustCtl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.ctl(t, args...)
	if err != nil {
		t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// put writes value at key and returns the revision of the write.
func (e *etcdServer) put(t testing.TB, key, value string) int64 {
	t.Helper()
	out := e.mustCtl(t, "put", key, value, "-w", "json")
	return headerRevision(t, out)
}

// del deletes key and returns the revision.
func (e *etcdServer) del(t testing.TB, key string) int64 {
	t.Helper()
	out := e.mustCtl(t, "del", key, "-w", "json")
	return headerRevision(t, out)
}

// revision returns the current revision of the store.
func (e *etcdServer) revision(t testing.TB) int64 {
	t.Helper()
	out := e.mustCtl(t, "get", "/e2e-nonexistent", "-w", "json")
	return headerRevision(t, out)
}

func headerRevision(t testing.TB, out string) int64 {
	t.Helper()
	var r struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("etcdctl json %q: %v", out, err)
	}
	return r.Header.Revision
}

// enableAuth creates root and a read-only user for prefix and turns auth on.
// etcdctl keeps working as root afterwards.
func (e *etcdServer) enableAuth(t testing.TB, user, password, prefix string) {
	t.Helper()
	e.addUser(t, "root", "rootpw")
	e.mustCtl(t, "user", "grant-role", "root", "root")
	e.mustCtl(t, "role", "add", "hosts-reader")
	e.mustCtl(t, "role", "grant-permission", "hosts-reader", "--prefix=true", "read", prefix)
	e.addUser(t, user, password)
	e.mustCtl(t, "user", "grant-role", user, "hosts-reader")
	e.mustCtl(t, "auth", "enable")
	e.user, e.password = "root", "rootpw"
}

// addUser creates an etcd user through the JSON gateway: the password travels
// in a request body, never on a command line (ps). (etcdctl's stdin would cut a
// password at its first space.)
func (e *etcdServer) addUser(t testing.TB, user, password string) {
	t.Helper()
	if e.scheme != "http" {
		t.Fatalf("addUser: plain http etcd only")
	}
	if err := newGW(5*time.Second, nil).call(e.url(), "/v3/auth/user/add", map[string]string{"name": user, "password": password}, nil); err != nil {
		t.Fatalf("adding etcd user %s: %v", user, err)
	}
}

// pkiFiles: a CA, a server certificate for 127.0.0.1 and a client certificate.
type pkiFiles struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	// otherCA is a CA etcd does not trust.
	otherCA string
	// expiredCert: a client certificate from the right CA whose validity ended an hour ago.
	expiredCert, expiredKey string
	// strangerCert: a client certificate signed by otherCA.
	strangerCert, strangerKey string
}

// newPKI writes a fresh CA, server and client certificates (ECDSA P-256) to dir.
func newPKI(t testing.TB, dir string) *pkiFiles {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	serial := int64(1)
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	newCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k, der
	}
	caCert, caKey, caDER := newCA("etcdhosts e2e CA")
	otherCert, otherKey, otherDER := newCA("untrusted CA")

	leafFrom := func(issuer *x509.Certificate, issuerKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage, notAfter time.Time) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-48 * time.Hour),
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &k.PublicKey, issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	leaf := func(cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		return leafFrom(caCert, caKey, cn, usage, now.Add(24*time.Hour))
	}
	serverDER, serverKey := leaf("etcd", x509.ExtKeyUsageServerAuth)
	clientDER, clientKey := leaf("coredns", x509.ExtKeyUsageClientAuth)
	expiredDER, expiredKey := leafFrom(caCert, caKey, "coredns-expired", x509.ExtKeyUsageClientAuth, now.Add(-time.Hour))
	strangerDER, strangerKey := leafFrom(otherCert, otherKey, "coredns-stranger", x509.ExtKeyUsageClientAuth, now.Add(24*time.Hour))

	return &pkiFiles{
		ca:           write("etcd-root-ca.pem", "CERTIFICATE", caDER),
		otherCA:      write("other-ca.pem", "CERTIFICATE", otherDER),
		serverCert:   write("server.pem", "CERTIFICATE", serverDER),
		serverKey:    writeKey("server-key.pem", serverKey),
		clientCert:   write("etcd.pem", "CERTIFICATE", clientDER),
		clientKey:    writeKey("etcd-key.pem", clientKey),
		expiredCert:  write("expired.pem", "CERTIFICATE", expiredDER),
		expiredKey:   writeKey("expired-key.pem", expiredKey),
		strangerCert: write("stranger.pem", "CERTIFICATE", strangerDER),
		strangerKey:  writeKey("stranger-key.pem", strangerKey),
	}
}

// startTLSEtcd starts etcd on https with client-certificate authentication.
func startTLSEtcd(t testing.TB) *etcdServer {
	t.Helper()
	e := newEtcd(t)
	e.scheme = "https"
	e.tls = newPKI(t, filepath.Join(t.TempDir(), "pki"))
	e.clientTLS = e.tls
	e.start(t)
	return e
}

// etcdCluster is a cluster of etcd members on 127.0.0.1, one temporary directory
// and two ports each.
type etcdCluster struct {
	members []*etcdServer
}

// startEtcdCluster starts n members (m0, m1, ...) and waits until each is healthy.
func startEtcdCluster(t testing.TB, n int) *etcdCluster {
	t.Helper()
	c := &etcdCluster{}
	var peers []string
	for i := 0; i < n; i++ {
		e := newEtcd(t)
		e.name = fmt.Sprintf("m%d", i)
		c.members = append(c.members, e)
		peers = append(peers, e.name+"="+e.peerURL())
	}
	token := fmt.Sprintf("e2e-%d-%d", os.Getpid(), c.members[0].clientPort)
	for _, e := range c.members {
		e.initialCluster = strings.Join(peers, ",")
		e.clusterToken = token
		e.launch(t)
	}
	for _, e := range c.members {
		e.waitHealthy(t, 30*time.Second)
	}
	return c
}

// urls returns the members' client URLs in member order.
func (c *etcdCluster) urls() []string {
	var out []string
	for _, e := range c.members {
		out = append(out, e.url())
	}
	return out
}
