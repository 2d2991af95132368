#!/usr/bin/env bash
# Runs every test of the project: Rust lint and tests (unit, real etcd, C ABI), then the
# Go plugin's unit tests and the end-to-end tests against a CoreDNS built by build.sh.
# Needs etcd, etcdctl and protoc on PATH (.ci/run installs them on Debian).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy"
cargo clippy --all-targets -- -D warnings
step "cargo test"
cargo test
