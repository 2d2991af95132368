package etcdhosts

import (
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestBuildInfo: one coredns_etcdhosts_build_info series, value 1, whose version
// label is the workspace version of Cargo.toml, read from the Rust library.
func TestBuildInfo(t *testing.T) {
	cargo, err := os.ReadFile("../Cargo.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\[workspace\.package\][^\[]*?^version = "([^"]+)"`).FindSubmatch(cargo)
	if m == nil {
		t.Fatal("no version in Cargo.toml's [workspace.package]")
	}
	want := string(m[1])

	ch := make(chan prometheus.Metric, 16)
	(&collector{}).Collect(ch) // no instances: build_info alone
	close(ch)
	var got []prometheus.Metric
	for metric := range ch {
		got = append(got, metric)
	}
	if len(got) != 1 || got[0].Desc() != descBuildInfo {
		t.Fatalf("collected %v, want build_info alone", got)
	}
	var pb dto.Metric
	if err := got[0].Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.GetGauge().GetValue() != 1 || len(pb.GetLabel()) != 1 ||
		pb.GetLabel()[0].GetName() != "version" || pb.GetLabel()[0].GetValue() != want {
		t.Fatalf("build_info %v, want version=%q value 1", &pb, want)
	}
}
