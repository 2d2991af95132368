#!/usr/bin/env bash
# What each entry point needs from Debian, checked by what the build and the tests actually
# use (a file, a command that works), and installed with apt when something is missing.
#
#   scripts/deps.sh PROFILE...          check, and install what is missing (as root or with
#                                       passwordless sudo; otherwise print the command and fail)
#   scripts/deps.sh --check PROFILE...  check only: print the command and fail if anything is missing
#
# Profiles (each includes the one before it):
#   build   a C compiler and libc headers (cgo, and crates with C parts), CA certificates (cargo
#           and go fetch over HTTPS), protoc with the well-known .proto files (etcd-client's
#           build script compiles etcd's protos, which import google/protobuf/descriptor.proto)
#   run     build + etcd, etcdctl and dig (./run.sh)
#   test    run + systemd-analyze, ip, chromium, node, npm, g++, python3 with PyYAML,
#           openssl, prometheus and promtool (./test.sh)
#   bench   run + dnsperf, dnsmasq and python3 (bench/run.sh)
# ETCDHOSTS_NO_INSTALL=1 behaves like --check.
set -euo pipefail

check_only="${ETCDHOSTS_NO_INSTALL:-0}"
profiles=()
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    build | run | test | bench) profiles+=("$arg") ;;
    *) echo "usage: scripts/deps.sh [--check] build|run|test|bench..." >&2; exit 2 ;;
  esac
done
[ ${#profiles[@]} -gt 0 ] || { echo "usage: scripts/deps.sh [--check] build|run|test|bench..." >&2; exit 2; }

has() { command -v "$1" >/dev/null 2>&1; }

# cc_works: a C program compiles and links (gcc alone, without libc6-dev, does not).
cc_works() {
  has cc && echo 'int main(void) { return 0; }' | cc -x c -o /dev/null - 2>/dev/null
}

# protoc_works: protoc compiles a file that imports a well-known type, as etcd-client's
# build does. `protoc` alone is not enough: Debian's protobuf-compiler leaves the .proto
# includes to libprotobuf-dev, a recommendation that --no-install-recommends drops.
protoc_works() {
  local protoc="${PROTOC:-protoc}" dir ok=1
  has "$protoc" || return 1
  dir="$(mktemp -d)"
  printf 'syntax = "proto3";\nimport "google/protobuf/descriptor.proto";\nmessage M { google.protobuf.FileDescriptorProto f = 1; }\n' >"$dir/probe.proto"
  "$protoc" --proto_path="$dir" --descriptor_set_out=/dev/null "$dir/probe.proto" 2>/dev/null || ok=0
  rm -rf "$dir"
  [ "$ok" = 1 ]
}

missing=()
need() { [[ " ${missing[*]} " == *" $1 "* ]] || missing+=("$1"); }

want_build() {
  cc_works || { need gcc; need libc6-dev; }
  [ -s /etc/ssl/certs/ca-certificates.crt ] || need ca-certificates
  if ! protoc_works; then
    has "${PROTOC:-protoc}" || need protobuf-compiler
    need libprotobuf-dev
  fi
}
want_run() {
  want_build
  has etcd || need etcd-server
  has etcdctl || need etcd-client
  has dig || need dnsutils
}
want_test() {
  want_run
  has systemd-analyze || need systemd  # the release test checks the systemd units
  has ip || need iproute2              # ip netns, veth, tc: the network fault tests
  has chromium || need chromium        # the web console's browser tests
  has node || need nodejs
  has npm || need npm
  # deploy/kubernetes/check.sh: the manifests parsed with PyYAML, a throwaway TLS pair
  python3 -c 'import yaml' 2>/dev/null || need python3-yaml
  has openssl || need openssl
  has g++ || need g++                  # libfuzzer-sys (fuzz/replay.sh) compiles libFuzzer's C++
  # deploy/monitoring/check.sh (promtool) and tests/e2e/monitoring_test.go (prometheus)
  { has promtool && has prometheus; } || need prometheus
}
want_bench() {
  want_run
  has dnsperf || need dnsperf
  # dnsmasq-base, not dnsmasq: the latter starts a system service that forwards upstream.
  has dnsmasq || [ -x /usr/sbin/dnsmasq ] || need dnsmasq-base
  has python3 || need python3
}

for p in "${profiles[@]}"; do "want_$p"; done
[ ${#missing[@]} -gt 0 ] || exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  if has sudo && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="sudo"; fi
fi
install_cmd="${sudo:+sudo }apt-get update && ${sudo:+sudo }apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$check_only" = 1 ] || [ "$sudo" = sudo ] || ! has apt-get; then
  echo "etcdhosts: missing Debian packages: ${missing[*]}" >&2
  echo "  install them with: $install_cmd" >&2
  exit 1
fi

echo "==> installing ${missing[*]} (apt-get)" >&2
etcd_was_active=0
systemctl is-active --quiet etcd 2>/dev/null && etcd_was_active=1
prometheus_was_active=0
systemctl is-active --quiet prometheus 2>/dev/null && prometheus_was_active=1
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null

# Debian's etcd-server starts a system etcd on 127.0.0.1:2379 when installed. It was
# installed here for its binary: every script starts its own etcd, in its own directory.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ "$etcd_was_active" = 0 ] &&
  systemctl is-active --quiet etcd 2>/dev/null; then
  echo "==> stopping the etcd service that installing etcd-server started" >&2
  $sudo systemctl stop etcd || true
fi
# Likewise Debian's prometheus starts a system Prometheus on :9090: the tests want its
# binaries only (promtool, and a prometheus each test starts on a port of its own).
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ "$prometheus_was_active" = 0 ] &&
  systemctl is-active --quiet prometheus 2>/dev/null; then
  echo "==> stopping the prometheus service that installing prometheus started" >&2
  $sudo systemctl stop prometheus || true
fi

# Check again: an install that "succeeded" but left the build without what it needs must
# fail here, not minutes later in the build.
missing=()
for p in "${profiles[@]}"; do "want_$p"; done
if [ ${#missing[@]} -gt 0 ]; then
  echo "etcdhosts: still missing after apt-get install: ${missing[*]}" >&2
  exit 1
fi
