package etcdhosts

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

const pluginName = "etcdhosts"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// Defaults (docs/DESIGN.md section 4).
const (
	defaultEndpoint = "http://127.0.0.1:2379"
	defaultKey      = "/etcdhosts"
	defaultTTL      = 3600
	defaultTimeout  = 5 * time.Second
)

// config is the JSON document handed to etcdhosts_new (docs/DESIGN.md section 4).
// Rust rejects unknown fields, so this must match its schema exactly.
type config struct {
	Endpoints     []string   `json:"endpoints"`
	Key           string     `json:"key"`
	Username      *string    `json:"username"`
	Password      *string    `json:"password"`
	TLS           *tlsConfig `json:"tls"`
	TimeoutMs     uint64     `json:"timeout_ms"`
	TTL           uint32     `json:"ttl"`
	Zones         []string   `json:"zones"`
	NoReverse     bool       `json:"no_reverse"`
	Inline        string     `json:"inline"`
	ForceReloadMs uint64     `json:"force_reload_ms"`
	Snapshot      *string    `json:"snapshot"`
	// StatusKey is the fleet status prefix (always ending in '/'); nil = write nothing.
	StatusKey *string `json:"status_key"`
	// Instance names this server block in the fleet status: "<hostname>/<listen>".
	Instance string `json:"instance"`
}

// tlsConfig: its presence turns TLS on; nil paths mean "not given" (system roots
// when ca is nil, no client certificate when cert/key are nil).
type tlsConfig struct {
	Cert *string `json:"cert"`
	Key  *string `json:"key"`
	CA   *string `json:"ca"`
}

func setup(c *caddy.Controller) error {
	e, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	conf := dnsserver.GetConfig(c)
	// bind is set up before etcdhosts (directive order), so the address is known here.
	e.cfg.Instance = instanceName(hostname(), conf)
	cfgJSON, err := json.Marshal(e.cfg)
	if err != nil {
		return plugin.Error(pluginName, err)
	}

	// The Rust handle (and its etcd watch) is created when this instance starts,
	// not while the Corefile is parsed: a reload that fails in a later plugin's
	// setup then leaves nothing behind. With the reload plugin the new instance
	// starts before the old one shuts down, so both handles coexist briefly.
	// etcdhosts_new waits up to `timeout` for the first read from etcd, so a new
	// instance does not answer NXDOMAIN for names that are in etcd; when etcd is
	// down CoreDNS starts anyway with the inline (and snapshot) records.
	c.OnStartup(func() error {
		if err := e.h.open(cfgJSON); err != nil {
			return plugin.Error(pluginName, fmt.Errorf("invalid configuration: %v", err))
		}
		e.labels = newMetricLabels(conf, e.Origins, e.cfg.Key)
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

// logLine writes one Rust log line through CoreDNS's logger, e.g.
// "[INFO] plugin/etcdhosts: loaded 12 entries at revision 5".
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

func parse(c *caddy.Controller) (*EtcdHosts, error) {
	e := &EtcdHosts{
		h: &handle{},
		cfg: config{
			Key:       defaultKey,
			TTL:       defaultTTL,
			TimeoutMs: uint64(defaultTimeout / time.Millisecond),
		},
	}
	root := dnsserver.GetConfig(c).Root

	var (
		inline    []string
		endpoints []string
		tlsSet    bool
		seen      = map[string]bool{}
	)
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++

		e.Origins = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)

		for c.NextBlock() {
			opt := c.Val()
			if _, err := netip.ParseAddr(opt); err == nil {
				// A hosts line: ADDRESS NAME...
				names := c.RemainingArgs()
				if len(names) == 0 {
					return nil, c.Errf("inline hosts line '%s' has no names", opt)
				}
				inline = append(inline, opt+" "+strings.Join(names, " "))
				continue
			}
			switch opt {
			case "ttl", "no_reverse", "fallthrough", "key", "credentials", "tls", "timeout", "force_reload", "snapshot", "status_key":
				if seen[opt] {
					return nil, c.Errf("%s given more than once", opt)
				}
				seen[opt] = true
			}
			args := c.RemainingArgs()
			switch opt {
			case "ttl":
				if len(args) != 1 {
					return nil, c.Errf("ttl needs a time in seconds")
				}
				ttl, err := strconv.Atoi(args[0])
				if err != nil {
					return nil, c.Errf("ttl needs a number of seconds, got '%s'", args[0])
				}
				if ttl <= 0 || ttl > 65535 {
					return nil, c.Errf("ttl provided is invalid: %d is not in 1..65535", ttl)
				}
				e.cfg.TTL = uint32(ttl)
			case "no_reverse":
				if len(args) != 0 {
					return nil, c.Errf("no_reverse takes no arguments")
				}
				e.cfg.NoReverse = true
			case "fallthrough":
				e.Fall.SetZonesFromArgs(args)
			case "key":
				if len(args) != 1 || args[0] == "" {
					return nil, c.Errf("key needs exactly one etcd key")
				}
				e.cfg.Key = args[0]
			case "endpoint":
				if len(args) == 0 {
					return nil, c.Errf("endpoint needs at least one URL")
				}
				for _, ep := range args {
					// Checked here for the line number; the scheme of a bare
					// host:port is settled below, once tls is known.
					if _, err := normalizeEndpoint(ep, false); err != nil {
						return nil, c.Errf("endpoint '%s' is invalid: %v", ep, err)
					}
				}
				endpoints = append(endpoints, args...)
			case "credentials":
				if len(args) != 2 {
					return nil, c.Errf("credentials needs a user name and a password")
				}
				e.cfg.Username, e.cfg.Password = &args[0], &args[1]
			case "tls":
				if len(args) > 3 {
					return nil, c.Errf("tls takes at most 3 arguments ([CERT KEY] [CACERT]), got %d", len(args))
				}
				t, err := tlsFromArgs(root, args)
				if err != nil {
					return nil, c.Errf("tls: %v", err)
				}
				tlsSet, e.cfg.TLS = true, t
			case "timeout":
				d, err := parseDuration(c, opt, args)
				if err != nil {
					return nil, err
				}
				if d < time.Millisecond {
					return nil, c.Errf("timeout must be at least 1ms, got '%s'", args[0])
				}
				e.cfg.TimeoutMs = uint64(d / time.Millisecond)
			case "force_reload":
				d, err := parseDuration(c, opt, args)
				if err != nil {
					return nil, err
				}
				if d != 0 && d < time.Second {
					return nil, c.Errf("force_reload must be 0 (off) or at least 1s, got '%s'", args[0])
				}
				e.cfg.ForceReloadMs = uint64(d / time.Millisecond)
			case "snapshot":
				if len(args) != 1 || args[0] == "" {
					return nil, c.Errf("snapshot needs exactly one file path")
				}
				p := absPath(root, args[0])
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					return nil, c.Errf("snapshot '%s' is a directory", p)
				}
				if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
					return nil, c.Errf("snapshot directory '%s' does not exist", filepath.Dir(p))
				}
				e.cfg.Snapshot = &p
			case "status_key":
				if len(args) != 1 || args[0] == "" {
					return nil, c.Errf("status_key needs exactly one etcd key prefix")
				}
				p := args[0]
				if !strings.HasSuffix(p, "/") {
					p += "/"
				}
				e.cfg.StatusKey = &p
			default:
				return nil, c.Errf("unknown property '%s'", opt)
			}
		}
	}
	if i == 0 {
		return nil, c.ArgErr()
	}

	// An https:// endpoint without a tls line means TLS with the system roots
	// (like etcdctl); an http:// endpoint with tls is a contradiction.
	for _, ep := range endpoints {
		if strings.HasPrefix(strings.ToLower(ep), "https://") {
			tlsSet = true
		}
	}
	if tlsSet {
		for _, ep := range endpoints {
			if strings.HasPrefix(strings.ToLower(ep), "http://") {
				return nil, c.Errf("endpoint '%s' is plain http but tls is configured", ep)
			}
		}
		if e.cfg.TLS == nil {
			e.cfg.TLS = &tlsConfig{}
		}
	}

	// A status key inside the watched key (or the other way round) would reload the
	// hosts on every status write, and every reload writes the status again.
	if p := e.cfg.StatusKey; p != nil {
		if (strings.HasSuffix(e.cfg.Key, "/") && strings.HasPrefix(*p, e.cfg.Key)) || strings.HasPrefix(e.cfg.Key, *p) {
			return nil, c.Errf("status_key '%s' overlaps the hosts key '%s'; use a prefix of its own", *p, e.cfg.Key)
		}
	}

	if len(endpoints) == 0 {
		endpoints = []string{defaultEndpoint}
		if tlsSet {
			endpoints = []string{"https://127.0.0.1:2379"}
		}
	}
	for _, ep := range endpoints {
		u, err := normalizeEndpoint(ep, tlsSet)
		if err != nil {
			return nil, c.Errf("endpoint '%s' is invalid: %v", ep, err)
		}
		e.cfg.Endpoints = append(e.cfg.Endpoints, u)
	}

	if e.Origins == nil {
		e.Origins = []string{}
	}
	e.zones = plugin.Zones(e.Origins)
	for _, z := range e.Origins {
		if strings.IndexByte(z, '\\') >= 0 {
			e.zonesEscaped = true
		}
	}
	e.cfg.Zones = e.Origins
	e.soa = make(map[string]soaNames, len(e.Origins))
	for _, z := range e.Origins {
		e.soa[z] = newSOANames(z)
	}
	if len(inline) > 0 {
		e.cfg.Inline = strings.Join(inline, "\n") + "\n"
	}
	return e, nil
}

// instanceName is this server block's name in the fleet status, "<hostname>/<listen>":
// listen is the first bound address as IP:PORT, or ":PORT" for a block without bind.
func instanceName(hostname string, conf *dnsserver.Config) string {
	listen := ":" + conf.Port
	if len(conf.ListenHosts) > 0 && conf.ListenHosts[0] != "" {
		listen = net.JoinHostPort(conf.ListenHosts[0], conf.Port)
	}
	return hostname + "/" + listen
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}

func parseDuration(c *caddy.Controller, opt string, args []string) (time.Duration, error) {
	if len(args) != 1 {
		return 0, c.Errf("%s needs exactly one duration", opt)
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return 0, c.Errf("invalid duration for %s '%s'", opt, args[0])
	}
	if d < 0 {
		return 0, c.Errf("invalid negative duration for %s '%s'", opt, args[0])
	}
	return d, nil
}

// tlsFromArgs follows CoreDNS's pkg/tls convention: no arguments: server
// certificate checked against the system roots; CACERT; CERT KEY; CERT KEY
// CACERT. Every file named must exist.
func tlsFromArgs(root string, args []string) (*tlsConfig, error) {
	paths := make([]*string, len(args))
	for i, a := range args {
		p := absPath(root, a)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read '%s': %v", a, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("'%s' is a directory", a)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read '%s': %v", a, err)
		}
		f.Close()
		paths[i] = &p
	}
	t := &tlsConfig{}
	switch len(args) {
	case 0:
	case 1:
		t.CA = paths[0]
	case 2:
		t.Cert, t.Key = paths[0], paths[1]
	case 3:
		t.Cert, t.Key, t.CA = paths[0], paths[1], paths[2]
	}
	return t, nil
}

// normalizeEndpoint accepts "http(s)://host:port" or a bare "host:port", which
// gets https:// when tls is configured and http:// otherwise.
func normalizeEndpoint(ep string, tls bool) (string, error) {
	if !strings.Contains(ep, "://") {
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		ep = scheme + ep
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return "", errors.New("bad port")
		}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", errors.New("only scheme://host[:port] is allowed")
	}
	return u.Scheme + "://" + u.Host, nil
}

func absPath(root, p string) string {
	if !filepath.IsAbs(p) && root != "" {
		p = filepath.Join(root, p)
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
