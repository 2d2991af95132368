#!/usr/bin/env bash
# Regression test for the fuzz targets, on the stable toolchain of rust-toolchain.toml (no
# cargo-fuzz, no nightly, no sanitizer): builds fuzz/ with `cargo build --locked` (so
# fuzz/Cargo.lock must be current and the targets must compile against today's core), then
# runs every target once over every input of its committed corpus, fuzz/corpus/<target>/.
# A target's binary given files (not directories) runs each of them once through the
# target's body, with debug assertions on, and aborts on the first panic or failed check.
# Fails when a target has no corpus, or when fewer inputs ran than the corpus holds.
#
#   fuzz/replay.sh                 every target
#   fuzz/replay.sh lookup          these targets only
#
# bench/fuzz.sh does the fuzzing itself (cargo-fuzz, AddressSanitizer), by hand.
set -euo pipefail
cd "$(dirname "$0")"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(hosts_parse lookup table_changes table_lookup)

# Every target declared in Cargo.toml has a corpus, and is replayed when none is named.
declared="$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' Cargo.toml | grep -v '^etcdhosts-fuzz$' | sort | tr '\n' ' ')"
[ "$#" -gt 0 ] || [ "$declared" = "$(printf '%s\n' "${targets[@]}" | sort | tr '\n' ' ')" ] || {
  echo "fuzz/replay.sh: fuzz/Cargo.toml declares targets [$declared], replay.sh knows [${targets[*]}]" >&2
  exit 1
}

cargo build --locked --bins

status=0
for target in "${targets[@]}"; do
  dir="corpus/$target"
  mapfile -t inputs < <(find "$dir" -maxdepth 1 -type f 2>/dev/null | sort)
  if [ ${#inputs[@]} -eq 0 ]; then
    echo "!! $target: no corpus in fuzz/$dir" >&2
    status=1
    continue
  fi
  log="$(mktemp)"
  start=$(date +%s%N)
  if ! "target/debug/$target" "${inputs[@]}" >"$log" 2>&1; then
    echo "!! $target failed on an input of its corpus:" >&2
    grep -B2 -A20 -E 'panicked|ERROR|deadly signal' "$log" | head -60 >&2 || tail -40 "$log" >&2
    grep '^Running: ' "$log" | tail -1 >&2
    status=1
  else
    ran="$(grep -c '^Executed ' "$log" || true)"
    if [ "$ran" != "${#inputs[@]}" ]; then
      echo "!! $target: ran $ran inputs, the corpus holds ${#inputs[@]}" >&2
      tail -20 "$log" >&2
      status=1
    else
      echo "ok $target: ${#inputs[@]} corpus inputs in $(( ($(date +%s%N) - start) / 1000000 )) ms"
    fi
  fi
  rm -f "$log"
done
exit "$status"
