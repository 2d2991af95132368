package e2e

// Network fault tests (issue 5, part 2): etcd and CoreDNS each in a network
// namespace of their own, joined by a veth pair, so that the path between them
// can be cut and slowed without touching the machine's own network. Nothing
// here sends a packet outside these two namespaces: the test process reaches
// etcd and CoreDNS through sockets it opens inside them (setns on a locked
// thread).
//
// Needs root and iproute2 (ip, tc). Where network namespaces are not permitted
// the tests fail and say so; they never pass without having run.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

var netnsSeq atomic.Int32

// netnsPair: namespace dnsNS (CoreDNS, address dnsIP on dnsIf) and etcdNS
// (etcd, etcdIP on etcdIf), one veth pair between them.
type netnsPair struct {
	dnsNS, etcdNS string
	dnsIf, etcdIf string
	dnsIP, etcdIP string
}

// ipCmd runs `ip args...` (or tc) and returns its combined output.
func ipCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustIP(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := ipCmd(name, args...); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// newNetnsPair creates the two namespaces and the veth pair; they are deleted
// when the test ends (after its processes are stopped).
func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("the network fault tests need iproute2 (`ip`, `tc`): %v", err)
	}
	n := int(netnsSeq.Add(1))
	id := fmt.Sprintf("%d%c", os.Getpid()%100000, 'a'+rune(n%26))
	p := &netnsPair{
		dnsNS: "ehdns" + id, etcdNS: "ehetcd" + id,
		dnsIf: "ehd" + id, etcdIf: "ehe" + id,
	}
	subnet := fmt.Sprintf("10.251.%d", (os.Getpid()+n)%250+1)
	p.etcdIP, p.dnsIP = subnet+".1", subnet+".2"
	if out, err := ipCmd("ip", "netns", "add", p.dnsNS); err != nil {
		t.Fatalf("network namespaces are not permitted here, so the network fault tests cannot run "+
			"(`ip netns add` failed: %v: %s). They need root and a kernel with network namespaces; "+
			"`go test -skip TestNetFault` skips them knowingly.", err, out)
	}
	t.Cleanup(func() { _, _ = ipCmd("ip", "netns", "del", p.dnsNS) })
	mustIP(t, "ip", "netns", "add", p.etcdNS)
	t.Cleanup(func() { _, _ = ipCmd("ip", "netns", "del", p.etcdNS) })
	// Both ends created inside the namespaces: the machine's own namespace never
	// sees an interface, an address or a route of this test.
	mustIP(t, "ip", "link", "add", p.dnsIf, "netns", p.dnsNS, "type", "veth", "peer", "name", p.etcdIf, "netns", p.etcdNS)
	for _, c := range [][]string{
		{"-n", p.dnsNS, "addr", "add", p.dnsIP + "/24", "dev", p.dnsIf},
		{"-n", p.dnsNS, "link", "set", p.dnsIf, "up"},
		{"-n", p.dnsNS, "link", "set", "lo", "up"},
		{"-n", p.etcdNS, "addr", "add", p.etcdIP + "/24", "dev", p.etcdIf},
		{"-n", p.etcdNS, "link", "set", p.etcdIf, "up"},
		{"-n", p.etcdNS, "link", "set", "lo", "up"},
	} {
		mustIP(t, "ip", c...)
	}
	return p
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// inNetns runs f on a thread switched into namespace ns: sockets f creates
// belong to ns for good.
func inNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := f()
	if err := setns(orig); err != nil {
		// Leave the thread locked: it is destroyed when this goroutine ends.
		return fmt.Errorf("cannot return from namespace %s: %v", ns, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// nsDial dials from inside namespace ns.
func nsDial(ns string) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(ns, func() error {
			var err error
			c, err = net.DialTimeout(network, addr, 2*time.Second)
			return err
		})
		return c, err
	}
}

// nsExchange queries addr (inside ns) over UDP.
func nsExchange(ns, addr string) exchangeFunc {
	dial := nsDial(ns)
	return func(name string, qtype uint16) (*dns.Msg, error) {
		conn, err := dial("udp", addr)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		cl := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		r, _, err := cl.ExchangeWithConn(m, &dns.Conn{Conn: conn})
		return r, err
	}
}

// nsMetric reads one coredns_etcdhosts_ sample from a metrics URL inside a namespace.
func nsMetric(client *http.Client, url, name string) (float64, error) {
	res, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			return strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		}
	}
	return 0, fmt.Errorf("%s not in %s", name, url)
}

// netEnv: etcd in etcdNS, one CoreDNS in dnsNS, the writer and the querier.
type netEnv struct {
	ns       *netnsPair
	etcd     *proc
	gw       *etcdGW
	w        *writer
	d        *faultDNS
	http     *http.Client // inside dnsNS
	endpoint string       // what CoreDNS dials
	relay    *delayRelay  // when tc netem is missing
	start    time.Time
	retired  []*querier // queriers of CoreDNS processes replaced by a restart
}

const nsEtcdLocal = "http://127.0.0.1:2379" // etcd's URL inside etcdNS

func newNetEnv(t *testing.T, useRelay bool) *netEnv {
	t.Helper()
	env := &netEnv{ns: newNetnsPair(t), start: time.Now()}
	ns := env.ns
	dataDir := filepath.Join(t.TempDir(), "etcd")
	env.etcd = startProc(t, "etcd(netns)", nil, "", "ip", "netns", "exec", ns.etcdNS, "etcd",
		"--name", "e2e", "--data-dir", dataDir,
		"--listen-client-urls", fmt.Sprintf("http://%s:2379,%s", ns.etcdIP, nsEtcdLocal),
		"--advertise-client-urls", fmt.Sprintf("http://%s:2379", ns.etcdIP),
		"--listen-peer-urls", "http://127.0.0.1:2380",
		"--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "e2e=http://127.0.0.1:2380",
		"--initial-cluster-state", "new",
		"--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr")
	env.gw = newGW(time.Second, nsDial(ns.etcdNS))
	waitFor(t, 20*time.Second, "etcd in its namespace", func() (bool, string) {
		if env.etcd.exited() {
			t.Fatalf("etcd exited: %v\n%s", env.etcd.err, env.etcd.out.String())
		}
		return env.gw.healthy(nsEtcdLocal), "not healthy"
	})
	if _, err := env.gw.put(nsEtcdLocal, faultKey, hostsVersion(0, 0)); err != nil {
		t.Fatal(err)
	}
	env.endpoint = fmt.Sprintf("http://%s:2379", ns.etcdIP)
	if useRelay {
		env.relay = startRelay(t, ns.etcdNS, ns.etcdIP+":3379", "127.0.0.1:2379")
		env.endpoint = fmt.Sprintf("http://%s:3379", ns.etcdIP)
	}
	env.http = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Dial: nsDial(ns.dnsNS)}}
	env.d = env.startDNS(t)
	env.w = startWriter(t, env.gw, []string{nsEtcdLocal}, faultKey, 0)
	waitFor(t, 10*time.Second, "the writer's first puts to be served", func() (bool, string) {
		st := env.w.stats()
		got, err := servedRevision(env.d.ex)
		return st.ok >= 5 && err == nil && got >= st.rev-2, fmt.Sprintf("writer %+v, CoreDNS at %d (%v)", st, got, err)
	})
	return env
}

// startDNS starts CoreDNS inside dnsNS on 127.0.0.1:1053, metrics on :9153.
func (env *netEnv) startDNS(t *testing.T) *faultDNS {
	t.Helper()
	d := &faultDNS{label: "coredns(netns)", port: 1053, metricsPort: 9153}
	d.corefile = faultCorefile(d.port, d.metricsPort, []string{env.endpoint}, "")
	d.ex = nsExchange(env.ns.dnsNS, "127.0.0.1:1053")
	d.c = &coreDNS{dir: t.TempDir()}
	d.c.corefile = filepath.Join(d.c.dir, "Corefile")
	if err := os.WriteFile(d.c.corefile, []byte(d.corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	d.c.proc = startProc(t, d.label, nil, d.c.dir, "ip", "netns", "exec", env.ns.dnsNS, corednsBin, "-conf", d.c.corefile)
	waitFor(t, 20*time.Second, "CoreDNS to serve in its namespace", func() (bool, string) {
		d.alive(t)
		_, err := d.ex("serving.probe.", dns.TypeA)
		return err == nil, fmt.Sprint(err)
	})
	d.q = startQuerier(t, d.label, d.ex)
	return d
}

func (env *netEnv) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, err := nsMetric(env.http, "http://127.0.0.1:9153/metrics", name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (env *netEnv) finish(t *testing.T, healthyAt time.Time) {
	t.Helper()
	took, sincePut := converge(t, env.w, healthyAt, env.d)
	env.w.setPaused(true)
	waitFor(t, 2*time.Second, "the revision metric to agree with the SOA serial", func() (bool, string) {
		served, err := servedRevision(env.d.ex)
		m := env.metric(t, "coredns_etcdhosts_revision")
		return err == nil && int64(m) == served, fmt.Sprintf("metric %v, SOA serial %d (%v)", m, served, err)
	})
	env.w.setPaused(false)
	env.d.alive(t)
	env.d.q.check(t)
	n, f := env.d.q.counts()
	for _, q := range env.retired {
		qn, qf := q.counts()
		n, f = n+qn, f+qf
	}
	st := env.w.stats()
	if os.Getenv("E2E_SHOW_LOGS") != "" {
		t.Logf("---- %s ----\n%s", env.d.label, tail(env.d.c.output(), 4000))
	}
	t.Logf("RESULT %s: %d queries, %d failed; writes %d ok, %d failed; at the last revision %v after the path was restored (%v after the last put); %v",
		t.Name(), n, f, st.ok, st.failed, took.Round(time.Millisecond), sincePut.Round(time.Millisecond), time.Since(env.start).Round(time.Second))
}

// TestNetFaultCut: the link between CoreDNS and etcd goes down silently (no
// RST, packets dropped) for longer than the keepalive needs to notice; queries
// are answered from memory throughout, and after the link is back CoreDNS
// catches up within 5 s.
func TestNetFaultCut(t *testing.T) {
	env := newNetEnv(t, false)
	waitFor(t, 5*time.Second, "watch_connected 1", func() (bool, string) {
		v := env.metric(t, "coredns_etcdhosts_watch_connected")
		return v == 1, fmt.Sprint(v)
	})
	errs0 := env.metric(t, "coredns_etcdhosts_etcd_errors_total")
	cutAt := time.Now()
	mustIP(t, "ip", "-n", env.ns.etcdNS, "link", "set", env.ns.etcdIf, "down")
	restored := false
	defer func() {
		if !restored {
			_, _ = ipCmd("ip", "-n", env.ns.etcdNS, "link", "set", env.ns.etcdIf, "up")
		}
	}()
	// The keepalive (10 s + 5 s) must notice the silent path.
	var noticed time.Duration
	waitFor(t, 25*time.Second, "CoreDNS to notice the cut (watch_connected 0)", func() (bool, string) {
		v := env.metric(t, "coredns_etcdhosts_watch_connected")
		noticed = time.Since(cutAt)
		return v == 0, fmt.Sprintf("watch_connected %v after %v", v, noticed.Round(time.Second))
	})
	t.Logf("the cut was noticed after %v", noticed.Round(time.Millisecond))
	// Keep the path cut a few seconds more: reconnection attempts time out.
	waitFor(t, 15*time.Second, "failed reconnection attempts", func() (bool, string) {
		v := env.metric(t, "coredns_etcdhosts_etcd_errors_total")
		return v >= errs0+2, fmt.Sprintf("etcd_errors_total %v (was %v)", v, errs0)
	})
	if st := env.w.stats(); st.failed > 0 {
		t.Logf("writer (inside etcd's namespace, not cut): %+v", st)
	}
	mustIP(t, "ip", "-n", env.ns.etcdNS, "link", "set", env.ns.etcdIf, "up")
	restored = true
	restoredAt := time.Now()
	t.Logf("link restored after %v", restoredAt.Sub(cutAt).Round(time.Millisecond))
	env.finish(t, restoredAt)
}

// tcNetemWorks reports whether this kernel has the netem qdisc, by trying it
// on the veth inside etcdNS.
func tcNetemWorks(t *testing.T, ns *netnsPair) (bool, string) {
	out, err := ipCmd("ip", "netns", "exec", ns.etcdNS, "tc", "qdisc", "add", "dev", ns.etcdIf, "root", "netem", "delay", "1ms")
	if err != nil {
		return false, out
	}
	mustIP(t, "ip", "netns", "exec", ns.etcdNS, "tc", "qdisc", "del", "dev", ns.etcdIf, "root")
	return true, ""
}

// TestNetFaultDelay: 200 ms of delay each way between CoreDNS and etcd (tc
// netem on both ends of the veth pair; where the kernel has no netem, a relay
// in etcd's namespace that holds every byte 200 ms each way). Updates keep
// arriving, the keepalive does not mistake the delay for a dead peer, a CoreDNS
// restarted under the delay reads etcd within its timeout, and once the delay
// is gone everything converges within 5 s.
func TestNetFaultDelay(t *testing.T) {
	probe := newNetnsPair(t)
	netem, why := tcNetemWorks(t, probe)
	if !netem {
		t.Logf("tc netem is not available here (%s: the kernel lacks CONFIG_NET_SCH_NETEM); "+
			"the 200 ms delay is applied by a userspace relay inside etcd's namespace instead", why)
	}
	env := newNetEnv(t, !netem)
	const delay = 200 * time.Millisecond
	setDelay := func(on bool) {
		if !netem {
			if on {
				env.relay.delay.Store(int64(delay))
			} else {
				env.relay.delay.Store(0)
			}
			return
		}
		for _, side := range [][2]string{{env.ns.etcdNS, env.ns.etcdIf}, {env.ns.dnsNS, env.ns.dnsIf}} {
			if on {
				mustIP(t, "ip", "netns", "exec", side[0], "tc", "qdisc", "add", "dev", side[1], "root", "netem", "delay", "200ms")
			} else {
				mustIP(t, "ip", "netns", "exec", side[0], "tc", "qdisc", "del", "dev", side[1], "root")
			}
		}
	}
	errs0 := env.metric(t, "coredns_etcdhosts_etcd_errors_total")
	setDelay(true)
	delayedAt := time.Now()
	// Under the delay: 50 more versions written, the last one served.
	before := env.w.stats()
	waitFor(t, 20*time.Second, "50 writes under the delay", func() (bool, string) {
		st := env.w.stats()
		return st.ok >= before.ok+50, fmt.Sprintf("%+v", st)
	})
	_, sincePut := converge(t, env.w, time.Now(), env.d)
	t.Logf("under %v delay each way: at the last revision %v after the last put", delay, sincePut.Round(time.Millisecond))
	if v := env.metric(t, "coredns_etcdhosts_etcd_errors_total"); v != errs0 {
		t.Errorf("the delay caused %v etcd errors (the keepalive or a timeout misfired)", v-errs0)
	}
	if v := env.metric(t, "coredns_etcdhosts_watch_connected"); v != 1 {
		t.Errorf("watch_connected %v under the delay", v)
	}
	// A CoreDNS started under the delay reads etcd within its 2 s timeout.
	env.d.q.paused.Store(true)
	env.d.c.proc.stop(t)
	restartAt := time.Now()
	q := env.d.q
	env.d = env.startDNS(t)
	q.close()
	q.check(t)
	env.retired = append(env.retired, q)
	waitFor(t, 5*time.Second, "the restarted CoreDNS to serve etcd's data", func() (bool, string) {
		return answerIsEx(env.d.ex, stableName, stableAddr)
	})
	t.Logf("CoreDNS restarted under the delay served etcd's data %v after the restart", time.Since(restartAt).Round(time.Millisecond))
	setDelay(false)
	t.Logf("delay held for %v", time.Since(delayedAt).Round(time.Millisecond))
	env.finish(t, time.Now())
}

// answerIsEx: name resolves to want through ex.
func answerIsEx(ex exchangeFunc, name, want string) (bool, string) {
	r, err := ex(name, dns.TypeA)
	if err != nil {
		return false, err.Error()
	}
	if got := addrs(r); r.Rcode != dns.RcodeSuccess || !sameSet(got, []string{want}) {
		return false, fmt.Sprintf("rcode %s answer %v", dns.RcodeToString[r.Rcode], got)
	}
	return true, ""
}

// delayRelay forwards TCP connections from a listener to target, both inside
// a namespace, holding every chunk of bytes `delay` in each direction.
type delayRelay struct {
	ln     net.Listener
	ns     string
	target string
	delay  atomic.Int64 // nanoseconds
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func startRelay(t *testing.T, ns, listen, target string) *delayRelay {
	t.Helper()
	r := &delayRelay{ns: ns, target: target}
	if err := inNetns(ns, func() error {
		var err error
		r.ln, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		t.Fatalf("relay listen %s in %s: %v", listen, ns, err)
	}
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *delayRelay) close() {
	r.mu.Lock()
	r.closed = true
	conns := r.conns
	r.mu.Unlock()
	r.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

func (r *delayRelay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns = append(r.conns, c)
	return true
}

func (r *delayRelay) accept() {
	dial := nsDial(r.ns)
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c) || !r.track(u) {
			return
		}
		go r.pump(c, u)
		go r.pump(u, c)
	}
}

// pump copies src to dst, each chunk delivered `delay` after it was read; the
// order is kept, and chunks in flight do not wait for each other.
func (r *delayRelay) pump(src, dst net.Conn) {
	type chunk struct {
		due time.Time
		b   []byte
	}
	ch := make(chan chunk, 4096)
	go func() {
		for c := range ch {
			time.Sleep(time.Until(c.due))
			if _, err := dst.Write(c.b); err != nil {
				dst.Close()
				src.Close()
				for range ch {
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	defer close(ch)
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{due: time.Now().Add(time.Duration(r.delay.Load())), b: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}
