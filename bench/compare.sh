#!/usr/bin/env bash
# The Rust core's benchmarks of two commits, side by side in one run: builds benches/core.rs
# of BASE in a temporary worktree (its own target dir) and of the working tree, then runs
# the two binaries in turn, ROUNDS times, so that both see the same machine load.
#
#   bench/compare.sh BASE [SECTIONS...]      e.g. bench/compare.sh 56ba967 lookup memory
#   environment: ROUNDS=2 (alternations), BENCH_RUNS (runs per figure, default 3 here)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/compare.sh BASE [SECTIONS...]}
shift
rounds=${ROUNDS:-2}
export BENCH_RUNS=${BENCH_RUNS:-3}
tree=$(mktemp -d /tmp/etcdhosts-compare.XXXXXX)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -rf "$tree"' EXIT
git worktree add -q --detach "$tree" "$base"
binary() { # the bench binary cargo builds in $1 with target dir $2
  (cd "$1" && CARGO_TARGET_DIR=$2 cargo bench --bench core --no-run --message-format=json 2>/dev/null) |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="core" and m.get("executable"): print(m["executable"])' | tail -1
}
old=$(binary "$tree" "${CARGO_TARGET_DIR_BASE:-/tmp/etcdhosts-compare-target}")
new=$(binary . "${CARGO_TARGET_DIR:-$PWD/target}")
echo "# base $base ($(git rev-parse --short "$base")) vs working tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
for round in $(seq "$rounds"); do
  echo "## round $round: base"
  "$old" "$@" | grep -vE '^(#|reproduce|$)'
  echo "## round $round: working tree"
  "$new" "$@" | grep -vE '^(#|reproduce|$)'
done
