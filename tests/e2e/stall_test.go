package e2e

// An etcd that does not answer: `timeout` bounds CoreDNS's start against an
// endpoint that accepts the TCP connection and then says nothing, and
// `force_reload` picks up a change that the watch could not deliver. Both use
// loopback servers the test owns: a black hole (accepts, reads, never writes)
// and a proxy in front of a real etcd whose etcd-to-CoreDNS direction can be
// frozen.

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// blackHole accepts TCP connections on 127.0.0.1, reads whatever is sent and
// never writes a byte: an etcd that hangs after the TCP handshake.
type blackHole struct {
	ln       net.Listener
	accepted atomic.Int64
	read     atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func startBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					b.read.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *blackHole) url() string { return "http://" + b.ln.Addr().String() }

// TestTimeoutBlackHole: with `timeout 1s` and an etcd endpoint that accepts the
// connection but never answers, CoreDNS starts within a tight bound, serves its
// inline records, is not ready, and keeps answering while it retries.
func TestTimeoutBlackHole(t *testing.T) {
	hole := startBlackHole(t)
	port, readyPort := freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	start := time.Now()
	c := startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        %s %s
        key /e2e/blackhole
        endpoint %s
        timeout 1s
    }
    ready 127.0.0.1:%d
}
`, port, inlineAddr, inlineName, hole.url(), readyPort), addr)
	startup := time.Since(start)
	// The bound: the 1 s first-read wait plus CoreDNS's own start, with margin for a
	// loaded machine. With the default timeout (5 s), or a read that waited on the
	// silent connection, this fails.
	const bound = 3 * time.Second
	t.Logf("RESULT %s: CoreDNS answered %v after it was started, with a silent etcd and timeout 1s (bound %v)",
		t.Name(), startup.Round(time.Millisecond), bound)
	if startup > bound {
		t.Errorf("startup against a silent etcd took %v with timeout 1s; want < %v", startup, bound)
	}
	// It really talked to the black hole: a TCP connection and the HTTP/2 preface.
	if hole.accepted.Load() < 1 || hole.read.Load() == 0 {
		t.Fatalf("the black hole saw %d connections and %d bytes: CoreDNS did not try the silent endpoint", hole.accepted.Load(), hole.read.Load())
	}
	if ok, why := answerIs(addr, inlineName, dns.TypeA, inlineAddr); !ok {
		t.Fatalf("inline record with a silent etcd: %s", why)
	}
	if ok, why := rcodeIs(addr, "etcd-name.example.org.", dns.TypeA, dns.RcodeNameError); !ok {
		t.Fatal(why)
	}
	if code, _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort)); err != nil || code == 200 {
		t.Fatalf("/ready with a silent etcd: %d %v, want not ready", code, err)
	}
	// It gives up on the silent connection and tries again (a new connection) while
	// every query is answered from memory at once.
	first := hole.accepted.Load()
	var answered int
	var slowest time.Duration
	waitFor(t, 15*time.Second, "CoreDNS to retry the silent endpoint", func() (bool, string) {
		q := time.Now()
		if ok, why := answerIs(addr, inlineName, dns.TypeA, inlineAddr); !ok {
			t.Fatalf("while etcd is silent: %s", why)
		}
		if d := time.Since(q); d > slowest {
			slowest = d
		}
		answered++
		return hole.accepted.Load() > first, fmt.Sprintf("%d connections", hole.accepted.Load())
	})
	t.Logf("%d queries answered while CoreDNS retried (slowest %v); the black hole saw %d connections", answered, slowest, hole.accepted.Load())
	if !strings.Contains(c.output(), "timed out") && !strings.Contains(c.output(), "no connection within") {
		t.Errorf("no log line says etcd timed out:\n%s", tail(c.output(), 2000))
	}
}

// stallProxy forwards TCP connections from 127.0.0.1 to target. freeze() stops
// the target-to-client direction of the connections open at that moment (the
// bytes are read from the target and held); connections opened later are not
// affected. thaw() delivers what was held and goes on.
type stallProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	cond     *sync.Cond
	conns    []*stallConn
	closed   bool
	accepted int
}

type stallConn struct {
	client, upstream net.Conn
	frozen           bool
	held             int64 // bytes read from the target while frozen
	done             bool
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *stallProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.cond.Broadcast()
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.client.Close()
		c.upstream.Close()
	}
}

func (p *stallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		sc := &stallConn{client: c, upstream: u}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns = append(p.conns, sc)
		p.accepted++
		p.mu.Unlock()
		go p.up(sc)
		go p.down(sc)
	}
}

// up copies client -> target, never held.
func (p *stallProxy) up(sc *stallConn) {
	_, _ = io.Copy(sc.upstream, sc.client)
	sc.client.Close()
	sc.upstream.Close()
	p.mu.Lock()
	sc.done = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// down copies target -> client, holding each chunk while the connection is frozen.
func (p *stallProxy) down(sc *stallConn) {
	defer func() {
		sc.client.Close()
		sc.upstream.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := sc.upstream.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if sc.frozen {
				sc.held += int64(n)
			}
			for sc.frozen && !sc.done && !p.closed {
				p.cond.Wait()
			}
			gone := sc.done || p.closed
			p.mu.Unlock()
			if gone {
				return
			}
			if _, werr := sc.client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze holds the target-to-client direction of every open connection and
// returns how many it froze.
func (p *stallProxy) freeze() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		if !c.done {
			c.frozen = true
			n++
		}
	}
	return n
}

func (p *stallProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.frozen = false
	}
	p.cond.Broadcast()
}

// held returns the bytes the target sent on frozen connections that were not delivered.
func (p *stallProxy) held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, c := range p.conns {
		if c.frozen {
			n += c.held
		}
	}
	return n
}

func (p *stallProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// TestForceReload: two CoreDNS on one key, each reaching etcd through its own
// proxy; A has `force_reload 2s`, B has not. Both proxies freeze etcd's direction
// of the connection carrying the watch, and the key changes: the event reaches
// each proxy and stays there. A serves the change within the force_reload period
// through a new read (no error behind it); B, the control, does not see it in the
// same window, and sees it once its proxy delivers the held event.
func TestForceReload(t *testing.T) {
	etcd := startEtcd(t)
	gw := newGW(5*time.Second, nil)
	const key = "/e2e/force-reload"
	put := func(ip string) int64 {
		t.Helper()
		rev, err := gw.put(etcd.url(), key, ip+" fr.example.org\n")
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	put("10.7.0.1")
	proxyA := startStallProxy(t, fmt.Sprintf("127.0.0.1:%d", etcd.clientPort))
	proxyB := startStallProxy(t, fmt.Sprintf("127.0.0.1:%d", etcd.clientPort))
	start := func(label string, p *stallProxy, extra string) (*coreDNS, string, string) {
		port, metricsPort := freePort(t), freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		c := startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        key %s
        endpoint %s
        timeout 2s
        %s
    }
    prometheus 127.0.0.1:%d
}
`, port, key, p.url(), extra, metricsPort), addr)
		c.proc.name = "coredns " + label
		return c, addr, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	}
	const period = 2 * time.Second
	a, addrA, metricsA := start("A (force_reload 2s)", proxyA, "force_reload 2s")
	b, addrB, metricsB := start("B (no force_reload)", proxyB, "")
	for _, addr := range []string{addrA, addrB} {
		waitFor(t, 10*time.Second, "the first version on "+addr, func() (bool, string) {
			return answerIs(addr, "fr.example.org.", dns.TypeA, "10.7.0.1")
		})
	}
	waitFor(t, 10*time.Second, "both watches connected", func() (bool, string) {
		wa := metricValue(t, metricsA, "coredns_etcdhosts_watch_connected")
		wb := metricValue(t, metricsB, "coredns_etcdhosts_watch_connected")
		return wa == 1 && wb == 1, fmt.Sprintf("A %v, B %v", wa, wb)
	})
	// A change delivered through the watches right before the freeze: both have
	// just received data (B's HTTP/2 keepalive, 10 s + 5 s, starts counting here),
	// and A's force_reload timer has just restarted.
	put("10.7.0.2")
	for _, addr := range []string{addrA, addrB} {
		waitFor(t, 10*time.Second, "the second version on "+addr, func() (bool, string) {
			return answerIs(addr, "fr.example.org.", dns.TypeA, "10.7.0.2")
		})
	}
	errorsA := metricValue(t, metricsA, "coredns_etcdhosts_etcd_errors_total")
	logA := len(a.output())
	// (A may still be closing the connection of its previous force_reload: at least one.)
	if n := proxyA.freeze(); n < 1 {
		t.Fatalf("proxy A froze %d connections; A's watch has one", n)
	}
	if n := proxyB.freeze(); n != 1 {
		t.Fatalf("proxy B froze %d connections, want 1 (the one carrying B's watch)", n)
	}
	connsA := proxyA.connections()
	rev := put("10.7.0.3")
	putAt := time.Now()

	// Within the same window: A must serve the change, B must not.
	window := period + 3*time.Second
	var seenA time.Duration
	for time.Since(putAt) < window {
		if seenA == 0 {
			if ok, _ := answerIs(addrA, "fr.example.org.", dns.TypeA, "10.7.0.3"); ok {
				seenA = time.Since(putAt)
			}
		}
		if ok, _ := answerIs(addrB, "fr.example.org.", dns.TypeA, "10.7.0.2"); !ok {
			r, err := exchange(addrB, "udp", "fr.example.org.", dns.TypeA)
			t.Fatalf("B (no force_reload) changed its answer %v after the put while its watch was frozen: %v %v", time.Since(putAt), r, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if seenA == 0 {
		t.Fatalf("A (force_reload %v) did not serve the change within %v while its watch was frozen:\n%s", period, window, tail(a.output(), 2000))
	}
	// The watch had the change and could not deliver it: etcd's event for it sits in
	// each proxy. A read it again over a new connection, and no error caused that.
	if proxyA.held() == 0 || proxyB.held() == 0 {
		t.Fatalf("held bytes: proxy A %d, proxy B %d; the change must have reached both frozen watches", proxyA.held(), proxyB.held())
	}
	if proxyA.connections() <= connsA {
		t.Errorf("A served the change without a new connection to etcd")
	}
	if got := metricValue(t, metricsA, "coredns_etcdhosts_etcd_errors_total"); got != errorsA {
		t.Errorf("A's etcd_errors_total went from %v to %v: the re-read was caused by an error, not by force_reload", errorsA, got)
	}
	if out := a.output()[logA:]; strings.Contains(out, "retrying") {
		t.Errorf("A logged a failure after the freeze:\n%s", out)
	}
	if got, err := servedRevision(udpExchange(addrA)); err != nil || got != rev {
		t.Errorf("A serves revision %d (%v), want %d", got, err, rev)
	}
	t.Logf("RESULT %s: with the watch frozen, A (force_reload %v) served the change %v after the put (%d bytes held for it, %d for B); B (no force_reload) still served the old address %v after the put",
		t.Name(), period, seenA.Round(time.Millisecond), proxyA.held(), proxyB.held(), window)

	// Control of the control: B's watch was alive; delivering the held bytes brings the change.
	proxyB.thaw()
	waitFor(t, 5*time.Second, "B to serve the change once its proxy delivers", func() (bool, string) {
		return answerIs(addrB, "fr.example.org.", dns.TypeA, "10.7.0.3")
	})
	proxyA.thaw()
	if b.proc.exited() || a.proc.exited() {
		t.Fatal("a CoreDNS exited")
	}
}
