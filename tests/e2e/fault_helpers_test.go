package e2e

// Shared machinery of the fault tests (fault_*_test.go): an etcd client over the
// JSON gateway (no etcdctl process per write, no credentials on any command line),
// a writer putting a new version every 100 ms, a client querying every CoreDNS
// continuously, and the convergence check run after every fault.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	faultKey      = "/fault/hosts"
	stableName    = "stable.example.org."
	stableAddr    = "10.250.0.1"
	versionName   = "ver.example.org."
	inlineName    = "inline.example.org."
	inlineAddr    = "10.250.9.9"
	nxProbeName   = "nx-probe.example.org."
	writeInterval = 100 * time.Millisecond
	// convergeLimit: every instance serves the last written revision this long
	// after etcd is healthy again.
	convergeLimit = 5 * time.Second
)

// etcdGW talks to etcd's JSON gateway (/v3/...), through dial when set (a
// network namespace).
type etcdGW struct {
	client *http.Client
	token  atomic.Value // string: an auth token, when authenticated
}

func newGW(timeout time.Duration, dial func(network, addr string) (net.Conn, error)) *etcdGW {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	if dial != nil {
		tr.Dial = dial
	}
	g := &etcdGW{client: &http.Client{Timeout: timeout, Transport: tr}}
	g.token.Store("")
	return g
}

type gwHeader struct {
	Revision json.Number `json:"revision"`
	MemberID json.Number `json:"member_id"`
}

// call POSTs req as JSON to endpoint+path and decodes the answer into resp.
func (g *etcdGW) call(endpoint, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequest("POST", endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if tok := g.token.Load().(string); tok != "" {
		r.Header.Set("Authorization", tok)
	}
	res, err := g.client.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%s%s: %d %s", endpoint, path, res.StatusCode, strings.TrimSpace(string(b)))
	}
	if resp == nil {
		return nil
	}
	return json.Unmarshal(b, resp)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// put writes key=value and returns the revision of the write.
func (g *etcdGW) put(endpoint, key, value string) (int64, error) {
	var r struct{ Header gwHeader }
	if err := g.call(endpoint, "/v3/kv/put", map[string]string{"key": b64(key), "value": b64(value)}, &r); err != nil {
		return 0, err
	}
	return r.Header.Revision.Int64()
}

// modRevision returns the mod revision of key (0 if it does not exist), by a
// linearizable read.
func (g *etcdGW) modRevision(endpoint, key string) (int64, error) {
	var r struct {
		Kvs []struct {
			ModRevision json.Number `json:"mod_revision"`
		}
	}
	if err := g.call(endpoint, "/v3/kv/range", map[string]string{"key": b64(key)}, &r); err != nil {
		return 0, err
	}
	if len(r.Kvs) == 0 {
		return 0, nil
	}
	return r.Kvs[0].ModRevision.Int64()
}

// compact compacts the store's history up to rev (physically, like etcdctl compact --physical).
func (g *etcdGW) compact(endpoint string, rev int64) error {
	return g.call(endpoint, "/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, nil)
}

// status returns the member ID of endpoint and the ID of the leader it knows.
func (g *etcdGW) status(endpoint string) (member, leader string, err error) {
	var r struct {
		Header gwHeader
		Leader json.Number `json:"leader"`
	}
	if err := g.call(endpoint, "/v3/maintenance/status", map[string]string{}, &r); err != nil {
		return "", "", err
	}
	return r.Header.MemberID.String(), r.Leader.String(), nil
}

// moveLeader asks the leader (at endpoint) to hand leadership to member target.
func (g *etcdGW) moveLeader(endpoint, target string) error {
	return g.call(endpoint, "/v3/maintenance/transfer-leadership", map[string]string{"targetID": target}, nil)
}

// healthy reports whether endpoint's /health says true (a leader, and a read answered).
func (g *etcdGW) healthy(endpoint string) bool {
	res, err := g.client.Get(endpoint + "/health")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode == 200 && strings.Contains(string(b), `"health":"true"`)
}

// authenticate gets a token for user (the password travels in a request body,
// never on a command line) and uses it for every later call.
func (g *etcdGW) authenticate(endpoint, user, password string) error {
	var r struct {
		Token string `json:"token"`
	}
	g.token.Store("") // an old token would be refused before the password is looked at
	if err := g.call(endpoint, "/v3/auth/authenticate", map[string]string{"name": user, "password": password}, &r); err != nil {
		return err
	}
	g.token.Store(r.Token)
	return nil
}

// hostsVersion is the hosts text of version v: names that always exist
// (stable, ver) and ver's address encoding v, plus padding comment lines.
func hostsVersion(v, padding int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# version %d\n%s %s\n10.%d.%d.%d %s\n", v, stableAddr, stableName, (v>>16)&255, (v>>8)&255, v&255, versionName)
	for b.Len() < padding {
		b.WriteString("# padding padding padding padding padding padding padding padding padding\n")
	}
	return b.String()
}

// writer puts a new version of the hosts file every writeInterval, rotating
// through the endpoints when one fails.
type writer struct {
	gw        *etcdGW
	endpoints []string
	key       string
	padding   int

	mu       sync.Mutex
	next     int
	version  int   // last version attempted
	rev      int64 // revision of the last successful put
	attempts int
	ok       int
	failed   int
	lastErr  string
	paused   bool

	stop chan struct{}
	done chan struct{}
}

func startWriter(t testing.TB, gw *etcdGW, endpoints []string, key string, padding int) *writer {
	w := &writer{gw: gw, endpoints: endpoints, key: key, padding: padding,
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	t.Cleanup(w.close)
	return w
}

func (w *writer) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(writeInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		paused := w.paused
		w.mu.Unlock()
		if !paused {
			w.putOnce()
		}
	}
}

// putOnce writes the next version to one endpoint (the next one on failure).
func (w *writer) putOnce() (int64, error) {
	w.mu.Lock()
	w.version++
	v, ep := w.version, w.endpoints[w.next%len(w.endpoints)]
	w.attempts++
	w.mu.Unlock()
	rev, err := w.gw.put(ep, w.key, hostsVersion(v, w.padding))
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.failed++
		w.lastErr = err.Error()
		w.next++
		return 0, err
	}
	w.ok++
	if rev > w.rev {
		w.rev = rev
	}
	return rev, nil
}

type writerStats struct {
	attempts, ok, failed int
	rev                  int64
	lastErr              string
}

func (w *writer) stats() writerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return writerStats{w.attempts, w.ok, w.failed, w.rev, w.lastErr}
}

func (w *writer) setPaused(p bool) {
	w.mu.Lock()
	w.paused = p
	w.mu.Unlock()
}

// finalPut pauses the writer and puts one last version, retrying until it
// succeeds; it returns the key's mod revision read back from etcd afterwards
// (at least the put's: a put that timed out earlier may still have landed later).
func (w *writer) finalPut(t testing.TB, timeout time.Duration) int64 {
	t.Helper()
	w.setPaused(true)
	var rev int64
	waitFor(t, timeout, "the final put to succeed", func() (bool, string) {
		r, err := w.putOnce()
		if err != nil {
			return false, err.Error()
		}
		rev = r
		return true, ""
	})
	waitFor(t, timeout, "reading the key back", func() (bool, string) {
		for _, ep := range w.endpoints {
			m, err := w.gw.modRevision(ep, w.key)
			if err == nil && m >= rev {
				rev = m
				return true, ""
			}
		}
		return false, "no endpoint answered"
	})
	return rev
}

// exchangeFunc sends one query to one CoreDNS.
type exchangeFunc func(name string, qtype uint16) (*dns.Msg, error)

func udpExchange(addr string) exchangeFunc {
	return func(name string, qtype uint16) (*dns.Msg, error) { return exchange(addr, "udp", name, qtype) }
}

// querier asks one CoreDNS, continuously, for names that always exist and for
// a name that never does (its NXDOMAIN SOA serial is the revision served).
type querier struct {
	label    string
	exchange exchangeFunc

	paused       atomic.Bool // the instance is stopped or restarting on purpose
	allowMissing atomic.Bool // etcd names may be NXDOMAIN (a restart without snapshot)
	// overlapUntil (unix ns): during a reload the old and the new instance both
	// answer for a moment, each at its own revision; a revision going back
	// before this time is counted in overlapBack, not as a failure.
	overlapUntil atomic.Int64
	overlapBack  atomic.Int64

	mu         sync.Mutex
	total      int
	failures   []string // the first 30
	nFailures  int
	lastSerial uint32
	maxSerial  uint32

	stop chan struct{}
	done chan struct{}
}

func startQuerier(t testing.TB, label string, ex exchangeFunc) *querier {
	q := &querier{label: label, exchange: ex, stop: make(chan struct{}), done: make(chan struct{})}
	go q.loop()
	t.Cleanup(q.close)
	return q
}

func (q *querier) close() {
	select {
	case <-q.stop:
	default:
		close(q.stop)
	}
	<-q.done
}

func (q *querier) fail(format string, args ...any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nFailures++
	if len(q.failures) < 30 {
		q.failures = append(q.failures, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

func (q *querier) loop() {
	defer close(q.done)
	names := []string{stableName, inlineName, versionName, nxProbeName}
	for i := 0; ; i++ {
		select {
		case <-q.stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		if q.paused.Load() {
			continue
		}
		name := names[i%len(names)]
		r, err := q.exchange(name, dns.TypeA)
		if q.paused.Load() {
			continue // paused while the query was in flight
		}
		q.mu.Lock()
		q.total++
		q.mu.Unlock()
		if err != nil {
			q.fail("%s: %v", name, err)
			continue
		}
		if r.Rcode == dns.RcodeServerFailure {
			q.fail("%s: SERVFAIL", name)
			continue
		}
		missingOK := q.allowMissing.Load()
		got := addrs(r)
		switch name {
		case stableName:
			if !(r.Rcode == dns.RcodeSuccess && sameSet(got, []string{stableAddr})) && !(missingOK && r.Rcode == dns.RcodeNameError) {
				q.fail("%s: rcode %s answer %v", name, dns.RcodeToString[r.Rcode], got)
			}
		case inlineName:
			if r.Rcode != dns.RcodeSuccess || !sameSet(got, []string{inlineAddr}) {
				q.fail("%s: rcode %s answer %v", name, dns.RcodeToString[r.Rcode], got)
			}
		case versionName:
			if !(r.Rcode == dns.RcodeSuccess && len(got) == 1 && strings.HasPrefix(got[0], "10.")) && !(missingOK && r.Rcode == dns.RcodeNameError) {
				q.fail("%s: rcode %s answer %v", name, dns.RcodeToString[r.Rcode], got)
			}
		case nxProbeName:
			serial, ok := soaSerial(r)
			if !ok {
				q.fail("%s: rcode %s, no SOA: %v", name, dns.RcodeToString[r.Rcode], r)
				continue
			}
			q.mu.Lock()
			if serial < q.maxSerial {
				back := q.maxSerial
				q.mu.Unlock()
				if time.Now().UnixNano() < q.overlapUntil.Load() {
					q.overlapBack.Add(1)
					continue
				}
				q.fail("served revision went back from %d to %d", back, serial)
				continue
			}
			q.lastSerial, q.maxSerial = serial, serial
			q.mu.Unlock()
		}
	}
}

// restarted forgets the highest revision seen: a new process may start older.
func (q *querier) restarted() {
	q.mu.Lock()
	q.maxSerial = 0
	q.mu.Unlock()
}

func (q *querier) counts() (total, failures int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total, q.nFailures
}

// check fails the test for every failed query.
func (q *querier) check(t testing.TB) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.nFailures > 0 {
		t.Errorf("%s: %d of %d queries failed; first ones:\n  %s", q.label, q.nFailures, q.total, strings.Join(q.failures, "\n  "))
	}
}

// soaSerial returns the serial of the SOA in an NXDOMAIN answer.
func soaSerial(r *dns.Msg) (uint32, bool) {
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
		return 0, false
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

// servedRevision asks ex for the revision it serves.
func servedRevision(ex exchangeFunc) (int64, error) {
	r, err := ex(nxProbeName, dns.TypeA)
	if err != nil {
		return 0, err
	}
	s, ok := soaSerial(r)
	if !ok {
		return 0, fmt.Errorf("no NXDOMAIN SOA: rcode %s", dns.RcodeToString[r.Rcode])
	}
	return int64(s), nil
}

// faultDNS is one CoreDNS of a fault test, with its querier.
type faultDNS struct {
	label       string
	port        int
	metricsPort int
	corefile    string
	c           *coreDNS
	q           *querier
	ex          exchangeFunc
	metricsURL  string
}

// faultCorefile: example.org from etcd (faultKey) plus one inline name.
func faultCorefile(port, metricsPort int, endpoints []string, extra string) string {
	return fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        %s %s
        key %s
        endpoint %s
        timeout 2s
        %s
    }
    prometheus 127.0.0.1:%d
}
`, port, inlineAddr, inlineName, faultKey, strings.Join(endpoints, " "), extra, metricsPort)
}

func startFaultDNS(t testing.TB, label string, endpoints []string, extra string) *faultDNS {
	t.Helper()
	d := &faultDNS{label: label, port: freePort(t), metricsPort: freePort(t)}
	d.corefile = faultCorefile(d.port, d.metricsPort, endpoints, extra)
	d.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", d.metricsPort)
	addr := fmt.Sprintf("127.0.0.1:%d", d.port)
	d.ex = udpExchange(addr)
	d.c = startCoreDNS(t, d.corefile, addr)
	d.c.proc.name = "coredns " + label
	d.q = startQuerier(t, label, d.ex)
	return d
}

// restart stops CoreDNS (SIGTERM) and starts it again on the same Corefile and
// ports; the querier pauses meanwhile.
func (d *faultDNS) restart(t testing.TB) {
	t.Helper()
	d.q.paused.Store(true)
	d.c.proc.stop(t)
	d.c = startCoreDNS(t, d.corefile, fmt.Sprintf("127.0.0.1:%d", d.port))
	d.c.proc.name = "coredns " + d.label
	d.q.restarted()
	d.q.paused.Store(false)
}

// metricValue returns the one sample of a coredns_etcdhosts_ metric.
func metricValue(t testing.TB, url, name string) float64 {
	t.Helper()
	ms := findMetrics(scrape(t, url, name), name)
	if len(ms) != 1 {
		t.Fatalf("%s at %s: %v", name, url, ms)
	}
	return ms[0].value
}

// converge pauses the writer, puts a last version and checks that every
// instance serves its revision (NXDOMAIN SOA serial, then the revision metric)
// by healthyAt+convergeLimit (or 1 s after the put, if later); then the writer
// resumes. It returns how long after healthyAt, and after the last put, the
// slowest instance got there.
func converge(t testing.TB, w *writer, healthyAt time.Time, insts ...*faultDNS) (sinceHealthy, sincePut time.Duration) {
	t.Helper()
	rev := w.finalPut(t, 10*time.Second)
	put := time.Now()
	deadline := healthyAt.Add(convergeLimit)
	if deadline.Before(put.Add(time.Second)) {
		// A fault held long after etcd was healthy (a follower down): the last
		// put must still arrive promptly.
		deadline = put.Add(time.Second)
	}
	var slowest time.Duration
	for _, d := range insts {
		var why string
		for {
			got, err := servedRevision(d.ex)
			if err == nil && got == rev {
				break
			}
			why = fmt.Sprintf("serves revision %d (%v), want %d", got, err, rev)
			if time.Now().After(deadline) {
				t.Errorf("%s did not converge within %v of etcd being healthy: %s; connected to etcd ports %v; its last log lines:\n%s",
					d.label, convergeLimit, why, etcdPorts(d), tail(d.c.output(), 1500))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if took := time.Since(healthyAt); took > slowest {
			slowest = took
		}
		if d.metricsURL != "" && !t.Failed() {
			if got := int64(metricValue(t, d.metricsURL, "coredns_etcdhosts_revision")); got != rev {
				t.Errorf("%s: coredns_etcdhosts_revision %d, want %d", d.label, got, rev)
			}
		}
	}
	w.setPaused(false)
	return slowest, time.Since(put)
}

// etcdPorts lists the etcd client ports d holds a connection to (for failure messages).
func etcdPorts(d *faultDNS) []int {
	var ports []int
	for port := range etcdConnections(d.c.proc.pid(), nil) {
		ports = append(ports, port)
	}
	sort.Ints(ports)
	return ports
}

// alive fails the test if a CoreDNS exited (a crash).
func (d *faultDNS) alive(t testing.TB) {
	t.Helper()
	if d.c.proc.exited() {
		t.Fatalf("%s exited: %v\n%s", d.label, d.c.proc.err, tail(d.c.output(), 4000))
	}
}

// etcdConnections returns, for a process, the remote ports of its established
// TCP connections among ports, or all of them for nil (from /proc/PID/fd and /proc/net/tcp*).
func etcdConnections(pid int, ports map[int]bool) map[int]bool {
	inodes := map[string]bool{}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(fdDir)
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	out := map[int]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, filepath.Base(f)))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// sl local rem st tx:rx tr:tm retrnsmt uid timeout inode
			if len(fs) < 10 || fs[3] != "01" || !inodes[fs[9]] {
				continue
			}
			i := strings.LastIndexByte(fs[2], ':')
			port, err := strconv.ParseInt(fs[2][i+1:], 16, 32)
			if err == nil && (ports == nil || ports[int(port)]) {
				out[int(port)] = true
			}
		}
		fh.Close()
	}
	return out
}
