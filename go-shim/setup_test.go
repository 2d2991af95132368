package etcdhosts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/pkg/fall"
)

func ptr(s string) *string { return &s }

func TestSetupParse(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "client.pem")
	key := filepath.Join(dir, "client-key.pem")
	ca := filepath.Join(dir, "ca.pem")
	for _, f := range []string{cert, key, ca} {
		if err := os.WriteFile(f, []byte("-"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.pem")

	defaults := func(mod func(c *config)) config {
		c := config{
			Endpoints: []string{"http://127.0.0.1:2379"},
			Key:       "/etcdhosts",
			TTL:       3600,
			TimeoutMs: 5000,
			Zones:     []string{},
		}
		if mod != nil {
			mod(&c)
		}
		return c
	}

	tests := []struct {
		input   string
		keys    []string // server block keys
		wantErr string   // substring of the error; "" = must succeed
		cfg     config
		fall    fall.F
	}{
		{input: `etcdhosts`, cfg: defaults(nil)},
		{input: `etcdhosts`, keys: []string{"example.org."},
			cfg: defaults(func(c *config) { c.Zones = []string{"example.org."} })},
		{input: `etcdhosts example.org example.net`, keys: []string{"."},
			cfg: defaults(func(c *config) { c.Zones = []string{"example.org.", "example.net."} })},
		{input: `etcdhosts example.org 10.0.0.0/8`,
			cfg: defaults(func(c *config) { c.Zones = []string{"example.org.", "10.in-addr.arpa."} })},
		{input: `etcdhosts {
				fallthrough
			}`, cfg: defaults(nil), fall: fall.Root},
		{input: `etcdhosts . {
				fallthrough example.org
			}`, cfg: defaults(func(c *config) { c.Zones = []string{"."} }), fall: fall.F{Zones: []string{"example.org."}}},
		{input: `etcdhosts {
				10.0.0.1 a.example.org a
				fe80::1%eth0 b.example.org
				::ffff:10.0.0.2 c.example.org
				ttl 60
				no_reverse
				key /dns/hosts/
				endpoint http://10.0.0.1:2379 10.0.0.2:2379
				endpoint http://[::1]:2379
				credentials root "p@ss word"
				timeout 1500ms
				force_reload 5m
				snapshot ` + filepath.Join(dir, "snap.hosts") + `
				status_key /etcdhosts-status
				fallthrough
				10.0.0.3 d.example.org
			}`,
			cfg: defaults(func(c *config) {
				c.Inline = "10.0.0.1 a.example.org a\nfe80::1%eth0 b.example.org\n::ffff:10.0.0.2 c.example.org\n10.0.0.3 d.example.org\n"
				c.TTL = 60
				c.NoReverse = true
				c.Key = "/dns/hosts/"
				c.Endpoints = []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://[::1]:2379"}
				c.Username, c.Password = ptr("root"), ptr("p@ss word")
				c.TimeoutMs = 1500
				c.ForceReloadMs = 300000
				c.Snapshot = ptr(filepath.Join(dir, "snap.hosts"))
				c.StatusKey = ptr("/etcdhosts-status/")
			}), fall: fall.Root},
		// status_key: a trailing '/' is added when missing, kept when given.
		{input: `etcdhosts {
				status_key /fleet/dns/
			}`, cfg: defaults(func(c *config) { c.StatusKey = ptr("/fleet/dns/") })},
		{input: `etcdhosts {
				key /etcdhosts/
				status_key /etcdhosts-status
			}`, cfg: defaults(func(c *config) {
			c.Key = "/etcdhosts/"
			c.StatusKey = ptr("/etcdhosts-status/")
		})},
		// tls: CoreDNS's 0-3 argument convention.
		{input: `etcdhosts {
				tls
				endpoint https://etcd:2379
			}`, cfg: defaults(func(c *config) {
			c.TLS = &tlsConfig{}
			c.Endpoints = []string{"https://etcd:2379"}
		})},
		{input: `etcdhosts {
				tls ` + ca + `
			}`, cfg: defaults(func(c *config) {
			c.TLS = &tlsConfig{CA: &ca}
			c.Endpoints = []string{"https://127.0.0.1:2379"}
		})},
		{input: `etcdhosts {
				tls ` + cert + ` ` + key + `
				endpoint 10.0.0.1:2379
			}`, cfg: defaults(func(c *config) {
			c.TLS = &tlsConfig{Cert: &cert, Key: &key}
			c.Endpoints = []string{"https://10.0.0.1:2379"}
		})},
		{input: `etcdhosts {
				tls ` + cert + ` ` + key + ` ` + ca + `
				endpoint https://10.0.0.1:2379 https://10.0.0.2:2379
			}`, cfg: defaults(func(c *config) {
			c.TLS = &tlsConfig{Cert: &cert, Key: &key, CA: &ca}
			c.Endpoints = []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379"}
		})},
		// An https endpoint alone turns TLS on with the system roots.
		{input: `etcdhosts {
				endpoint https://10.0.0.1:2379
			}`, cfg: defaults(func(c *config) {
			c.TLS = &tlsConfig{}
			c.Endpoints = []string{"https://10.0.0.1:2379"}
		})},

		// Errors: each names the option.
		{input: "etcdhosts {\n ttl\n }", wantErr: "ttl"},
		{input: "etcdhosts {\n ttl 0\n }", wantErr: "ttl provided is invalid"},
		{input: "etcdhosts {\n ttl 65536\n }", wantErr: "ttl provided is invalid"},
		{input: "etcdhosts {\n ttl -1\n }", wantErr: "ttl provided is invalid"},
		{input: "etcdhosts {\n ttl abc\n }", wantErr: "ttl needs a number"},
		{input: "etcdhosts {\n ttl 1 2\n }", wantErr: "ttl"},
		{input: "etcdhosts {\n ttl 30\n ttl 40\n }", wantErr: "ttl given more than once"},
		{input: "etcdhosts {\n no_reverse yes\n }", wantErr: "no_reverse"},
		{input: "etcdhosts {\n key\n }", wantErr: "key"},
		{input: "etcdhosts {\n key a b\n }", wantErr: "key"},
		{input: "etcdhosts {\n endpoint\n }", wantErr: "endpoint"},
		{input: "etcdhosts {\n endpoint ftp://10.0.0.1:2379\n }", wantErr: "endpoint"},
		{input: "etcdhosts {\n endpoint http://10.0.0.1:99999\n }", wantErr: "endpoint"},
		{input: "etcdhosts {\n endpoint http://10.0.0.1:2379/v3\n }", wantErr: "endpoint"},
		{input: "etcdhosts {\n endpoint http://\n }", wantErr: "endpoint"},
		{input: "etcdhosts {\n credentials root\n }", wantErr: "credentials"},
		{input: "etcdhosts {\n credentials a b c\n }", wantErr: "credentials"},
		{input: "etcdhosts {\n tls " + missing + "\n }", wantErr: "tls"},
		{input: "etcdhosts {\n tls " + cert + " " + missing + "\n }", wantErr: "tls"},
		{input: "etcdhosts {\n tls " + dir + "\n }", wantErr: "tls"},
		{input: "etcdhosts {\n tls a b c d\n }", wantErr: "tls"},
		{input: "etcdhosts {\n tls\n endpoint http://10.0.0.1:2379\n }", wantErr: "tls"},
		{input: "etcdhosts {\n timeout\n }", wantErr: "timeout"},
		{input: "etcdhosts {\n timeout 5\n }", wantErr: "timeout"},
		{input: "etcdhosts {\n timeout -1s\n }", wantErr: "timeout"},
		{input: "etcdhosts {\n timeout 0s\n }", wantErr: "timeout"},
		{input: "etcdhosts {\n force_reload soon\n }", wantErr: "force_reload"},
		{input: "etcdhosts {\n force_reload 10ms\n }", wantErr: "force_reload"},
		{input: "etcdhosts {\n snapshot\n }", wantErr: "snapshot"},
		{input: "etcdhosts {\n snapshot /nonexistent-dir/x/snap\n }", wantErr: "snapshot"},
		{input: "etcdhosts {\n snapshot " + dir + "\n }", wantErr: "snapshot"},
		{input: "etcdhosts {\n status_key\n }", wantErr: "status_key needs exactly one"},
		{input: "etcdhosts {\n status_key /a/ /b/\n }", wantErr: "status_key needs exactly one"},
		{input: "etcdhosts {\n status_key \"\"\n }", wantErr: "status_key needs exactly one"},
		{input: "etcdhosts {\n status_key /s/\n status_key /t/\n }", wantErr: "status_key given more than once"},
		{input: "etcdhosts {\n key /etcdhosts/\n status_key /etcdhosts/status\n }", wantErr: "status_key '/etcdhosts/status/' overlaps the hosts key '/etcdhosts/'"},
		{input: "etcdhosts {\n status_key /etc\n key /etc/hosts\n }", wantErr: "status_key '/etc/' overlaps"},
		{input: "etcdhosts {\n status_key /\n }", wantErr: "overlaps"},
		{input: "etcdhosts {\n 10.0.0.1\n }", wantErr: "no names"},
		{input: "etcdhosts {\n reload 5s\n }", wantErr: "unknown property 'reload'"},
		{input: "etcdhosts {\n fallthrough\n bogus\n }", wantErr: "unknown property 'bogus'"},
		{input: "etcdhosts {\n example.org 10.0.0.1\n }", wantErr: "unknown property 'example.org'"},
		{input: "etcdhosts\netcdhosts", wantErr: "once"},
	}

	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = tc.keys
		e, err := parse(c)
		if tc.wantErr != "" {
			if err == nil {
				t.Errorf("test %d: expected an error containing %q, got none\n%s", i, tc.wantErr, tc.input)
				continue
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("test %d: expected an error containing %q, got %q", i, tc.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("test %d: unexpected error %q\n%s", i, err, tc.input)
			continue
		}
		if !reflect.DeepEqual(e.cfg, tc.cfg) {
			got, _ := json.Marshal(e.cfg)
			want, _ := json.Marshal(tc.cfg)
			t.Errorf("test %d: config\n got %s\nwant %s", i, got, want)
		}
		wantFall := tc.fall
		if wantFall.Zones == nil {
			wantFall = fall.F{}
		}
		if !e.Fall.Equal(wantFall) {
			t.Errorf("test %d: fallthrough %v, want %v", i, e.Fall.Zones, wantFall.Zones)
		}
	}
}

// Errors returned by setup carry the plugin's name.
func TestSetupErrorNamesPlugin(t *testing.T) {
	c := caddy.NewTestController("dns", "etcdhosts {\n ttl 0\n }")
	err := setup(c)
	if err == nil || !strings.HasPrefix(err.Error(), "plugin/etcdhosts: ") || !strings.Contains(err.Error(), "ttl provided is invalid") {
		t.Fatalf("got %v", err)
	}
}

// The JSON sent to Rust has exactly the documented fields.
func TestConfigJSON(t *testing.T) {
	c := caddy.NewTestController("dns", "etcdhosts example.org {\n 10.0.0.1 a.example.org\n }")
	e, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"endpoints":["http://127.0.0.1:2379"],"key":"/etcdhosts","username":null,"password":null,"tls":null,` +
		`"timeout_ms":5000,"ttl":3600,"zones":["example.org."],"no_reverse":false,"inline":"10.0.0.1 a.example.org\n",` +
		`"force_reload_ms":0,"snapshot":null,"status_key":null,"instance":""}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

// The fleet status names an instance "<hostname>/<listen>".
func TestInstanceName(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		port  string
		want  string
	}{
		{[]string{"127.0.0.1"}, "1053", "web1/127.0.0.1:1053"},
		{[]string{"10.0.0.1", "::1"}, "53", "web1/10.0.0.1:53"},
		{[]string{"::1"}, "53", "web1/[::1]:53"},
		{[]string{""}, "1053", "web1/:1053"},
		{nil, "53", "web1/:53"},
	} {
		conf := &dnsserver.Config{ListenHosts: tc.hosts, Port: tc.port}
		if got := instanceName("web1", conf); got != tc.want {
			t.Errorf("hosts %q port %s: got %q, want %q", tc.hosts, tc.port, got, tc.want)
		}
	}
}

// setup sends the instance name of its server block to Rust.
func TestSetupSetsInstance(t *testing.T) {
	c := caddy.NewTestController("dns", "etcdhosts {\n status_key /s\n }")
	conf := dnsserver.GetConfig(c)
	conf.ListenHosts, conf.Port = []string{"127.0.0.1"}, "1053"
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	e, ok := conf.Plugin[0](nil).(*EtcdHosts)
	if !ok {
		t.Fatalf("plugin is %T", conf.Plugin[0](nil))
	}
	if want := hostname() + "/127.0.0.1:1053"; e.cfg.Instance != want || *e.cfg.StatusKey != "/s/" {
		t.Fatalf("instance %q status_key %q, want %q and /s/", e.cfg.Instance, *e.cfg.StatusKey, want)
	}
}
