#!/usr/bin/env bash
# Benchmarks of the Rust core (benches/core.rs): parse+build of 100k/1M-line hosts files,
# etcdhosts_lookup through the C ABI on a 1M-record table, and memory per record.
#
#   bench/core.sh                  everything (about a minute on 2 cores)
#   bench/core.sh lookup           only the sections named: build, lookup, memory
#   BENCH_RUNS=11 bench/core.sh    more runs per figure (the median is reported; default 7)
#
# Prints the machine, the date and the figures, ready to paste into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min; the figures are noisy above ~1)"
echo "rustc:   $(rustc --version)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' + uncommitted changes to src/ or Cargo.toml')"
echo "command: cargo bench --bench core${*:+ -- $*}"
echo
# Build first, quietly, so that compiler output does not mix with the figures.
cargo bench --bench core --no-run --quiet
cargo bench --bench core --quiet -- "$@"
