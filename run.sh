#!/usr/bin/env bash
# Brings up a working DNS server answering from etcd, on a fresh Debian machine with Rust
# and Go:
#
#   ./run.sh                       start a local single-node etcd too (data in run/etcd)
#   ./run.sh http://HOST:2379      use this etcd instead
#
# It installs what is missing (apt), builds CoreDNS with etcdhosts if needed (./build.sh),
# loads examples/hosts into the key /etcdhosts if that key is empty, and runs CoreDNS on
# 127.0.0.1:1053 in the foreground. Ctrl-C stops CoreDNS and the etcd it started.
set -euo pipefail
cd "$(dirname "$0")"

endpoint="${1:-${ETCD_ENDPOINT:-}}"
key="${ETCDHOSTS_KEY:-/etcdhosts}"
run_dir="$PWD/run"
mkdir -p "$run_dir"
export ETCDCTL_API=3

scripts/deps.sh run

echo "==> ./build.sh (skipped when up to date)"
./build.sh
version="$(sed -n 's/^DEFAULT_COREDNS_VERSION=//p' build.sh)"
coredns="$PWD/build/coredns-$version/coredns"

etcd_pid="" coredns_pid=""
# alive PID: the process runs (a child that exited stays a zombie until waited for).
alive() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" && [ -n "$state" ] && [ "$state" != Z ]
}
# stop PID: SIGTERM, then wait up to 15 s for it to exit before SIGKILL.
stop() {
  local pid="$1"
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    echo "==> pid $pid did not stop in 15 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
# CoreDNS first, and only then etcd: on its way out CoreDNS removes its status key, which
# needs etcd. Both run in process groups of their own (set -m), so that Ctrl-C reaches only
# this script, which then stops them in that order.
cleanup() {
  stop "$coredns_pid"
  stop "$etcd_pid"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "$endpoint" ]; then
  client_port=2379 peer_port=2380
  while ! port_free "$client_port" || ! port_free "$peer_port"; do
    client_port=$((client_port + 10)) peer_port=$((peer_port + 10))
  done
  endpoint="http://127.0.0.1:$client_port"
  echo "==> starting etcd on $endpoint (data in run/etcd, log in run/etcd.log)"
  set -m
  etcd --name etcdhosts-demo --data-dir "$run_dir/etcd" \
    --listen-client-urls "$endpoint" --advertise-client-urls "$endpoint" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "etcdhosts-demo=http://127.0.0.1:$peer_port" \
    >"$run_dir/etcd.log" 2>&1 &
  etcd_pid=$!
  set +m
  for _ in $(seq 100); do
    etcdctl --endpoints "$endpoint" endpoint health >/dev/null 2>&1 && break
    kill -0 "$etcd_pid" 2>/dev/null || { cat "$run_dir/etcd.log"; exit 1; }
    sleep 0.1
  done
  etcdctl --endpoints "$endpoint" endpoint health >/dev/null
fi

# The quick-start lines (README) read the endpoint from here: it may not be 2379.
echo "$endpoint" >"$run_dir/endpoint"

if [ -z "$(etcdctl --endpoints "$endpoint" get "$key" --print-value-only)" ]; then
  echo "==> loading examples/hosts into $key"
  etcdctl --endpoints "$endpoint" put "$key" <examples/hosts >/dev/null
fi

cat >"$run_dir/Corefile" <<COREFILE
.:1053 {
    bind 127.0.0.1
    etcdhosts example.org {
        127.0.0.1 localhost.example.org
        key $key
        endpoint $endpoint
        timeout 5s
        ttl 60
        status_key /etcdhosts-status/
    }
    prometheus 127.0.0.1:9153
    ready 127.0.0.1:8181
    errors
    log
}
COREFILE

cat >"$run_dir/dnsctl.yaml" <<DNSCTL
dnskey: $key
etcd:
  endpoints: [$endpoint]
DNSCTL

cat <<HELP
==> CoreDNS with etcdhosts on 127.0.0.1:1053 (Corefile: run/Corefile). Try:
    dig @127.0.0.1 -p 1053 web.example.org
    dig @127.0.0.1 -p 1053 web.example.org AAAA
    dig @127.0.0.1 -p 1053 x.apps.example.org
    dig @127.0.0.1 -p 1053 -x 10.0.0.20
    dig @127.0.0.1 -p 1053 nope.example.org        # NXDOMAIN with an SOA
  Change a record and ask again:
    ETCDCTL_API=3 etcdctl --endpoints "$(cat run/endpoint)" put $key "10.0.0.99 web.example.org"
  Metrics: curl -s 127.0.0.1:9153/metrics | grep etcdhosts
  Edit the records: target/release/dnsctl -c run/dnsctl.yaml edit
  Web console (http://127.0.0.1:8053/): target/release/dnsctl -c run/dnsctl.yaml serve
HELP
# In the background, in its own process group, and waited for: Ctrl-C reaches this script
# alone, whose trap stops CoreDNS and then etcd.
set -m
"$coredns" -conf "$run_dir/Corefile" &
coredns_pid=$!
set +m
wait "$coredns_pid"
