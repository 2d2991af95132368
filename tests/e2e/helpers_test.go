// Package e2e runs the CoreDNS built by ./build.sh against Debian's etcd: every
// process listens on 127.0.0.1 only, on free ports, and is stopped by the test
// that started it.
package e2e

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The CoreDNS version build.sh builds by default (keep in step with DEFAULT_COREDNS_VERSION).
const defaultCoreDNSVersion = "v1.15.0"

var (
	repoRoot   string
	corednsBin string
)

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))

	corednsBin = os.Getenv("COREDNS_BIN")
	if corednsBin == "" {
		// build.sh skips the Go build when the binary is up to date, so this is cheap.
		cmd := exec.Command(filepath.Join(repoRoot, "build.sh"))
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "ETCDHOSTS_COREDNS_ONLY=1")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: ./build.sh failed: %v\n", err)
			os.Exit(2)
		}
		corednsBin = filepath.Join(repoRoot, "build", "coredns-"+defaultCoreDNSVersion, "coredns")
	}
	if _, err := os.Stat(corednsBin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no CoreDNS binary: %v (set COREDNS_BIN or run ./build.sh)\n", err)
		os.Exit(2)
	}
	for _, tool := range []string{"etcd", "etcdctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s not found in PATH\n", tool)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// Ports are handed out below the kernel's ephemeral range, walking up from a
// random start: a port from 127.0.0.1:0 is in that range, so an outgoing
// connection (an etcd member dialing its peers, a client) could take it as its
// own end between freePort and the bind of the server it is for.
var ports struct {
	sync.Mutex
	next int
}

// Where the ports handed out start, and where the ephemeral range starts.
const firstPort = 10000

// freePort returns a port that is free on 127.0.0.1 for both TCP and UDP, and
// that no other call in this process returned.
func freePort(t testing.TB) int {
	t.Helper()
	end := ephemeralStart()
	ports.Lock()
	defer ports.Unlock()
	if ports.next == 0 {
		ports.next = firstPort + rand.Intn(end-firstPort)
	}
	for i := 0; i < end-firstPort; i++ {
		port := ports.next
		ports.next++
		if ports.next >= end {
			ports.next = firstPort
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// ephemeralStart is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read, or when it leaves no room below).
func ephemeralStart() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return linuxDefault
	}
	start, err := strconv.Atoi(fields[0])
	if err != nil || start < firstPort+1000 {
		return linuxDefault
	}
	return start
}

// waitFor polls cond until it returns true or the deadline passes; then the test
// fails with cond's last explanation. No plain sleeps anywhere in this suite.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 2 * time.Millisecond
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(interval)
		if interval < 50*time.Millisecond {
			interval *= 2
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a child process with its combined output captured.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // valid after done is closed
}

func startProc(t testing.TB, name string, env []string, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// If the test binary dies, take the child with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			out, n := p.out.String(), 6000
			if strings.HasPrefix(p.name, "etcd") {
				// etcd's info and warn lines would push the failure out of sight.
				out, n = severeLines(out), 2000
			} else {
				// So would the query log of a test that polls with the log plugin on.
				out = withoutQueryLog(out)
			}
			t.Logf("---- output of %s ----\n%s", p.name, tail(out, n))
		}
	})
	return p
}

// withoutQueryLog drops the lines of CoreDNS's log plugin (one per query).
func withoutQueryLog(log string) string {
	var b strings.Builder
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " IN ") && strings.Contains(line, "] 127.0.0.1:") {
			continue
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// severeLines keeps the lines of an etcd log above warn level (and any that are not JSON).
func severeLines(log string) string {
	var b strings.Builder
	for _, line := range strings.Split(log, "\n") {
		if line == "" || strings.Contains(line, `"level":"info"`) || strings.Contains(line, `"level":"warn"`) {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after 10s; idempotent.
func (p *proc) stop(t testing.TB) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not stop on SIGTERM within 10s; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitExit waits for the process to exit on its own and returns its exit code.
func (p *proc) waitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v; output:\n%s", p.name, timeout, tail(p.out.String(), 3000))
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// procStatus returns the Threads count and the number of open fds of pid.
func procStatus(t testing.TB, pid int) (threads, fds int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Threads:") {
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "Threads:")), "%d", &threads)
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return threads, len(ents)
}

// kill sends SIGKILL (a crash, not a shutdown) and waits for the exit.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after SIGKILL", p.name)
	}
}

// signal sends sig to the process (SIGSTOP, SIGCONT, SIGUSR1...).
func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// procSample is one sample of a process's resources.
type procSample struct {
	threads, fds int
	rssKB        int64
}

func (s procSample) String() string {
	return fmt.Sprintf("threads %d, fds %d, rss %.1f MiB", s.threads, s.fds, float64(s.rssKB)/1024)
}

// sampleProc reads the thread count, open fds and resident memory of pid.
func sampleProc(t testing.TB, pid int) procSample {
	t.Helper()
	var s procSample
	s.threads, s.fds = procStatus(t, pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &s.rssKB)
		}
	}
	return s
}
