// Command benchtool holds the helpers of bench/run.sh that a shell script does badly:
// generating the record sets and query files, writing to etcd through its JSON
// gateway, timing propagation, rewriting the hosts data under load, the differential
// run, and percentiles of dnsperf's per-query output.
//
// Every address it talks to is given on the command line; run.sh only ever gives
// 127.0.0.1. Every loop is bounded in count and in time.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool gen|put|compact|prop|storm|diff|pct|freeport|wait|proxy ...")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "gen":
		err = gen(args)
	case "put":
		err = putCmd(args)
	case "compact":
		err = compactCmd(args)
	case "prop":
		err = prop(args)
	case "storm":
		err = storm(args)
	case "diff":
		err = diffCmd(args)
	case "pct":
		err = pct(args)
	case "freeport":
		err = freeport(args)
	case "wait":
		err = waitCmd(args)
	case "proxy":
		err = proxyCmd(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- safety

// loopbackOnly refuses any address that is not on 127.0.0.0/8 or ::1.
func loopbackOnly(hostport string) error {
	host := hostport
	if strings.Contains(hostport, "://") {
		u := hostport[strings.Index(hostport, "://")+3:]
		if i := strings.IndexByte(u, '/'); i >= 0 {
			u = u[:i]
		}
		host = u
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback address %q", hostport)
	}
	return nil
}

// ---------------------------------------------------------------- records

const zone = "example.com"

// name of record i: host0000042.rack42.dc1.example.com
func recName(i int) string {
	return fmt.Sprintf("host%07d.rack%02d.dc1.%s", i, i%64, zone)
}

// v4 of record i: a bijection of i onto 10.0.0.0/8 (odd multiplier mod 2^24), so
// the addresses are unique and not in sorted order.
func recV4(i int) [4]byte {
	x := uint32(i)*2654435761 + 12345
	x &= 0xFFFFFF
	return [4]byte{10, byte(x >> 16), byte(x >> 8), byte(x)}
}

func hasV6(i int) bool { return i%4 == 0 }

func recV6(i int) string { return fmt.Sprintf("fd00::%x:%x", i>>16, i&0xffff) }

func v4String(a [4]byte) string { return fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3]) }

func v4Reverse(a [4]byte) string {
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", a[3], a[2], a[1], a[0])
}

// gen writes DIR/hosts.txt (N names, each with an IPv4 address; every 4th also an
// IPv6 address on its own line) and the dnsperf query files q-{a,aaaa,nodata,nx,
// ptr,mix}.txt with Q random queries each.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("n", 1000, "names")
	q := fs.Int("q", 100000, "queries per file")
	out := fs.String("out", ".", "directory")
	seed := fs.Int64("seed", 1, "random seed")
	fs.Parse(args)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*out, "hosts.txt"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "# benchmark record set: %d names in %s\n", *n, zone)
	for i := 0; i < *n; i++ {
		fmt.Fprintf(w, "%s %s\n", v4String(recV4(i)), recName(i))
		if hasV6(i) {
			fmt.Fprintf(w, "%s %s\n", recV6(i), recName(i))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	r := rand.New(rand.NewSource(*seed))
	pick := func(cond func(int) bool) int {
		for k := 0; k < 1000; k++ {
			i := r.Intn(*n)
			if cond(i) {
				return i
			}
		}
		return 0
	}
	all := func(int) bool { return true }
	kinds := map[string]func() string{
		"a":      func() string { return recName(pick(all)) + " A" },
		"aaaa":   func() string { return recName(pick(hasV6)) + " AAAA" },
		"nodata": func() string { return recName(pick(func(i int) bool { return !hasV6(i) })) + " AAAA" },
		"nx": func() string {
			i := r.Intn(10000000)
			return fmt.Sprintf("nx%07d.rack%02d.dc1.%s A", i, i%64, zone)
		},
		"ptr": func() string { return v4Reverse(recV4(pick(all))) + " PTR" },
	}
	// The mixed load: 40% A hits, 15% AAAA hits, 10% NODATA, 20% misses, 15% PTR.
	mixOrder := []struct {
		kind string
		pct  int
	}{{"a", 40}, {"aaaa", 15}, {"nodata", 10}, {"nx", 20}, {"ptr", 15}}
	kinds["mix"] = func() string {
		x := r.Intn(100)
		for _, m := range mixOrder {
			if x < m.pct {
				return kinds[m.kind]()
			}
			x -= m.pct
		}
		return kinds["a"]()
	}
	for _, k := range []string{"a", "aaaa", "nodata", "nx", "ptr", "mix"} {
		f, err := os.Create(filepath.Join(*out, "q-"+k+".txt"))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for j := 0; j < *q; j++ {
			w.WriteString(kinds[k]())
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- etcd gateway

var httpClient = &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

// etcdPut writes key=value through etcd's JSON gateway (POST /v3/kv/put) and
// returns the revision; it returns when etcd acknowledged the write.
func etcdPut(endpoint, key string, value []byte) (int64, error) {
	body := preparePut(key, value)
	return etcdPutPrepared(endpoint, body)
}

func preparePut(key string, value []byte) []byte {
	var b bytes.Buffer
	b.Grow(base64.StdEncoding.EncodedLen(len(value)) + 64)
	b.WriteString(`{"key":"`)
	b.WriteString(base64.StdEncoding.EncodeToString([]byte(key)))
	b.WriteString(`","value":"`)
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	enc.Write(value)
	enc.Close()
	b.WriteString(`"}`)
	return b.Bytes()
}

func etcdPutPrepared(endpoint string, body []byte) (int64, error) {
	resp, err := httpClient.Post(endpoint+"/v3/kv/put", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("put: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var r struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("put: %v: %s", err, b)
	}
	return strconv.ParseInt(r.Header.Revision, 10, 64)
}

func etcdCompact(endpoint string, rev int64) error {
	body := fmt.Sprintf(`{"revision":"%d","physical":true}`, rev)
	resp, err := httpClient.Post(endpoint+"/v3/kv/compaction", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("compaction: %s: %s", resp.Status, b)
	}
	return nil
}

func putCmd(args []string) error {
	fs := flag.NewFlagSet("put", flag.ExitOnError)
	ep := fs.String("etcd", "", "etcd client URL")
	key := fs.String("key", "/etcdhosts", "key")
	file := fs.String("file", "", "value from this file")
	fs.Parse(args)
	if err := loopbackOnly(*ep); err != nil {
		return err
	}
	v, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	rev, err := etcdPut(*ep, *key, v)
	if err != nil {
		return err
	}
	fmt.Println(rev)
	return nil
}

func compactCmd(args []string) error {
	fs := flag.NewFlagSet("compact", flag.ExitOnError)
	ep := fs.String("etcd", "", "etcd client URL")
	rev := fs.Int64("rev", 0, "revision")
	fs.Parse(args)
	if err := loopbackOnly(*ep); err != nil {
		return err
	}
	return etcdCompact(*ep, *rev)
}

// ---------------------------------------------------------------- propagation

// probeValue is the base hosts text plus one line giving probe name the address
// 10.254.x.y for step i.
func probeValue(base []byte, name string, i int) ([]byte, string) {
	ip := fmt.Sprintf("10.254.%d.%d", (i>>8)&255, i&255)
	v := make([]byte, 0, len(base)+64)
	v = append(v, base...)
	if len(v) > 0 && v[len(v)-1] != '\n' {
		v = append(v, '\n')
	}
	v = append(v, ip...)
	v = append(v, ' ')
	v = append(v, name...)
	v = append(v, '\n')
	return v, ip
}

// answers reports whether the server at addr answers name A with exactly ip.
func answers(c *dns.Client, conn *dns.Conn, name, ip string) bool {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := c.ExchangeWithConn(m, conn)
	if err != nil || r == nil || len(r.Answer) != 1 {
		return false
	}
	a, ok := r.Answer[0].(*dns.A)
	return ok && a.A.String() == ip
}

type durations []time.Duration

func (d durations) pct(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append(durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// nearest rank
	k := int(p/100*float64(len(s))+0.999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(s) {
		k = len(s) - 1
	}
	return s[k]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

// prop: n puts of base+probe line; after each put's acknowledgement, poll every
// DNS server (every pollInterval) until it answers the new address. The
// propagation time of a put is the time until the last server answers it.
func prop(args []string) error {
	fs := flag.NewFlagSet("prop", flag.ExitOnError)
	ep := fs.String("etcd", "", "etcd client URL")
	key := fs.String("key", "/etcdhosts", "key")
	baseFile := fs.String("base", "", "base hosts text (empty: none)")
	servers := fs.String("dns", "", "comma separated DNS servers host:port")
	n := fs.Int("n", 200, "puts")
	name := fs.String("name", "probe.bench."+zone, "probe name")
	poll := fs.Duration("poll", 250*time.Microsecond, "poll interval per server")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on one put after this")
	compactEvery := fs.Int("compact-every", 10, "compact etcd history every N puts (0: never)")
	label := fs.String("label", "prop", "label of the result line")
	proxies := fs.String("proxies", "", "NAME=STATS_ADDR,...: byte-counting proxies (benchtool proxy) to report per edit")
	cmdLine := fs.String("cmd", "", "write each edit with this command instead of a put of base+probe "+
		"(split on spaces; {name} and {ip} are replaced; each edit adds a new name); timed from its exit")
	fs.Parse(args)
	if err := loopbackOnly(*ep); err != nil {
		return err
	}
	var base []byte
	if *baseFile != "" {
		var err error
		if base, err = os.ReadFile(*baseFile); err != nil {
			return err
		}
	}
	var addrs []string
	if *servers != "" {
		addrs = strings.Split(*servers, ",")
	}
	for _, a := range addrs {
		if err := loopbackOnly(a); err != nil {
			return err
		}
	}
	clients := make([]*dns.Client, len(addrs))
	conns := make([]*dns.Conn, len(addrs))
	for k, a := range addrs {
		clients[k] = &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
		c, err := clients[k].Dial(a)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[k] = c
	}

	var props, puts durations
	perServer := make([]durations, len(addrs))
	timeouts := 0
	// What etcd sent to its gRPC clients over the puts (the watch events to every
	// instance, plus the small replies to the gateway's puts and compactions).
	m0, merr0 := etcdMetrics(*ep)
	type counted struct {
		name, stats string
		up, down    int64
	}
	var counts []counted
	for _, p := range strings.Split(*proxies, ",") {
		if name, stats, ok := strings.Cut(p, "="); ok {
			up, down := proxyCounts(stats)
			counts = append(counts, counted{name, stats, up, down})
		}
	}
	start := time.Now()
	for i := 1; i <= *n && time.Since(start) < 20*time.Minute; i++ {
		probe := *name
		var ip string
		var rev int64
		t0 := time.Now()
		if *cmdLine != "" {
			probe = fmt.Sprintf("p%d-%s", i, *name)
			ip = fmt.Sprintf("10.254.%d.%d", (i>>8)&255, i&255)
			fields := strings.Fields(strings.NewReplacer("{name}", probe, "{ip}", ip).Replace(*cmdLine))
			out, err := exec.Command(fields[0], fields[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", *cmdLine, err, out)
			}
		} else {
			var value []byte
			value, ip = probeValue(base, *name, 1000+i)
			body := preparePut(*key, value)
			t0 = time.Now()
			var err error
			if rev, err = etcdPutPrepared(*ep, body); err != nil {
				return err
			}
		}
		ack := time.Now()
		puts = append(puts, ack.Sub(t0))
		var wg sync.WaitGroup
		got := make([]time.Duration, len(addrs))
		for k := range addrs {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				for {
					if answers(clients[k], conns[k], probe, ip) {
						got[k] = time.Since(ack)
						return
					}
					if time.Since(ack) > *timeout {
						got[k] = -1
						return
					}
					time.Sleep(*poll)
				}
			}(k)
		}
		wg.Wait()
		worst := time.Duration(0)
		for k, g := range got {
			if g < 0 {
				timeouts++
				g = *timeout
			}
			perServer[k] = append(perServer[k], g)
			if g > worst {
				worst = g
			}
		}
		props = append(props, worst)
		if *compactEvery > 0 && i%*compactEvery == 0 && rev > 0 {
			if err := etcdCompact(*ep, rev); err != nil {
				return err
			}
		}
	}
	m1, merr1 := etcdMetrics(*ep)
	for _, c := range counts {
		up, down := proxyCounts(c.stats)
		edits := float64(max(len(props), 1))
		fmt.Printf("%s_up_bytes_per_edit=%.0f %s_down_bytes_per_edit=%.0f ", c.name, float64(up-c.up)/edits, c.name, float64(down-c.down)/edits)
	}
	fmt.Printf("label=%s puts=%d value_bytes=%d p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s put_ack_p50_ms=%s put_ack_p99_ms=%s timeouts=%d",
		*label, len(props), len(base), ms(props.pct(50)), ms(props.pct(90)), ms(props.pct(99)), ms(props.pct(100)),
		ms(puts.pct(50)), ms(puts.pct(99)), timeouts)
	// Per put: all instances together, and per instance (the watch events are the same
	// size for each). nan when etcd's /metrics lacks the counters.
	perEdit := func(k string) float64 {
		b0, ok0 := m0[k]
		b1, ok1 := m1[k]
		if merr0 != nil || merr1 != nil || !ok0 || !ok1 || len(props) == 0 {
			return math.NaN()
		}
		return (b1 - b0) / float64(len(props))
	}
	sent := perEdit(metricSentBytes)
	fmt.Printf(" instances=%d sent_bytes_per_edit=%.0f sent_bytes_per_instance=%.0f watch_msgs_per_edit=%.2f",
		len(addrs), sent, sent/float64(max(len(addrs), 1)), perEdit(metricWatchMsgs))
	fmt.Printf(" received_bytes_per_edit=%.0f db_bytes_before=%.0f db_bytes_after=%.0f db_in_use_before=%.0f db_in_use_after=%.0f",
		perEdit(metricReceivedBytes), m0[metricDBSize], m1[metricDBSize], m0[metricDBInUse], m1[metricDBInUse])
	for k := range addrs {
		fmt.Printf(" s%d_p50_ms=%s s%d_max_ms=%s", k+1, ms(perServer[k].pct(50)), k+1, ms(perServer[k].pct(100)))
	}
	fmt.Println()
	return nil
}

const (
	metricSentBytes     = "etcd_network_client_grpc_sent_bytes_total"
	metricWatchMsgs     = `grpc_server_msg_sent_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}`
	metricReceivedBytes = "etcd_network_client_grpc_received_bytes_total"
	metricDBSize        = "etcd_mvcc_db_total_size_in_bytes"
	metricDBInUse       = "etcd_mvcc_db_total_size_in_use_in_bytes"
)

// etcdMetrics reads the counters prop reports from etcd's /metrics (Prometheus text
// format, "NAME{LABELS} VALUE" lines); a counter etcd lacks is absent from the map.
func etcdMetrics(endpoint string) (map[string]float64, error) {
	resp, err := httpClient.Get(endpoint + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{metricSentBytes, metricWatchMsgs, metricReceivedBytes, metricDBSize, metricDBInUse} {
			if strings.HasPrefix(line, k+" ") {
				if v, err := strconv.ParseFloat(strings.TrimSpace(line[len(k):]), 64); err == nil {
					out[k] = v
				}
			}
		}
	}
	return out, sc.Err()
}

// ---------------------------------------------------------------- reload storm

// storm rewrites the hosts data every interval for duration: to etcd (-etcd, -key)
// or to a file (-file, written to a temporary name and renamed). Each rewrite
// changes the probe line.
func storm(args []string) error {
	fs := flag.NewFlagSet("storm", flag.ExitOnError)
	ep := fs.String("etcd", "", "etcd client URL (or -file)")
	key := fs.String("key", "/etcdhosts", "key")
	file := fs.String("file", "", "rewrite this file instead of etcd")
	baseFile := fs.String("base", "", "base hosts text")
	interval := fs.Duration("interval", time.Second, "rewrite period")
	duration := fs.Duration("duration", 10*time.Second, "total time")
	name := fs.String("name", "probe.bench."+zone, "probe name")
	hup := fs.Int("hup", 0, "send SIGHUP to this pid after each file rewrite (dnsmasq)")
	fs.Parse(args)
	if *file == "" {
		if err := loopbackOnly(*ep); err != nil {
			return err
		}
	}
	base, err := os.ReadFile(*baseFile)
	if err != nil {
		return err
	}
	var puts durations
	var lastRev int64
	end := time.Now().Add(*duration)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for i := 1; i <= 100000 && time.Now().Before(end); i++ {
		value, _ := probeValue(base, *name, 5000+i)
		t0 := time.Now()
		if *file != "" {
			tmp := *file + ".tmp"
			if err := os.WriteFile(tmp, value, 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, *file); err != nil {
				return err
			}
			if *hup > 0 {
				if err := syscall.Kill(*hup, syscall.SIGHUP); err != nil {
					return err
				}
			}
		} else {
			rev, err := etcdPut(*ep, *key, value)
			if err != nil {
				return err
			}
			lastRev = rev
		}
		puts = append(puts, time.Since(t0))
		<-tick.C
	}
	if lastRev > 0 {
		_ = etcdCompact(*ep, lastRev)
	}
	fmt.Printf("storm rewrites=%d value_bytes=%d write_p50_ms=%s write_max_ms=%s\n", len(puts), len(base), ms(puts.pct(50)), ms(puts.pct(100)))
	return nil
}

// ---------------------------------------------------------------- dnsperf output

// pct reads dnsperf -v output and prints the summary and latency percentiles
// (over the answered queries) as key=value pairs.
func pct(args []string) error {
	fs := flag.NewFlagSet("pct", flag.ExitOnError)
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: pct FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	lat := make([]float64, 0, 1<<20)
	sum := map[string]string{}
	rcodes := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			i := strings.LastIndexByte(line, ' ')
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				lat = append(lat, v)
			}
			continue
		}
		t := strings.TrimSpace(line)
		field := func(prefix string) (string, bool) {
			if !strings.HasPrefix(t, prefix) {
				return "", false
			}
			return strings.Fields(strings.TrimSpace(strings.TrimPrefix(t, prefix)))[0], true
		}
		if v, ok := field("Queries sent:"); ok {
			sum["sent"] = v
		} else if v, ok := field("Queries completed:"); ok {
			sum["completed"] = v
		} else if v, ok := field("Queries lost:"); ok {
			sum["lost"] = v
		} else if v, ok := field("Queries per second:"); ok {
			sum["qps"] = v
		} else if v, ok := field("Average Latency (s):"); ok {
			sum["mean"] = v
		} else if strings.HasPrefix(t, "Response codes:") {
			rc := strings.TrimSpace(strings.TrimPrefix(t, "Response codes:"))
			parts := []string{}
			for _, p := range strings.Split(rc, ",") {
				fl := strings.Fields(p)
				if len(fl) >= 2 {
					parts = append(parts, fl[0]+":"+fl[1])
				}
			}
			rcodes = strings.Join(parts, ",")
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Float64s(lat)
	q := func(p float64) string {
		if len(lat) == 0 {
			return "nan"
		}
		k := int(p/100*float64(len(lat))+0.999999) - 1
		if k < 0 {
			k = 0
		}
		if k >= len(lat) {
			k = len(lat) - 1
		}
		return fmt.Sprintf("%.3f", lat[k]*1000)
	}
	mean := "nan"
	if v, err := strconv.ParseFloat(sum["mean"], 64); err == nil {
		mean = fmt.Sprintf("%.3f", v*1000)
	}
	qps := "0"
	if v, err := strconv.ParseFloat(sum["qps"], 64); err == nil {
		qps = fmt.Sprintf("%.0f", v)
	}
	if rcodes == "" {
		rcodes = "none"
	}
	fmt.Printf("qps=%s mean_ms=%s p50_ms=%s p99_ms=%s p999_ms=%s max_ms=%s sent=%s completed=%s lost=%s rcodes=%s\n",
		qps, mean, q(50), q(99), q(99.9), q(100), orZero(sum["sent"]), orZero(sum["completed"]), orZero(sum["lost"]), rcodes)
	return nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}
