#!/usr/bin/env bash
# Runs every test of the project: Rust lint and tests (unit, real etcd, C ABI), then the
# Go plugin's unit tests, the end-to-end tests against a CoreDNS built by build.sh, and the
# web console's browser tests. It first installs what the tests need from Debian
# (scripts/deps.sh test: as root or with passwordless sudo), or fails at once with the
# command to run.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "scripts/deps.sh test"
scripts/deps.sh test

# The workspace: the core (the root crate) and dnsctl (dnsctl/).
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy --workspace"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test --workspace"
cargo test --workspace

step "fuzz targets: cargo build --locked of fuzz/ (stable), replay of the committed corpus"
fuzz/replay.sh

step "go-shim: gofmt, go vet, go test (needs target/release/libetcdhosts.a)"
cargo build --release -p etcdhosts --lib
(
  cd go-shim
  unformatted="$(gofmt -l .)"
  [ -z "$unformatted" ] || { echo "gofmt needed: $unformatted"; exit 1; }
  go vet ./...
  go test -count=1 ./...
)

step "end-to-end and fault tests: build CoreDNS (./build.sh), then real etcd (single and 3-member clusters) + CoreDNS over UDP/TCP"
# Every supported CoreDNS version (the default and the oldest, see build.sh): TestSupportedVersions
# runs a short DNS check against each.
ETCDHOSTS_COREDNS_ONLY=1 ./build.sh v1.12.4 v1.15.0
(
  cd tests/e2e
  unformatted="$(gofmt -l .)"
  [ -z "$unformatted" ] || { echo "gofmt needed: $unformatted"; exit 1; }
  go vet ./...
  log="$(mktemp)"
  if ! go test -count=1 -timeout 20m -v ./... >"$log" 2>&1; then
    cat "$log"
    # The full log is long (process dumps): repeat each failed test's own lines last.
    printf '\n== failure summary\n'
    awk '/^=== RUN/ { test = $3; buf[test] = ""; keep = 0; next }
         /^    [A-Za-z0-9_]+_test\.go:[0-9]+: / { keep = !/---- output of/ }
         /^    / && keep { buf[test] = buf[test] $0 "\n"; next }
         /^\s*--- FAIL: / { name = $3; printf "%s\n%s", $0, buf[name] }' "$log"
    exit 1
  fi
  grep -E '^(--- |ok )|latency|RESULT|netem' "$log"
  rm -f "$log"
)

step "deploy/kubernetes: manifests and Helm values (PyYAML), their Corefiles in the built CoreDNS"; deploy/kubernetes/check.sh

step "deploy/monitoring: promtool check/test rules, the Grafana dashboard, metric names against go-shim/metrics.go"; deploy/monitoring/check.sh

step "web console: Playwright driving headless Chromium against dnsctl serve, real etcd and CoreDNS"
cargo build -p dnsctl
(
  cd tests/browser
  npm ci --no-audit --no-fund --loglevel=error
  DNSCTL_BIN="$PWD/../../target/debug/dnsctl" node --test --test-concurrency=1
)

step "release: ./build.sh --release (default version), tarballs, checksums, the packed binaries against etcd, systemd units"
# arm64 (cross-compiled, run under qemu) adds ~12 minutes on 2 cores: opt in with
# ETCDHOSTS_ARCHES="amd64 arm64" ./test.sh
ETCDHOSTS_ARCHES="${ETCDHOSTS_ARCHES:-amd64}" tests/release/test_release.sh
