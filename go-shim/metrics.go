package etcdhosts

import (
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics are read from Rust's counters at scrape time by one process-wide
// collector that iterates over the running instances. Instances join it in
// OnStartup and leave it in OnShutdown, so the reload plugin (which starts the
// new instance before it shuts the old one down) never registers a collector
// twice, and a stopped instance is never scraped.

var labelNames = []string{"server", "zones", "key"}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, name), help, labelNames, nil)
}

var (
	descEntries         = desc("entries", "Records served: (name, address) pairs from etcd, the snapshot file and inline lines.")
	descRevision        = desc("revision", "The etcd revision of the hosts data served (the SOA serial); 0 before the first read.")
	descReloads         = desc("reloads_total", "Tables published, from etcd or the snapshot file.")
	descReloadTimestamp = desc("reload_timestamp_seconds", "Unix time of the last table published; 0 before the first.")
	descInvalidLines    = desc("invalid_lines", "Lines skipped as invalid in the hosts data served.")
	descEtcdErrors      = desc("etcd_errors_total", "etcd sessions that failed (connect, read or watch), each followed by a retry.")
	descBadVersions     = desc("bad_versions_total", "Versions of the chunked layout not served because a chunk was missing or corrupt; the last good version stayed.")
	descWatchConnected  = desc("watch_connected", "1 while the etcd watch is established, else 0.")

	// One series per process, without the instance labels.
	descBuildInfo = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "build_info"),
		"Always 1; version is the etcdhosts library's (Rust core) version.", []string{"version"}, nil)
)

// metricLabels are the label values of one instance.
type metricLabels struct {
	server, zones, key string
}

// newMetricLabels: server is the block's listen address(es) in CoreDNS's
// "dns://host:port" form, zones the block's zones, key the etcd key.
func newMetricLabels(conf *dnsserver.Config, zones []zone, key string) metricLabels {
	hosts := conf.ListenHosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	servers := make([]string, 0, len(hosts))
	for _, h := range hosts {
		servers = append(servers, conf.Transport+"://"+net.JoinHostPort(h, conf.Port))
	}
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.name
	}
	return metricLabels{
		server: strings.Join(servers, ","),
		zones:  strings.Join(names, ","),
		key:    key,
	}
}

type collector struct {
	mu        sync.Mutex
	instances []*EtcdHosts // in registration order: the newest wins on equal labels
}

var (
	theCollector = &collector{}
	registerOnce sync.Once
)

func registerMetrics(e *EtcdHosts) {
	registerOnce.Do(func() {
		// CoreDNS's prometheus plugin serves the default registry.
		if err := prometheus.DefaultRegisterer.Register(theCollector); err != nil {
			if _, ok := err.(prometheus.AlreadyRegisteredError); !ok {
				log.Errorf("cannot register metrics: %v", err)
			}
		}
	})
	theCollector.mu.Lock()
	theCollector.instances = append(theCollector.instances, e)
	theCollector.mu.Unlock()
}

func unregisterMetrics(e *EtcdHosts) {
	theCollector.mu.Lock()
	defer theCollector.mu.Unlock()
	for i, x := range theCollector.instances {
		if x == e {
			theCollector.instances = append(theCollector.instances[:i], theCollector.instances[i+1:]...)
			return
		}
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEntries
	ch <- descRevision
	ch <- descReloads
	ch <- descReloadTimestamp
	ch <- descInvalidLines
	ch <- descEtcdErrors
	ch <- descBadVersions
	ch <- descWatchConnected
	ch <- descBuildInfo
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	// Newest first, and one series per label set: while a reload overlaps an
	// old and a new instance of the same block, only the new one is reported.
	instances := make([]*EtcdHosts, 0, len(c.instances))
	seen := make(map[metricLabels]bool, len(c.instances))
	for i := len(c.instances) - 1; i >= 0; i-- {
		e := c.instances[i]
		if !seen[e.labels] {
			seen[e.labels] = true
			instances = append(instances, e)
		}
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, libraryVersion())
	sort.SliceStable(instances, func(i, j int) bool {
		a, b := instances[i].labels, instances[j].labels
		if a.server != b.server {
			return a.server < b.server
		}
		if a.zones != b.zones {
			return a.zones < b.zones
		}
		return a.key < b.key
	})

	for _, e := range instances {
		s, err := e.h.stats()
		if err != nil {
			continue
		}
		l := []string{e.labels.server, e.labels.zones, e.labels.key}
		connected := 0.0
		if s.WatchConnected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(s.Records), l...)
		ch <- prometheus.MustNewConstMetric(descRevision, prometheus.GaugeValue, float64(s.Revision), l...)
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(s.Reloads), l...)
		ch <- prometheus.MustNewConstMetric(descReloadTimestamp, prometheus.GaugeValue, float64(s.LastReloadUnixMs)/1000, l...)
		ch <- prometheus.MustNewConstMetric(descInvalidLines, prometheus.GaugeValue, float64(s.InvalidLines), l...)
		ch <- prometheus.MustNewConstMetric(descEtcdErrors, prometheus.CounterValue, float64(s.EtcdErrors), l...)
		ch <- prometheus.MustNewConstMetric(descBadVersions, prometheus.CounterValue, float64(s.BadVersions), l...)
		ch <- prometheus.MustNewConstMetric(descWatchConnected, prometheus.GaugeValue, connected, l...)
	}
}
