#!/usr/bin/env bash
# Validates deploy/monitoring offline: promtool check rules and promtool test rules
# (tests.yml), check.py (the dashboard's JSON and datasource variable, and every metric
# name in rules, tests and dashboard exported by go-shim/metrics.go), and proofs that each
# can refuse: a rule that never fires fails its unit test, and a misspelt metric fails
# check.py. promtool comes with Debian's prometheus package (scripts/deps.sh test).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

command -v promtool >/dev/null || {
	echo "deploy/monitoring: no promtool: run scripts/deps.sh test (Debian package prometheus)" >&2
	exit 1
}

promtool check rules "$here/etcdhosts.rules.yml"
promtool test rules "$here/tests.yml"
python3 "$here/check.py"

# The unit tests must be able to fail: with EtcdhostsWatchDisconnected's expression
# broken (== 0 made == 2) they must not pass.
cp "$here/etcdhosts.rules.yml" "$here/tests.yml" "$tmp/"
sed -i 's/expr: coredns_etcdhosts_watch_connected == 0$/expr: coredns_etcdhosts_watch_connected == 2/' "$tmp/etcdhosts.rules.yml"
if cmp -s "$here/etcdhosts.rules.yml" "$tmp/etcdhosts.rules.yml"; then
	echo "deploy/monitoring: the sed meant to break EtcdhostsWatchDisconnected changed nothing" >&2
	exit 1
fi
if promtool test rules "$tmp/tests.yml" >"$tmp/test.out" 2>&1; then
	echo "deploy/monitoring: promtool test rules passed with EtcdhostsWatchDisconnected broken" >&2
	exit 1
fi
grep -q "alertname: EtcdhostsWatchDisconnected" "$tmp/test.out"

# check.py must be able to fail: a metric name metrics.go does not export is refused.
sed 's/coredns_etcdhosts_invalid_lines/coredns_etcdhosts_invalid_line/' "$here/etcdhosts.rules.yml" >"$tmp/misspelt.rules.yml"
if python3 "$here/check.py" --rules "$tmp/misspelt.rules.yml" 2>"$tmp/check.out"; then
	echo "deploy/monitoring: check.py accepted the unknown metric coredns_etcdhosts_invalid_line" >&2
	exit 1
fi
grep -q "rules: coredns_etcdhosts_invalid_line is not a metric of go-shim/metrics.go" "$tmp/check.out"
echo "deploy/monitoring: rules valid, unit tests pass (and fail with a broken rule), dashboard and metric names checked"
