#!/usr/bin/env bash
# Soak test: a three-member etcd cluster on loopback, two CoreDNS instances (the second
# also reloaded with SIGUSR1 every 30 s), continuous queries (~600/s with checks and
# background load) and a new hosts version written every 100 ms, for DURATION. Every
# minute it prints, per CoreDNS: threads, open fds, resident memory and how many revisions
# it is behind the writer; plus queries (failed), writes and reloads. It fails on any
# failed query (SERVFAIL, timeout, wrong answer, a revision going back), on growth of
# threads or fds beyond 6, on resident memory growing more than 32 MiB after the first
# minute, or if an instance does not converge within 5 s at the end.
#
#   bench/soak.sh            30 minutes
#   bench/soak.sh 5m         any Go duration, at least 1m
#   SAMPLE=10s bench/soak.sh 2m
#
# Uses tests/e2e (its helpers, etcd from PATH) and the CoreDNS that ./build.sh builds
# (COREDNS_BIN overrides). The table is printed at the end; the whole output is kept in
# $SOAK_LOG (default /tmp/etcdhosts-soak.log).
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-30m}"
log="${SOAK_LOG:-${TMPDIR:-/tmp}/etcdhosts-soak.log}"
cd tests/e2e
echo "soak: $duration, full output in $log"
set +e
ETCDHOSTS_SOAK="$duration" ETCDHOSTS_SOAK_SAMPLE="${SAMPLE:-1m}" \
  go test -tags soak -count=1 -run '^TestSoak$' -timeout 0 -v . 2>&1 | tee "$log" |
  grep --line-buffered -E 'fault_soak_test|RESULT|^(--- |ok|FAIL)'
status="${PIPESTATUS[0]}"
set -e
echo
sed -n '/SOAK TABLE/,/^--- /p' "$log" | sed 's/^        //' | grep -v -- '^--- ' || true
exit "$status"
