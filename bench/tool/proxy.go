package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// proxyCmd forwards TCP connections from -listen to -to and counts the bytes each
// way; GET http://STATS/ prints "up=N down=N" (up: client to server). etcd's own byte
// counters add up every client; a proxy in front of one kind of client (the instances,
// or dnsctl) tells their shares apart.
func proxyCmd(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "", "host:port to listen on")
	to := fs.String("to", "", "host:port to forward to")
	stats := fs.String("stats", "", "host:port of the counters' HTTP endpoint")
	fs.Parse(args)
	for _, a := range []string{*listen, *to, *stats} {
		if err := loopbackOnly(a); err != nil {
			return err
		}
	}
	var up, down atomic.Int64
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	go http.ListenAndServe(*stats, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "up=%d down=%d\n", up.Load(), down.Load())
	}))
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", *to)
			if err != nil {
				return
			}
			defer s.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn, n *atomic.Int64) {
				_, _ = io.Copy(countingWriter{dst, n}, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(s, c, &up)
			go pipe(c, s, &down)
			<-done
			<-done
		}()
	}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// proxyCounts reads a proxy's counters (up, down); zeros when it cannot.
func proxyCounts(stats string) (int64, int64) {
	resp, err := httpClient.Get("http://" + stats + "/")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var up, down int64
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "up":
			up = n
		case "down":
			down = n
		}
	}
	return up, down
}
