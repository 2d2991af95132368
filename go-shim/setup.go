package etcdhosts

import (
	"encoding/json"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

const pluginName = "etcdhosts"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// block is one etcdhosts block as Rust reads it (config::Block in src/config.rs):
// the Corefile's tokens, uninterpreted. Rust applies the defaults and checks
// every option.
type block struct {
	Zones       []string   `json:"zones,omitempty"`
	Lines       [][]string `json:"lines,omitempty"`
	Root        string     `json:"root"`
	ListenHosts []string   `json:"listen_hosts,omitempty"`
	Port        string     `json:"port"`
}

func setup(c *caddy.Controller) error {
	e, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	conf := dnsserver.GetConfig(c)

	// The Rust handle (and its etcd watch) is created when this instance starts,
	// not while the Corefile is parsed: a reload that fails in a later plugin's
	// setup then leaves nothing behind. With the reload plugin the new instance
	// starts before the old one shuts down, so both handles coexist briefly.
	// etcdhosts_new waits up to `timeout` for the first read from etcd, so a new
	// instance does not answer NXDOMAIN for names that are in etcd; when etcd is
	// down CoreDNS starts anyway with the inline (and snapshot) records.
	c.OnStartup(func() error {
		if err := e.h.open(e.block); err != nil {
			return plugin.Error(pluginName, err)
		}
		e.labels = newMetricLabels(conf, e.h.zones, e.h.key)
		registerMetrics(e)
		return nil
	})
	c.OnShutdown(func() error {
		unregisterMetrics(e)
		e.h.close()
		return nil
	})

	conf.AddPlugin(func(next plugin.Handler) plugin.Handler {
		e.Next = next
		return e
	})
	return nil
}

// parse hands the block's tokens to Rust to check, so that a bad option stops
// CoreDNS while it reads the Corefile, with the option's file and line.
func parse(c *caddy.Controller) (*EtcdHosts, error) {
	conf := dnsserver.GetConfig(c)
	// bind is set up before etcdhosts (directive order): the addresses are known.
	b := block{Root: conf.Root, ListenHosts: conf.ListenHosts, Port: conf.Port}
	e := &EtcdHosts{h: &handle{}}
	var at []caddyfile.Dispenser // each line's first token, for its errors
	for i := 0; c.Next(); i++ {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		b.Zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		for c.NextBlock() {
			at = append(at, c.Dispenser)
			line := append([]string{c.Val()}, c.RemainingArgs()...)
			if line[0] == "fallthrough" {
				e.Fall.SetZonesFromArgs(line[1:])
			}
			b.Lines = append(b.Lines, line)
		}
	}
	js, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if line, err := checkBlock(js); err != nil {
		if line > 0 && line <= len(at) {
			return nil, at[line-1].Err(err.Error())
		}
		return nil, c.Err(err.Error())
	}
	e.block = js
	return e, nil
}

// logLine writes one Rust log line through CoreDNS's logger, e.g.
// "[INFO] plugin/etcdhosts: serving 12 records (10 names) from etcd key /etcdhosts ...".
func logLine(level int32, msg string) {
	switch level {
	case 1:
		log.Error(msg)
	case 2:
		log.Warning(msg)
	case 3:
		log.Info(msg)
	default:
		log.Debug(msg)
	}
}
