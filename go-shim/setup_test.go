package etcdhosts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/pkg/fall"
)

// The block handed to Rust is the Corefile's tokens, line by line, with the
// zones CoreDNS gives, the server's root and its listen addresses; fallthrough's
// zones go to CoreDNS's fall package.
func TestSetupBlock(t *testing.T) {
	for _, tc := range []struct {
		input string
		keys  []string // server block keys
		want  block
		fall  fall.F
	}{
		{input: `etcdhosts`, keys: []string{"example.org."},
			want: block{Zones: []string{"example.org."}}},
		{input: `etcdhosts example.org 10.0.0.0/8 {
				10.0.0.1 a.example.org a
				ttl 60
				credentials root "p@ss word"
				fallthrough sub.example.org
			}`,
			want: block{Zones: []string{"example.org.", "10.in-addr.arpa."}, Lines: [][]string{
				{"10.0.0.1", "a.example.org", "a"}, {"ttl", "60"},
				{"credentials", "root", "p@ss word"}, {"fallthrough", "sub.example.org"}}},
			fall: fall.F{Zones: []string{"sub.example.org."}}},
		{input: `etcdhosts . {
				fallthrough
			}`, want: block{Zones: []string{"."}, Lines: [][]string{{"fallthrough"}}}, fall: fall.Root},
	} {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = tc.keys
		conf := dnsserver.GetConfig(c)
		conf.Root, conf.ListenHosts, conf.Port = "/etc/coredns", []string{"127.0.0.1"}, "1053"
		e, err := parse(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.input, err)
		}
		var got block
		if err := json.Unmarshal(e.block, &got); err != nil {
			t.Fatal(err)
		}
		want := tc.want
		want.Root, want.ListenHosts, want.Port = "/etc/coredns", []string{"127.0.0.1"}, "1053"
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %s\nwant %+v", tc.input, e.block, want)
		}
		wantFall := tc.fall
		if wantFall.Zones == nil {
			wantFall = fall.F{}
		}
		if !e.Fall.Equal(wantFall) {
			t.Errorf("%s: fallthrough %v, want %v", tc.input, e.Fall.Zones, wantFall.Zones)
		}
	}
}

// Rust's refusals stop setup, at the line of the option at fault.
func TestSetupErrors(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"etcdhosts {\n ttl 0\n }", "Testfile:2 - Error during parsing: ttl: 0 is not in 1..65535"},
		{"etcdhosts {\n key /k/\n no_reverse\n status_key /k/s\n }", "Testfile:4 - Error during parsing: status_key: /k/s/ overlaps the hosts key /k/"},
		{"etcdhosts {\n 10.0.0.1 a\n 10.0.0.2\n }", "Testfile:3 - Error during parsing: inline hosts line '10.0.0.2' has no names"},
		{"etcdhosts {\n fallthrough\n bogus 1\n }", "Testfile:3 - Error during parsing: unknown property 'bogus'"},
		{"etcdhosts\netcdhosts", "once"},
	} {
		_, err := parse(caddy.NewTestController("dns", tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.input, err, tc.want)
		}
	}
}

// Errors returned by setup carry the plugin's name.
func TestSetupErrorNamesPlugin(t *testing.T) {
	c := caddy.NewTestController("dns", "etcdhosts {\n ttl 0\n }")
	err := setup(c)
	if err == nil || !strings.HasPrefix(err.Error(), "plugin/etcdhosts: ") || !strings.Contains(err.Error(), "ttl: 0") {
		t.Fatalf("got %v", err)
	}
}
