#!/usr/bin/env bash
# Validates deploy/kubernetes offline: check.py (PyYAML: every manifest and the Helm chart
# values parse, refer to each other consistently, and keep the restrictive settings), a
# proof that check.py can refuse, and, when ./build.sh has built a CoreDNS in this checkout,
# both Corefiles (the ConfigMap's and the one the chart writes from the values) started in
# it: /health must answer 200, and /ready 503 (no etcd is reachable from the test).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d)"
pid=""
trap '[[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

python3 "$here/check.py"

# check.py must be able to fail: a copy with a writable root filesystem is refused.
mkdir "$tmp/loose"
cp "$here"/*.yaml "$tmp/loose/"
sed -i 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$tmp/loose/deployment.yaml"
if python3 "$here/check.py" "$tmp/loose" >"$tmp/loose.out"; then
	echo "deploy/kubernetes: check.py accepted readOnlyRootFilesystem: false" >&2
	exit 1
fi
grep -q "Deployment: readOnlyRootFilesystem is not true" "$tmp/loose.out"

# COREDNS_BIN names another CoreDNS built with etcdhosts.
coredns="${COREDNS_BIN:-$(find "$root/build" -maxdepth 2 -path '*/coredns-v*/coredns' -type f 2>/dev/null | sort | tail -1 || true)}"
if [[ -z "$coredns" ]] || ! command -v openssl >/dev/null; then
	echo "deploy/kubernetes: SKIPPED starting the Corefiles: no build/coredns-v*/coredns (./build.sh) or no openssl"
	exit 0
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# HTTP status of URL, or 000 while nothing answers.
status() { python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print("000")
PY
}
# The TLS files the Corefiles name: a self-signed pair stands in for the Secret.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=check \
	-keyout "$tmp/client.key" -out "$tmp/client.crt" 2>/dev/null
cp "$tmp/client.crt" "$tmp/ca.crt"
for which in configmap helm; do
	health="$(free_port)" ready="$(free_port)"
	python3 "$here/check.py" --corefile "$which" |
		sed -e "s/^\.:53 {/.:$(free_port) {\n    bind 127.0.0.1/" \
			-e "s/^\( *\)health\( :8080\)\?\( {\)\?$/\1health 127.0.0.1:$health\3/" \
			-e "s/^\( *\)ready\( :8181\)\?$/\1ready 127.0.0.1:$ready/" \
			-e "s/prometheus .*:9153/prometheus 127.0.0.1:$(free_port)/" \
			-e "s#/etc/etcdhosts/tls/#$tmp/#g" -e "s#/var/lib/coredns/#$tmp/#" >"$tmp/$which.Corefile"
	"$coredns" -conf "$tmp/$which.Corefile" >"$tmp/$which.log" 2>&1 &
	pid=$!
	deadline=$((SECONDS + 20))
	until [[ "$(status "http://127.0.0.1:$health/health")" == 200 ]]; do
		if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
			echo "deploy/kubernetes: $which Corefile: /health never answered 200" >&2
			cat "$tmp/$which.Corefile" "$tmp/$which.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	got="$(status "http://127.0.0.1:$ready/ready")"
	if [[ "$got" != 503 ]]; then
		echo "deploy/kubernetes: $which Corefile: /ready answered $got, not 503 without etcd" >&2
		exit 1
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	echo "deploy/kubernetes: the $which Corefile starts $(basename "$(dirname "$coredns")"): /health 200, /ready 503 without etcd"
done
