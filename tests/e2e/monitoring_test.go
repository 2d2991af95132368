package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMonitoring runs deploy/monitoring/etcdhosts.rules.yml in Debian's Prometheus, which
// scrapes a real CoreDNS every second: with etcd up no alert is active, stopping etcd fires
// EtcdhostsWatchDisconnected, and starting etcd again (same data directory and ports)
// resolves it. The rules are loaded as they are but for their `for:` durations, shortened
// to 2s in a copy (see shortenFor). Prometheus is not optional: without it the test fails,
// naming scripts/deps.sh test.
func TestMonitoring(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("TestMonitoring needs Prometheus (Debian package prometheus; run scripts/deps.sh test): %v", err)
	}
	rules, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "monitoring", "etcdhosts.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}

	etcd := startEtcd(t)
	const key = "/e2e/monitoring"
	etcd.put(t, key, "10.7.0.1 mon.example.org\n")
	port, metricsPort := freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startCoreDNS(t, fmt.Sprintf(`
.:%d {
    bind 127.0.0.1
    etcdhosts example.org {
        key %s
        endpoint %s
        timeout 1s
    }
    prometheus 127.0.0.1:%d
}
`, port, key, etcd.url(), metricsPort), addr)
	waitFor(t, 10*time.Second, "CoreDNS to serve the key", func() (bool, string) {
		return answerIs(addr, "mon.example.org.", dns.TypeA, "10.7.0.1")
	})

	prom := startPrometheus(t, promBin, shortenFor(t, string(rules), "2s"), fmt.Sprintf("127.0.0.1:%d", metricsPort))

	// Every alert of the file is loaded.
	var names []string
	for _, g := range prom.ruleGroups(t) {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				names = append(names, r.Name)
			}
		}
	}
	if want := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1); len(names) != len(want) {
		t.Fatalf("Prometheus loaded the alerts %v, the file has %d", names, len(want))
	}

	// Healthy: once a few scrapes went through the rules, no alert is pending or firing.
	waitFor(t, 30*time.Second, "3 scrapes of CoreDNS with the watch connected", func() (bool, string) {
		v, err := prom.query(fmt.Sprintf(`sum_over_time(coredns_etcdhosts_watch_connected{key=%q}[1m]) >= 3`, key))
		return err == nil && len(v) == 1, fmt.Sprint(v, err)
	})
	prom.waitEvaluated(t, time.Now())
	if active := prom.alerts(t); len(active) != 0 {
		t.Fatalf("alerts active with etcd up: %+v", active)
	}
	// coredns_etcdhosts_build_info reaches Prometheus with the library's version.
	if v, err := prom.query(`coredns_etcdhosts_build_info`); err != nil || len(v) != 1 ||
		!regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v[0].Metric["version"]) || v[0].Value[1] != "1" {
		t.Errorf("coredns_etcdhosts_build_info in Prometheus: %+v %v", v, err)
	}

	// etcd stops: the watch goes down and, 2s later, the alert fires.
	etcd.stop(t)
	stopped := time.Now()
	var fired promAlert
	waitFor(t, 60*time.Second, "EtcdhostsWatchDisconnected to fire", func() (bool, string) {
		active := prom.alerts(t)
		for _, a := range active {
			if a.Labels["alertname"] == "EtcdhostsWatchDisconnected" && a.State == "firing" {
				fired = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("active alerts: %+v", active)
	})
	t.Logf("EtcdhostsWatchDisconnected firing %v after etcd stopped", time.Since(stopped).Round(100*time.Millisecond))
	if fired.Labels["key"] != key || fired.Labels["severity"] != "warning" ||
		fired.Labels["instance"] != fmt.Sprintf("127.0.0.1:%d", metricsPort) ||
		!strings.Contains(fired.Annotations["description"], "key "+key) || fired.Annotations["runbook_url"] == "" {
		t.Errorf("the alert: %+v", fired)
	}

	// etcd is back: the watch reconnects and the alert resolves.
	etcd.start(t)
	restarted := time.Now()
	waitFor(t, 60*time.Second, "EtcdhostsWatchDisconnected to resolve", func() (bool, string) {
		active := prom.alerts(t)
		for _, a := range active {
			if a.Labels["alertname"] == "EtcdhostsWatchDisconnected" {
				return false, fmt.Sprintf("active alerts: %+v", active)
			}
		}
		return true, ""
	})
	t.Logf("EtcdhostsWatchDisconnected resolved %v after etcd restarted", time.Since(restarted).Round(100*time.Millisecond))
	// Prometheus, CoreDNS and etcd are stopped by their cleanups (SIGTERM), newest first.
}

// shortenFor returns rules with every alert's `for:` duration replaced by d, as
//
//	sed -E 's/^( *for: *)[^ #]+/\1'"$d"'/' etcdhosts.rules.yml
//
// would: one replacement per alert, or the test fails (a rule file laid out differently).
func shortenFor(t *testing.T, rules, d string) string {
	t.Helper()
	forLine := regexp.MustCompile(`(?m)^( *for: *)[^ #\n]+`)
	alerts := len(regexp.MustCompile(`(?m)^\s*- alert: `).FindAllString(rules, -1))
	if n := len(forLine.FindAllString(rules, -1)); n != alerts || n == 0 {
		t.Fatalf("etcdhosts.rules.yml: %d `for:` lines for %d alerts; shortenFor expects one each", n, alerts)
	}
	return forLine.ReplaceAllString(rules, "${1}"+d)
}

// prometheus is Debian's Prometheus on 127.0.0.1, scraping one target every second and
// evaluating its rules every second.
type prometheus struct {
	base string
	proc *proc
}

func startPrometheus(t *testing.T, bin, rules, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "etcdhosts.rules.yml")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: coredns
    static_configs:
      - targets: ['%s']
`, rulesFile, target)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &prometheus{base: "http://" + listen}
	p.proc = startProc(t, "prometheus", nil, dir, bin,
		"--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
		"--log.level=warn")
	waitFor(t, 30*time.Second, "Prometheus to be ready", func() (bool, string) {
		if p.proc.exited() {
			t.Fatalf("prometheus exited: %v\n%s", p.proc.err, tail(p.proc.out.String(), 4000))
		}
		code, body, err := httpGet(p.base + "/-/ready")
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})
	return p
}

// get decodes the data of an /api/v1 answer into out.
func (p *prometheus) get(path string, out any) error {
	code, body, err := httpGet(p.base + path)
	if err != nil {
		return err
	}
	var r struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "success" {
		return fmt.Errorf("GET %s: %d %s (%v)", path, code, tail(body, 500), err)
	}
	return json.Unmarshal(r.Data, out)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// query evaluates an instant PromQL query (a vector) now.
func (p *prometheus) query(q string) ([]promSample, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: a %s, not a vector", q, data.ResultType)
	}
	return data.Result, nil
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending or firing
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

// alerts returns the active (pending or firing) alerts.
func (p *prometheus) alerts(t *testing.T) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", &data); err != nil {
		t.Fatal(err)
	}
	return data.Alerts
}

type promGroup struct {
	Name           string    `json:"name"`
	LastEvaluation time.Time `json:"lastEvaluation"`
	Rules          []struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Health string `json:"health"`
		Error  string `json:"lastError"`
	} `json:"rules"`
}

func (p *prometheus) ruleGroups(t *testing.T) []promGroup {
	t.Helper()
	var data struct {
		Groups []promGroup `json:"groups"`
	}
	if err := p.get("/api/v1/rules", &data); err != nil {
		t.Fatal(err)
	}
	return data.Groups
}

// waitEvaluated waits until every rule group was evaluated after since, without error.
func (p *prometheus) waitEvaluated(t *testing.T, since time.Time) {
	t.Helper()
	waitFor(t, 30*time.Second, "the rules to be evaluated", func() (bool, string) {
		groups := p.ruleGroups(t)
		for _, g := range groups {
			if !g.LastEvaluation.After(since) {
				return false, fmt.Sprintf("%s last evaluated at %v", g.Name, g.LastEvaluation)
			}
			for _, r := range g.Rules {
				if r.Health != "ok" {
					t.Fatalf("rule %s: health %q: %s", r.Name, r.Health, r.Error)
				}
			}
		}
		return len(groups) > 0, "no rule groups"
	})
}
