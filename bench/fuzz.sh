#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after the other, each for a set time, keeping
# (and minimizing) the corpus in fuzz/corpus/<target>. Crashes land in fuzz/artifacts/<target>/
# and make the script exit non-zero.
#
#   bench/fuzz.sh                         every target, 600 s each
#   bench/fuzz.sh 60                      every target, 60 s each
#   bench/fuzz.sh 600 lookup hosts_parse  these targets only
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer wants nightly compiler flags; on a
# stable toolchain this sets RUSTC_BOOTSTRAP=1 (override with FUZZ_TOOLCHAIN=+nightly).
# One fuzzing process at a time (libFuzzer's default: no -jobs/-fork), the machine is
# shared. Extra libFuzzer flags go in FUZZ_FLAGS, e.g. FUZZ_FLAGS="-max_len=8192 -len_control=10".
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(hosts_parse lookup table_changes table_lookup)
toolchain="${FUZZ_TOOLCHAIN:-}"
[ -n "$toolchain" ] || export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }

# Seeds: a corpus directory that is empty gets a few hand-written inputs.
seed() {
  local dir="corpus/$1"; shift
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || return 0
  local i=0
  for s in "$@"; do printf '%b' "$s" >"$dir/seed-$i"; i=$((i + 1)); done
}
hosts_example="$(cat ../examples/hosts)"
seed hosts_parse "\x00$hosts_example" "\x01# c\n10.0.0.1 a.example.org A.EXAMPLE.ORG.\n::ffff:1.2.3.4 m\nfe80::1%eth0 l\n" \
  "\x13*.w.example.org 10.0.0.1\n10.0.0.2 *.w.example.org x..y\n\r\n10.0.0.3\t\tb\r\n"
#               handle qtype  buflen   qname
seed lookup "\x00\x00\x00\xff\x0fa.example.org." "\x01\x01\x00\x08\x00A.EXAMPLE.ORG" \
  "\x00\x02\x00\x00\x10""1.0.0.10.in-addr.arpa." "\x01\x02\x00\x03\x00""1.0.2.10.in-addr.arpa." \
  "\x02\x00\x00\x00\x10x.wild.example.org." "\x03\x01\x00\x00\x01y.z.deep.example.org." \
  "\x00\x03\x0f\x00\x10nope.example.org." \
  "\x01\x02\x00\x00\x10""1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
seed table_lookup "\x00$hosts_example" "\x11""10.0.0.1 a.example.org b.example.org\n10.0.0.1 a.example.org\n::1 a.example.org\n" \
  "\x22*.example.org 10.0.0.1\n10.0.0.2 *.example.org x.example.org\n10.0.0.3 example.org\n"

status=0
for target in "${targets[@]}"; do
  mkdir -p "artifacts/$target"
  log="$(mktemp)"
  echo "== $target: ${seconds}s, corpus fuzz/corpus/$target ($(ls "corpus/$target" | wc -l) inputs)"
  # -O: optimized build (debug assertions off, as in production).
  if ! cargo $toolchain fuzz run -O "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="artifacts/$target/" -timeout=10 -rss_limit_mb=4096 ${FUZZ_FLAGS:-} \
      >"$log" 2>&1; then
    status=1
    echo "!! $target found a problem; see fuzz/artifacts/$target/ and the log:"
    grep -E 'panicked|ERROR|SUMMARY|artifact' "$log" | head -20
  fi
  grep -E '^(Done |stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
  grep -E '#[0-9]+.*(DONE|pulse|NEW)' "$log" | tail -1 || true
  rm -f "$log"
  # Keep the corpus small: only inputs that add coverage.
  cargo $toolchain fuzz cmin -O "$target" "corpus/$target" >/dev/null 2>&1 || echo "(cmin failed for $target)"
  echo "   corpus after cmin: $(ls "corpus/$target" | wc -l) inputs, $(du -sh "corpus/$target" | cut -f1)"
done
exit $status
