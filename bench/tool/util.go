package main

import (
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// freeport prints a port that is free on 127.0.0.1 for both TCP and UDP.
func freeport(args []string) error {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		fmt.Println(port)
		return nil
	}
	return fmt.Errorf("no free port")
}

// waitCmd polls a DNS server until it answers name A (with -ip: exactly that
// address), or fails after -timeout. It prints the time it waited in ms.
func waitCmd(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	addr := fs.String("dns", "", "server host:port")
	name := fs.String("name", "", "name")
	ip := fs.String("ip", "", "expected address (empty: any answer)")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	poll := fs.Duration("poll", time.Millisecond, "poll interval")
	fs.Parse(args)
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	start := time.Now()
	for time.Since(start) < *timeout {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(*name), dns.TypeA)
		r, _, err := c.Exchange(m, *addr)
		if err == nil && r != nil && len(r.Answer) > 0 {
			if a, ok := r.Answer[0].(*dns.A); ok && (*ip == "" || a.A.String() == *ip) {
				fmt.Printf("%.1f\n", float64(time.Since(start))/1e6)
				return nil
			}
		}
		time.Sleep(*poll)
	}
	return fmt.Errorf("%s did not answer %s A %s within %v", *addr, *name, *ip, *timeout)
}
