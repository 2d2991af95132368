#!/usr/bin/env bash
# etcdhosts against the alternatives an operator has, on one machine, in one run:
# CoreDNS with etcdhosts, the same CoreDNS binary with the stock `hosts` plugin
# reading the same records from a file, and dnsmasq with the same file.
#
#   bench/run.sh            the full run (about 25 minutes on 2 cores): writes BENCHMARKS.md
#   bench/run.sh --quick    a smaller run (about 3-4 minutes): writes bench/results/quick.md
#   options: --write (quick: also write BENCHMARKS.md), --no-write, --no-build,
#            --only SECTIONS (comma separated: throughput,ceiling,latency,diff,edns,reload,
#            prop,prop2,chunked,memory,gobench)
#            throughput includes ceiling: the A-hit queries with each CoreDNS pinned to one
#            CPU and dnsperf to the other, etcdhosts and hosts next to the stock `erratic`
#            plugin giving a fixed answer (the same CoreDNS binary doing no lookup).
#            prop: every propagation row. prop2: only issue 13's rows, side by side: a
#            prefix key (1M names in 64 fragment keys, one fragment edited) and the largest
#            single key a default etcd accepts, both on a second etcd with DEFAULT limits,
#            and the single 100k-name key on the raised-limit etcd, for comparison.
#            chunked: issue 14's rows: dnsctl upload and `dnsctl add` edits of 1M names
#            (quick: 20000; BENCH_CHUNKED_NAMES, BENCH_CHUNKED_N edits) in the chunked
#            layout on an etcd with DEFAULT limits, next to the same names as one plain key.
#   environment: BENCH_SIZES="1000 100000", BENCH_KINDS="mix a", BENCH_ROUNDS=5, BENCH_DUR=3
#            override the record sets, query kinds, rounds and seconds per dnsperf run;
#            BENCH_RESULTS=NAME writes bench/results/NAME* instead of quick*/full*;
#            BENCH_DNSMASQ_WAIT=60s how long dnsmasq may take to load a record set;
#            BENCH_CEIL_SIZE=100000 the record set of the ceiling runs (default 100000 if
#            among the sizes, else the last size); BENCH_CEIL_CPUS=1,0 the servers' CPU and
#            dnsperf's; BENCH_PROP_PREFIX_NAMES=1000000 (quick: 20000) and
#            BENCH_PROP_FRAGMENTS=64 the prefix key's record set; BENCH_PROP_PREFIX_N and
#            BENCH_PROP_MAXDEF_N the edits of those rows; BENCH_PROP_MAXDEF_BYTES=1468006 the
#            largest single key (1.4 MiB, 100 KiB under a default etcd's 1.5 MiB request
#            limit: about 30k lines)
#
# It installs what it lacks from Debian (scripts/deps.sh bench: dnsperf, dnsmasq-base,
# etcd-server, etcd-client, dnsutils, protoc and its includes), builds CoreDNS if needed
# (ETCDHOSTS_COREDNS_ONLY=1 ./build.sh), and starts
# etcd, CoreDNS and dnsmasq on 127.0.0.1, on free ports; everything it starts is stopped
# on exit (trap). No server forwards anywhere: CoreDNS has no `forward`, dnsmasq runs
# with --no-resolv and no server=, so every answer is made locally.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0 WRITE="" BUILD=1 ONLY=""
CMDLINE="bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --write) WRITE=1 ;;
    --no-write) WRITE=0 ;;
    --no-build) BUILD=0 ;;
    --only) ONLY="$2"; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$WRITE" ] || { [ $QUICK = 1 ] && WRITE=0 || WRITE=1; }
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

COREDNS=${COREDNS_BIN:-$ROOT/build/coredns-v1.15.0/coredns}
START_TS=$(date +%s)

# ------------------------------------------------------------------ parameters
if [ $QUICK = 1 ]; then
  SIZES="1000 100000"; KINDS="mix ptr"; ROUNDS=4; DUR=2
  PROP_N=50; PROP100K_N=20; PROP1M_N=0; PROP_PREFIX_NAMES=20000; PROP_PREFIX_N=20; PROP_MAXDEF_N=50
  RELOAD_DUR=8; LAT_DUR=4; DIFF_N=20000; MEM_SIZE=100000; DNSMASQ_WAIT=60s; GOBENCH_TIME=20000x; GOBENCH_COUNT=1
else
  SIZES="1000 100000 1000000"; KINDS="mix a aaaa nodata nx ptr"; ROUNDS=5; DUR=3
  PROP_N=200; PROP100K_N=200; PROP1M_N=5; PROP_PREFIX_NAMES=1000000; PROP_PREFIX_N=100; PROP_MAXDEF_N=200
  RELOAD_DUR=20; LAT_DUR=10; DIFF_N=100000; MEM_SIZE=1000000; DNSMASQ_WAIT=150s; GOBENCH_TIME=200000x; GOBENCH_COUNT=5
fi
# Overrides for experiments (the defaults above are what BENCHMARKS.md reports).
SIZES=${BENCH_SIZES:-$SIZES} KINDS=${BENCH_KINDS:-$KINDS} ROUNDS=${BENCH_ROUNDS:-$ROUNDS} DUR=${BENCH_DUR:-$DUR}
DNSMASQ_WAIT=${BENCH_DNSMASQ_WAIT:-$DNSMASQ_WAIT}
PROP_PREFIX_NAMES=${BENCH_PROP_PREFIX_NAMES:-$PROP_PREFIX_NAMES} PROP_FRAGMENTS=${BENCH_PROP_FRAGMENTS:-64}
PROP_PREFIX_N=${BENCH_PROP_PREFIX_N:-$PROP_PREFIX_N} PROP_MAXDEF_N=${BENCH_PROP_MAXDEF_N:-$PROP_MAXDEF_N}
PROP_MAXDEF_BYTES=${BENCH_PROP_MAXDEF_BYTES:-1468006}
if [ $QUICK = 1 ]; then CHUNKED_NAMES=20000 CHUNKED_N=20 CHUNKED_PLAIN_N=5
else CHUNKED_NAMES=1000000 CHUNKED_N=100 CHUNKED_PLAIN_N=5
fi
CHUNKED_NAMES=${BENCH_CHUNKED_NAMES:-$CHUNKED_NAMES} CHUNKED_N=${BENCH_CHUNKED_N:-$CHUNKED_N}
if [ -n "${BENCH_CEIL_SIZE:-}" ]; then CEIL_SIZE=$BENCH_CEIL_SIZE
elif [[ " $SIZES " == *" 100000 "* ]]; then CEIL_SIZE=100000
else CEIL_SIZE=${SIZES##* }
fi
IFS=, read -r CEIL_SERVER_CPU CEIL_CLIENT_CPU <<<"${BENCH_CEIL_CPUS:-1,0}"
# dnsperf: closed loop, several clients, one thread (the server needs the other core).
DNSPERF_ARGS="-c 4 -T 1 -q 64 -t 2"

# ------------------------------------------------------------------ setup
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

scripts/deps.sh bench
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)

if [ $BUILD = 1 ]; then
  log "building CoreDNS with etcdhosts (cheap when up to date)"
  ETCDHOSTS_COREDNS_ONLY=1 ./build.sh >/tmp/etcdhosts-bench-build.log 2>&1 || { tail -30 /tmp/etcdhosts-bench-build.log; die "build failed"; }
fi
[ -x "$COREDNS" ] || die "no CoreDNS at $COREDNS"

WORK=$(mktemp -d /tmp/etcdhosts-bench.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

(cd bench/tool && go build -o "$WORK/benchtool" .) || die "building bench/tool failed"
BT="$WORK/benchtool"
MODE=${BENCH_RESULTS:-$([ $QUICK = 1 ] && echo quick || echo full)}
mkdir -p bench/results
# One key=value line per measurement, written as the run goes (bench/report.py reads it).
RES="$ROOT/bench/results/$MODE-results.txt"
: >"$RES"
emit() { echo "$* load=$(loadavg)" >>"$RES"; }

stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# ---- etcd: one member, large requests allowed (a 1M-line hosts file is ~57 MB).
# The propagation section starts a second member with etcd's default limits (1.5 MiB
# per request, 2 GiB quota) for the rows a stock etcd has to take.
ETCD_PORT=$($BT freeport); ETCD_PEER=$($BT freeport)
ETCD="http://127.0.0.1:$ETCD_PORT"
ETCD_RAISED=(--max-request-bytes $((128 << 20)) --quota-backend-bytes $((8 << 30)) --snapshot-count 100000)
# start_etcd NAME CLIENT_URL PEER_PORT [etcd options...] -> LAST_PID
start_etcd() {
  local name=$1 url=$2 peer=$3; shift 3
  etcd --name "$name" --data-dir "$WORK/etcd-$name" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" --initial-cluster-state new \
    "$@" --logger zap --log-level error --log-outputs stderr \
    >"$WORK/etcd-$name.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  for _ in $(seq 1 200); do
    ETCDCTL_API=3 etcdctl --endpoints "$url" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/etcd-$name.log" >&2; die "etcd $name did not start"
}

# ---- CoreDNS with etcdhosts / with hosts; dnsmasq
# start_coredns NAME COREFILE_TEXT [CPU] -> sets LAST_PID; with CPU, pinned to that CPU
# (taskset: Go then sets GOMAXPROCS to 1, as on a one-CPU machine)
start_coredns() {
  local name=$1 text=$2 pin=()
  [ -n "${3:-}" ] && pin=(taskset -c "$3")
  mkdir -p "$WORK/$name"
  printf '%s\n' "$text" >"$WORK/$name/Corefile"
  (cd "$WORK/$name" && exec "${pin[@]}" "$COREDNS" -conf Corefile) >"$WORK/$name/log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
}
etcdhosts_corefile() { # PORT KEY [ETCD_URL]
  cat <<EOF
.:$1 {
    bind 127.0.0.1
    etcdhosts example.com {
        key $2
        endpoint ${3:-$ETCD}
        timeout 60s
        ttl 3600
    }
}
EOF
}
hosts_corefile() { # PORT FILE
  cat <<EOF
.:$1 {
    bind 127.0.0.1
    hosts $2 example.com {
        ttl 3600
        reload 1s
    }
}
EOF
}
# The ceiling: the stock `erratic` plugin answers every A query with one fixed record
# (192.0.2.53; `drop 0`: it drops none), so the server does no lookup at all.
erratic_corefile() { # PORT
  cat <<EOF
.:$1 {
    bind 127.0.0.1
    erratic {
        drop 0
    }
}
EOF
}
start_dnsmasq() { # NAME PORT FILE -> LAST_PID
  "$DNSMASQ" --keep-in-foreground --no-daemon --user=root --pid-file="$WORK/$1.pid" \
    --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 --port="$2" \
    --addn-hosts="$3" --local=/example.com/ --local-ttl=3600 --log-facility=- \
    >"$WORK/$1.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
}
wait_ready() { # NAME PORT NAME_TO_RESOLV TIMEOUT PID
  $BT wait -dns "127.0.0.1:$2" -name "$3" -timeout "$4" -poll 20ms >/dev/null 2>"$WORK/wait.err" && return 0
  log "$1 not ready: $(cat "$WORK/wait.err")"; tail -20 "$WORK/$1/log" "$WORK/$1.log" 2>/dev/null >&2 || true
  die "$1 did not start"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# served_records NAME KEY: the record count etcdhosts reports it serves from KEY, from its
# last log line "serving N records (M names) from etcd key KEY ..." (empty if none yet).
served_records() {
  sed -n "s|.*plugin/etcdhosts: serving \([0-9]*\) records ([0-9]* names) from etcd key $2 .*|\1|p" "$WORK/$1/log" | tail -1
}
# records_field SERVER SIZE KEY: " records=N" for etcdhosts (bench/report.py divides RSS by
# the count the server reports, not by the generator's recipe); nothing for the others.
records_field() {
  [ "$1" = etcdhosts ] || return 0
  local n; n=$(served_records "etcdhosts-$2" "$3")
  if [ -n "$n" ]; then echo " records=$n"; fi
}
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
# Anonymous pages only: the RSS without the mapped pages of the binary and its libraries.
anon_kb() { awk '/^RssAnon/{print $2}' "/proc/$1/status"; }

# wait_idle PID: wait (at most 20 s) until the process stops using CPU, so that a
# server still working through a backlog (dnsmasq's PTR scans) does not take CPU
# from the next server's run.
wait_idle() {
  local pid=$1 prev cur
  prev=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || return 0
  for _ in $(seq 1 100); do
    sleep 0.2
    cur=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || return 0
    [ $((cur - prev)) -le 2 ] && return 0
    prev=$cur
  done
  log "pid $pid still busy after 20 s"
}

# run_dnsperf LABEL PORT QFILE DURATION [extra args] -> prints benchtool pct line
# (DNSPERF_CPU set: dnsperf pinned to that CPU)
run_dnsperf() {
  local label=$1 port=$2 qfile=$3 dur=$4; shift 4
  local out="$WORK/dnsperf.out" pin=()
  [ -n "${DNSPERF_CPU:-}" ] && pin=(taskset -c "$DNSPERF_CPU")
  # shellcheck disable=SC2086 # DNSPERF_ARGS: a list of options
  timeout $((dur + 30)) "${pin[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -l "$dur" $DNSPERF_ARGS -v "$@" >"$out" 2>&1 || true
  $BT pct "$out"
}

FIRST_NAME=host0000000.rack00.dc1.example.com
REC_DIR="$WORK/records"

gen_records() { # SIZE
  local n=$1 q=100000
  [ -f "$REC_DIR/$n/hosts.txt" ] && return 0
  log "generating $n names"
  $BT gen -n "$n" -q "$q" -out "$REC_DIR/$n"
}

log "work dir $WORK, load $(loadavg)"
start_etcd bench "$ETCD" "$ETCD_PEER" "${ETCD_RAISED[@]}"

# ------------------------------------------------------------------ machine
{
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "cpus=$(nproc)"
  echo "cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  echo "mem=$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src go-shim 2>/dev/null || echo ' + uncommitted changes')"
  echo "coredns=$("$COREDNS" -version 2>/dev/null | head -1)"
  echo "dnsmasq=$("$DNSMASQ" --version | head -1 | awk '{print $3}')"
  echo "dnsperf=$(dnsperf -h 2>&1 | awk '/^Version/{print $2}')"
  echo "etcd=$(etcd --version | awk '/etcd Version/{print $3}')"
  echo "go=$(go version | awk '{print $3}')"
  echo "command=$CMDLINE"
  echo "quick=$QUICK"
  echo "dnsperf_args=$DNSPERF_ARGS -l $DUR"
  echo "rounds=$ROUNDS"
} >"$WORK/machine.txt"

# ------------------------------------------------------------------ per record set
# For each size: load the records into etcd and a file, start the three servers,
# then run the query kinds, each round visiting the servers in turn (E H D E H D ...).
for size in $SIZES; do
  want throughput || want ceiling || want latency || want diff || want edns || want reload || want memory || break
  if ! want throughput && [ "$size" != 100000 ] && [ "$size" != "$MEM_SIZE" ] && [ "$size" != "$CEIL_SIZE" ]; then continue; fi
  gen_records "$size"
  dir="$REC_DIR/$size"
  cp "$dir/hosts.txt" "$WORK/hosts-$size.txt"   # the file the hosts plugin and dnsmasq read
  key="/bench/hosts-$size"
  log "size $size: putting $(wc -c <"$dir/hosts.txt") bytes into etcd $key"
  $BT put -etcd "$ETCD" -key "$key" -file "$dir/hosts.txt" >/dev/null

  PE=$($BT freeport); start_coredns "etcdhosts-$size" "$(etcdhosts_corefile "$PE" "$key")"; PID_E=$LAST_PID
  PH=$($BT freeport); start_coredns "hosts-$size" "$(hosts_corefile "$PH" "$WORK/hosts-$size.txt")"; PID_H=$LAST_PID
  PD=$($BT freeport); start_dnsmasq "dnsmasq-$size" "$PD" "$WORK/hosts-$size.txt"; PID_D=$LAST_PID
  t0=$(date +%s.%N)
  wait_ready "etcdhosts-$size" "$PE" "$FIRST_NAME" 180s
  wait_ready "hosts-$size" "$PH" "$FIRST_NAME" 180s
  log "size $size: etcdhosts and hosts ready after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (etcdhosts :$PE pid $PID_E, hosts :$PH pid $PID_H)"
  SERVERS=("etcdhosts:$PE:$PID_E" "hosts:$PH:$PID_H")
  # dnsmasq's load of a hosts file slows down as it grows (1M names take far longer
  # than minutes here): it gets DNSMASQ_WAIT, and the run goes on without it if needed.
  if $BT wait -dns "127.0.0.1:$PD" -name "$FIRST_NAME" -timeout "$DNSMASQ_WAIT" -poll 100ms >/dev/null 2>&1; then
    SERVERS+=("dnsmasq:$PD:$PID_D")
    log "size $size: dnsmasq ready after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (:$PD pid $PID_D)"
  else
    emit "section=note size=$size server=dnsmasq event=not-ready waited=$DNSMASQ_WAIT rss_kb=$(rss_kb "$PID_D") cpu_s=$(( $(cpu_ticks "$PID_D") / 100 ))"
    log "size $size: dnsmasq still loading after $DNSMASQ_WAIT (RSS $(rss_kb "$PID_D") kB); going on without it"
    stop_pid "$PID_D"
  fi

  if want memory && [ "$size" = "$MEM_SIZE" ]; then
    # The same CoreDNS with etcdhosts on an empty key: what the process costs without records.
    PB=$($BT freeport); start_coredns "baseline-$size" "$(etcdhosts_corefile "$PB" /bench/empty)"; PID_B=$LAST_PID
    sleep 3
    emit "section=memory phase=baseline size=$size server=etcdhosts-empty rss_kb=$(rss_kb "$PID_B") anon_kb=$(anon_kb "$PID_B")"
    stop_pid "$PID_B"
    sleep 2
    for s in "${SERVERS[@]}"; do
      IFS=: read -r sname sport spid <<<"$s"
      emit "section=memory phase=idle size=$size server=$sname rss_kb=$(rss_kb "$spid") hwm_kb=$(hwm_kb "$spid")$(records_field "$sname" "$size" "$key")"
    done
  fi

  if want throughput; then
    for round in $(seq 1 "$ROUNDS"); do
      for kind in $KINDS; do
        for s in "${SERVERS[@]}"; do
          IFS=: read -r sname sport spid <<<"$s"
          # dnsmasq answers PTR by a linear scan: beyond 3 rounds its runs only cost time.
          [ "$sname" = dnsmasq ] && [ "$round" -gt 3 ] && continue
          c0=$(cpu_ticks "$spid")
          line=$(run_dnsperf "$sname" "$sport" "$dir/q-$kind.txt" "$DUR")
          wait_idle "$spid"
          # The server's CPU time (user+system, 10 ms ticks) for this run, backlog included:
          # per answered query it depends far less on the other load than QPS does.
          line="$line cpu_ticks=$(( $(cpu_ticks "$spid") - c0 ))"
          emit "section=throughput size=$size kind=$kind round=$round server=$sname $line"
          log "size=$size round=$round kind=$kind $sname: $line"
        done
      done
    done
  fi

  if { want throughput || want ceiling; } && [ "$size" = "$CEIL_SIZE" ]; then
    # The ceiling: the same queries (A hits) and the same CoreDNS binary, each server
    # pinned to one CPU and dnsperf to the other, so the server's CPU is the bottleneck
    # and nothing else runs on it: etcdhosts and hosts against `erratic`'s fixed answer.
    if [ "$(nproc)" -ge 2 ]; then
      PCE=$($BT freeport); start_coredns "ceil-etcdhosts-$size" "$(etcdhosts_corefile "$PCE" "$key")" "$CEIL_SERVER_CPU"; PID_CE=$LAST_PID
      PCH=$($BT freeport); start_coredns "ceil-hosts-$size" "$(hosts_corefile "$PCH" "$WORK/hosts-$size.txt")" "$CEIL_SERVER_CPU"; PID_CH=$LAST_PID
      PCC=$($BT freeport); start_coredns "ceil-erratic-$size" "$(erratic_corefile "$PCC")" "$CEIL_SERVER_CPU"; PID_CC=$LAST_PID
      wait_ready "ceil-etcdhosts-$size" "$PCE" "$FIRST_NAME" 180s
      wait_ready "ceil-hosts-$size" "$PCH" "$FIRST_NAME" 180s
      wait_ready "ceil-erratic-$size" "$PCC" "$FIRST_NAME" 30s
      log "ceiling: size $size, servers on CPU $CEIL_SERVER_CPU, dnsperf on CPU $CEIL_CLIENT_CPU, A hits"
      for round in $(seq 1 "$ROUNDS"); do
        for s in "etcdhosts:$PCE:$PID_CE" "hosts:$PCH:$PID_CH" "erratic:$PCC:$PID_CC"; do
          IFS=: read -r sname sport spid <<<"$s"
          c0=$(cpu_ticks "$spid")
          line=$(DNSPERF_CPU=$CEIL_CLIENT_CPU run_dnsperf "$sname" "$sport" "$dir/q-a.txt" "$DUR")
          wait_idle "$spid"
          line="$line cpu_ticks=$(( $(cpu_ticks "$spid") - c0 ))"
          emit "section=ceiling size=$size kind=a round=$round server=$sname server_cpu=$CEIL_SERVER_CPU client_cpu=$CEIL_CLIENT_CPU $line"
          log "ceiling size=$size round=$round $sname: $line"
        done
      done
      for pid in $PID_CE $PID_CH $PID_CC; do stop_pid "$pid"; done
    else
      log "ceiling: skipped (needs 2 CPUs, one for the servers and one for dnsperf)"
    fi
  fi

  if want latency && [ "$size" = 100000 ]; then
    # Open loop at a fixed rate: p99 and p99.9 latency at 20k qps, mixed load.
    for s in "${SERVERS[@]}"; do
      IFS=: read -r sname sport spid <<<"$s"
      line=$(run_dnsperf "$sname" "$sport" "$dir/q-mix.txt" "$LAT_DUR" -Q 20000)
      wait_idle "$spid"
      emit "section=latency size=$size kind=mix rate=20000 server=$sname $line"
      log "latency@20k $sname: $line"
    done
  fi

  if want edns && [ "$size" = 100000 ]; then
    log "EDNS compatibility probes (etcdhosts)"
    bash "$ROOT/bench/edns.sh" 127.0.0.1 "$PE" "$FIRST_NAME" example.com >"$WORK/edns.txt" 2>&1 || true
    cat "$WORK/edns.txt" >&2
    while read -r l; do emit "section=edns $l"; done < <(grep '^probe=' "$WORK/edns.txt")
    log "EDNS compatibility probes (hosts, for reference)"
    bash "$ROOT/bench/edns.sh" 127.0.0.1 "$PH" "$FIRST_NAME" example.com >"$WORK/edns-hosts.txt" 2>&1 || true
    while read -r l; do emit "section=edns-hosts $l"; done < <(grep '^probe=' "$WORK/edns-hosts.txt")
  fi

  if want diff && [ "$size" = 100000 ]; then
    log "differential run: $DIFF_N queries, etcdhosts vs hosts"
    $BT diff -a "127.0.0.1:$PE" -b "127.0.0.1:$PH" -n "$DIFF_N" -names "$size" >"$WORK/diff.txt" 2>&1 || true
    cat "$WORK/diff.txt" >&2
    cp "$WORK/diff.txt" "$WORK/diff-report.txt"
  fi

  if want memory && [ "$size" = "$MEM_SIZE" ]; then
    for s in "${SERVERS[@]}"; do
      IFS=: read -r sname sport spid <<<"$s"
      emit "section=memory phase=after-load size=$size server=$sname rss_kb=$(rss_kb "$spid") anon_kb=$(anon_kb "$spid") hwm_kb=$(hwm_kb "$spid")$(records_field "$sname" "$size" "$key")"
    done
    # Peak during one reload of the whole record set, from the steady state.
    for s in "${SERVERS[@]}"; do
      IFS=: read -r sname sport spid <<<"$s"
      echo 5 >"/proc/$spid/clear_refs" 2>/dev/null || true
      steady=$(rss_kb "$spid")
      ip=10.253.0.$((RANDOM % 200 + 1))
      { cat "$dir/hosts.txt"; echo "$ip probe.bench.example.com"; } >"$WORK/reload-$size.txt"
      case $sname in
        etcdhosts) $BT put -etcd "$ETCD" -key "$key" -file "$WORK/reload-$size.txt" >/dev/null ;;
        hosts) mv "$WORK/reload-$size.txt" "$WORK/hosts-$size.txt" ;;
        dnsmasq) mv "$WORK/reload-$size.txt" "$WORK/hosts-$size.txt"; kill -HUP "$spid" ;;
      esac
      took=$($BT wait -dns "127.0.0.1:$sport" -name probe.bench.example.com -ip "$ip" -timeout 120s -poll 5ms 2>/dev/null || echo timeout)
      sleep 1
      emit "section=memory phase=reload size=$size server=$sname steady_kb=$steady hwm_kb=$(hwm_kb "$spid") after_kb=$(rss_kb "$spid") reload_ms=$took$(records_field "$sname" "$size" "$key")"
      log "memory reload $sname: steady $steady kB, peak $(hwm_kb "$spid") kB, $took ms"
    done
  fi

  if want reload && [ "$size" = 100000 ]; then
    # Half the measured maximum of etcdhosts on the mixed load (or of a short run now).
    max=$(awk -v s="$size" '$0 ~ "section=throughput" && $0 ~ "size="s" " && / kind=mix / && / server=etcdhosts /{for(i=1;i<=NF;i++) if ($i ~ /^qps=/){split($i,a,"="); print a[2]}}' "$RES" | sort -n | awk '{v[NR]=$1} END{if (NR) print v[int((NR+1)/2)]}')
    if [ -z "$max" ]; then max=$(run_dnsperf etcdhosts "$PE" "$dir/q-mix.txt" 3 | sed 's/.*qps=\([0-9]*\).*/\1/'); fi
    rate=$((max / 2))
    log "reload under load at $rate qps (half of $max), $RELOAD_DUR s per run"
    for s in "${SERVERS[@]}"; do
      IFS=: read -r sname sport spid <<<"$s"
      line=$(run_dnsperf "$sname" "$sport" "$dir/q-mix.txt" "$RELOAD_DUR" -Q "$rate")
      wait_idle "$spid"
      emit "section=reload phase=quiet size=$size rate=$rate server=$sname $line"
      log "reload quiet $sname: $line"
      case $sname in
        etcdhosts) storm_args=(-etcd "$ETCD" -key "$key") ;;
        hosts) storm_args=(-file "$WORK/hosts-$size.txt") ;;
        dnsmasq) storm_args=(-file "$WORK/hosts-$size.txt" -hup "$spid") ;;
      esac
      echo 5 >"/proc/$spid/clear_refs" 2>/dev/null || true
      rss0=$(rss_kb "$spid")
      $BT storm "${storm_args[@]}" -base "$dir/hosts.txt" -interval 1s -duration "${RELOAD_DUR}s" >"$WORK/storm.out" 2>&1 &
      storm_pid=$!; PIDS+=("$storm_pid")
      line=$(run_dnsperf "$sname" "$sport" "$dir/q-mix.txt" "$RELOAD_DUR" -Q "$rate")
      wait "$storm_pid" || { cat "$WORK/storm.out" >&2; die "storm failed"; }
      wait_idle "$spid"
      emit "section=reload phase=storm size=$size rate=$rate server=$sname $line $(tail -1 "$WORK/storm.out" | sed 's/^storm //') rss_before_kb=$rss0 hwm_kb=$(hwm_kb "$spid")"
      log "reload storm $sname: $line; $(tail -1 "$WORK/storm.out")"
    done
  fi

  for pid in $PID_E $PID_H $PID_D; do stop_pid "$pid"; done
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD" del "$key" >/dev/null
  rev=$(ETCDCTL_API=3 etcdctl --endpoints "$ETCD" get /nonexistent -w json | sed 's/.*"revision":\([0-9]*\).*/\1/')
  $BT compact -etcd "$ETCD" -rev "$rev" || true
  rm -f "$WORK/hosts-$size.txt"
done

# ------------------------------------------------------------------ propagation
# Each row: 3 CoreDNS instances, N puts each changing one line, the time until all 3
# answer the change; benchtool prop also reads etcd's counter of the bytes it sent to its
# clients before and after the puts (bytes per edit, all 3 instances and per instance).
join() { local IFS=,; echo "$*"; }
# A row: LABEL|KEY|PUT_KEY|BASE_FILE|PUTS|EXTRA_OPTIONS|FIELDS, KEY the Corefile's key,
# PUT_KEY the key each edit puts (for a prefix, one fragment; empty: KEY), FIELDS what the
# result line says about the data (default: a single key holding BASE_FILE).
# prop_instances NAME ETCD_URL ROW...: starts 3 CoreDNS instances
# NAME-1..3, each with one server block per row, and waits until each block answers.
# Sets PROP_PIDS and PROP_ADDRS[LABEL] (the 3 addresses, comma separated).
declare -A PROP_ADDRS
prop_instances() {
  local name=$1 url=$2; shift 2
  local i r label k p cf
  declare -A port=()
  PROP_PIDS=()
  for i in 1 2 3; do
    cf=""
    for r in "$@"; do
      IFS='|' read -r label k _ <<<"$r"
      p=$($BT freeport); port[$label:$i]=$p
      cf="$cf
$(etcdhosts_corefile "$p" "$k" "$url")"
    done
    start_coredns "$name-$i" "$cf"; PROP_PIDS+=("$LAST_PID")
  done
  for r in "$@"; do
    IFS='|' read -r label _ <<<"$r"
    PROP_ADDRS[$label]=""
    for i in 1 2 3; do
      wait_ready "$name-$i" "${port[$label:$i]}" "$FIRST_NAME" 300s
      PROP_ADDRS[$label]="${PROP_ADDRS[$label]:+${PROP_ADDRS[$label]},}127.0.0.1:${port[$label:$i]}"
    done
  done
}
# prop_rows ETCD_URL FIELDS ROW...: runs benchtool prop for each row, emits its line.
prop_rows() {
  local url=$1 fields=$2 r label k pk base n extra more line; shift 2
  for r in "$@"; do
    IFS='|' read -r label k pk base n extra more <<<"$r"
    # shellcheck disable=SC2086 # extra: benchtool options, split on purpose
    line=$($BT prop -etcd "$url" -key "${pk:-$k}" -base "$base" -dns "${PROP_ADDRS[$label]}" -n "$n" -label "$label" $extra)
    emit "section=prop $fields ${more:-key_kind=single lines=$(wc -l <"$base") total_bytes=$(wc -c <"$base")} $line"
    log "$line"
  done
}
if want prop || want prop2; then
  log "propagation: 3 CoreDNS instances on one etcd (raised limits)"
  gen_records 100000
  # Small file: 100 lines; big: the 100k-name record set; huge (full run): 1M names.
  rows=()
  if want prop; then
    head -101 "$REC_DIR/100000/hosts.txt" >"$WORK/prop-small.txt"
    rows+=("small|/bench/prop-small||$WORK/prop-small.txt|$PROP_N||")
  fi
  rows+=("100k|/bench/prop-100k||$REC_DIR/100000/hosts.txt|$PROP100K_N|-compact-every 5|")
  if want prop && [ "$PROP1M_N" -gt 0 ]; then
    gen_records 1000000
    rows+=("1m|/bench/prop-1m||$REC_DIR/1000000/hosts.txt|$PROP1M_N|-compact-every 1 -timeout 30s|")
  fi
  for r in "${rows[@]}"; do
    IFS='|' read -r _ k _ base _ <<<"$r"
    $BT put -etcd "$ETCD" -key "$k" -file "$base" >/dev/null
  done
  prop_instances prop "$ETCD" "${rows[@]}"
  prop_rows "$ETCD" etcd_limit=raised "${rows[@]}"
  for pid in "${PROP_PIDS[@]}"; do stop_pid "$pid"; done

  # ---- issue 13: what a stock etcd takes (default limits: a request of at most 1.5 MiB)
  # (a) a prefix key: PROP_PREFIX_NAMES names split into PROP_FRAGMENTS keys under
  #     /bench/prefix/ (a Corefile `key` ending in `/`: etcdhosts merges the keys under it,
  #     in key order); each edit puts one fragment (the middle one) with one line changed.
  # (b) the largest single key a stock etcd takes: the first PROP_MAXDEF_BYTES bytes of
  #     the 100k record set, whole lines.
  # (c) is the 100k row above: one key, on the etcd with the raised limit.
  ETCD_DEF="http://127.0.0.1:$($BT freeport)"
  start_etcd default "$ETCD_DEF" "$($BT freeport)"; ETCD_DEF_PID=$LAST_PID
  log "propagation: prefix key ($PROP_PREFIX_NAMES names in $PROP_FRAGMENTS fragments) and the largest single key, on an etcd with default limits"
  gen_records "$PROP_PREFIX_NAMES"
  pre_src="$REC_DIR/$PROP_PREFIX_NAMES/hosts.txt"
  frag_dir="$WORK/prefix-frags"; rm -rf "$frag_dir"; mkdir -p "$frag_dir"
  # GNU split: PROP_FRAGMENTS pieces of about equal size, never splitting a line.
  split -n "l/$PROP_FRAGMENTS" -d -a 3 "$pre_src" "$frag_dir/f"
  nfrag=0
  for f in "$frag_dir"/f*; do
    [ -s "$f" ] || { rm -f "$f"; continue; }
    $BT put -etcd "$ETCD_DEF" -key "/bench/prefix/$(basename "$f")" -file "$f" >/dev/null ||
      die "a default etcd refused fragment $(basename "$f") ($(wc -c <"$f") bytes): use more fragments (BENCH_PROP_FRAGMENTS)"
    nfrag=$((nfrag + 1))
  done
  edit_frag=$(printf 'f%03d' $((nfrag / 2)))
  awk -v max="$PROP_MAXDEF_BYTES" '{ n += length($0) + 1; if (n > max) exit; print }' "$REC_DIR/100000/hosts.txt" >"$WORK/prop-maxdef.txt"
  $BT put -etcd "$ETCD_DEF" -key /bench/prop-maxdef -file "$WORK/prop-maxdef.txt" >/dev/null ||
    die "a default etcd refused the $(wc -c <"$WORK/prop-maxdef.txt")-byte key: lower BENCH_PROP_MAXDEF_BYTES"
  rows=(
    "prefix|/bench/prefix/|/bench/prefix/$edit_frag|$frag_dir/$edit_frag|$PROP_PREFIX_N|-compact-every 5 -timeout 30s|key_kind=prefix names=$PROP_PREFIX_NAMES fragments=$nfrag lines=$(wc -l <"$pre_src") total_bytes=$(wc -c <"$pre_src")"
    "maxdefault|/bench/prop-maxdef||$WORK/prop-maxdef.txt|$PROP_MAXDEF_N|-compact-every 5|"
  )
  prop_instances prop-default "$ETCD_DEF" "${rows[@]}"
  prop_rows "$ETCD_DEF" etcd_limit=default "${rows[@]}"
  for pid in "${PROP_PIDS[@]}"; do stop_pid "$pid"; done
  stop_pid "$ETCD_DEF_PID"
  rm -rf "$WORK/etcd-default" "$frag_dir"
fi

# ------------------------------------------------------------------ chunked layout
# Issue 14: hosts data of any size on an etcd with DEFAULT limits, written by dnsctl.
# dnsctl uploads CHUNKED_NAMES names (over 1 MiB: stored chunked), then adds one name
# per edit (`dnsctl add`, its blob cache warm) while 3 CoreDNS instances serve the key;
# each edit is timed from dnsctl's exit until all 3 answer the new name. Then the same
# edits with no instance running: what etcd sends to dnsctl alone. Bytes are etcd's own
# gRPC counters (/metrics), the database size its mvcc gauges. Beside it, today's
# layout: the same names as one plain key, on the etcd with the raised limit.
if want chunked; then
  if [ $BUILD = 1 ]; then
    log "building dnsctl"
    cargo build --release -q -p dnsctl || die "building dnsctl failed"
  fi
  DNSCTL="$ROOT/target/release/dnsctl"
  [ -x "$DNSCTL" ] || die "no dnsctl at $DNSCTL"
  ETCD_CH="http://127.0.0.1:$($BT freeport)"
  start_etcd chunked "$ETCD_CH" "$($BT freeport)"; ETCD_CH_PID=$LAST_PID
  gen_records "$CHUNKED_NAMES"
  src="$REC_DIR/$CHUNKED_NAMES/hosts.txt"
  # etcd's byte counters add up all its clients: the instances and dnsctl each reach etcd
  # through their own byte-counting proxy, which tells their shares apart.
  start_proxy() { # -> LAST_PROXY (client URL), LAST_STATS (counters' host:port)
    local port stats; port=$($BT freeport); stats=$($BT freeport)
    $BT proxy -listen "127.0.0.1:$port" -to "${ETCD_CH#http://}" -stats "127.0.0.1:$stats" 2>>"$WORK/proxy.log" &
    PIDS+=("$!"); LAST_PROXY="http://127.0.0.1:$port"; LAST_STATS="127.0.0.1:$stats"
  }
  start_proxy; INST_URL=$LAST_PROXY INST_STATS=$LAST_STATS
  start_proxy; CTL_URL=$LAST_PROXY CTL_STATS=$LAST_STATS
  mkdir -p "$WORK/dnsctl-home"
  dnsctl() { HOME="$WORK/dnsctl-home" DNSCTL_CACHE_DIR="$WORK/dnsctl-cache" ETCDCTL_ENDPOINTS="$CTL_URL" \
    DNSCTL_HOSTS_KEY=/bench/chunked "$DNSCTL" "$@"; }
  log "chunked: dnsctl upload of $CHUNKED_NAMES names to an etcd with default limits"
  sleep 0.5
  up0=$(curl -s "http://$CTL_STATS/" | sed -n 's/^up=\([0-9]*\).*/\1/p')
  t0=$(date +%s.%N)
  dnsctl upload "$src" >"$WORK/upload.out" 2>&1 || { cat "$WORK/upload.out" >&2; die "dnsctl upload failed"; }
  t1=$(date +%s.%N)
  up1=$(curl -s "http://$CTL_STATS/" | sed -n 's/^up=\([0-9]*\).*/\1/p')
  dnsctl dump >"$WORK/dumped.txt" || die "dnsctl dump failed"
  cmp -s "$src" "$WORK/dumped.txt" && exact=yes || exact=no
  layout=$(dnsctl layout 2>&1 | head -1 | tr ' ' '_')
  emit "section=chunked row=upload names=$CHUNKED_NAMES lines=$(wc -l <"$src") total_bytes=$(wc -c <"$src") upload_s=$(echo "$t1 - $t0" | bc) upload_sent_bytes=$((up1 - up0)) dump_exact=$exact layout=$layout keys=$(ETCDCTL_API=3 etcdctl --endpoints "$ETCD_CH" get --prefix /bench/chunked.chunks/ --keys-only | grep -c .)"
  log "upload took $(echo "$t1 - $t0" | bc) s; dump exact: $exact"
  # Warm the cache as an operator's second command would.
  dnsctl dump >/dev/null
  prop_instances chunked "$INST_URL" "chunked|/bench/chunked|"
  line=$($BT prop -etcd "$ETCD_CH" -key /bench/chunked -dns "${PROP_ADDRS[chunked]}" -n "$CHUNKED_N" -label chunked \
    -proxies "inst=$INST_STATS,ctl=$CTL_STATS" \
    -compact-every 0 -timeout 30s -cmd "env HOME=$WORK/dnsctl-home DNSCTL_CACHE_DIR=$WORK/dnsctl-cache ETCDCTL_ENDPOINTS=$CTL_URL DNSCTL_HOSTS_KEY=/bench/chunked $DNSCTL add {name} {ip}")
  emit "section=chunked row=edits etcd_limit=default key_kind=chunked names=$CHUNKED_NAMES $line"
  log "$line"
  # Memory of one instance: steady, and the peak (VmHWM, reset first) over one more edit.
  mpid=${PROP_PIDS[0]}
  sleep 1
  echo 5 >"/proc/$mpid/clear_refs" 2>/dev/null || true
  steady=$(rss_kb "$mpid")
  dnsctl add probe-mem.bench.example.com 10.253.9.9 >/dev/null
  first_port=${PROP_ADDRS[chunked]%%,*}
  took=$($BT wait -dns "$first_port" -name probe-mem.bench.example.com -ip 10.253.9.9 -timeout 60s -poll 5ms 2>/dev/null || echo timeout)
  records=$(sed -n 's|.*plugin/etcdhosts: serving \([0-9]*\) records .*|\1|p' "$WORK/chunked-1/log" | tail -1)
  emit "section=chunked row=memory names=$CHUNKED_NAMES records=$records steady_kb=$steady hwm_kb=$(hwm_kb "$mpid") after_kb=$(rss_kb "$mpid") edit_ms=$took"
  log "chunked memory: steady $steady kB, peak $(hwm_kb "$mpid") kB over one edit ($took ms)"
  for pid in "${PROP_PIDS[@]}"; do stop_pid "$pid"; done
  line=$($BT prop -etcd "$ETCD_CH" -key /bench/chunked -dns "" -n 20 -label dnsctl-alone -compact-every 0 -name alone.bench.example.com \
    -proxies "ctl=$CTL_STATS" \
    -cmd "env HOME=$WORK/dnsctl-home DNSCTL_CACHE_DIR=$WORK/dnsctl-cache ETCDCTL_ENDPOINTS=$CTL_URL DNSCTL_HOSTS_KEY=/bench/chunked $DNSCTL add {name} {ip}")
  emit "section=chunked row=dnsctl_alone etcd_limit=default names=$CHUNKED_NAMES $line"
  log "$line"
  # History that survives compaction: roll back to the uploaded version after etcd
  # compacted everything.
  first_rev=$(dnsctl -o json history | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h[-1]["revision"] if isinstance(h, list) else h["entries"][-1]["revision"])')
  now_rev=$(ETCDCTL_API=3 etcdctl --endpoints "$ETCD_CH" get /bench/chunked -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD_CH" compaction "$now_rev" >/dev/null
  dnsctl rollback "$first_rev" -y >/dev/null 2>&1 && dnsctl dump >"$WORK/rolled.txt" && cmp -s "$src" "$WORK/rolled.txt" && rb=yes || rb=no
  emit "section=chunked row=rollback_after_compaction works=$rb"
  log "rollback after compaction: $rb"
  stop_pid "$ETCD_CH_PID"
  rm -rf "$WORK/etcd-chunked" "$WORK/dnsctl-cache"

  log "today's layout: $CHUNKED_NAMES names as one plain key (raised limit)"
  $BT put -etcd "$ETCD" -key /bench/plain-big -file "$src" >/dev/null
  prop_instances plain "$ETCD" "plain|/bench/plain-big|"
  prop_rows "$ETCD" etcd_limit=raised "plain|/bench/plain-big||$src|$CHUNKED_PLAIN_N|-compact-every 1 -timeout 60s|key_kind=plain names=$CHUNKED_NAMES lines=$(wc -l <"$src") total_bytes=$(wc -c <"$src")"
  for pid in "${PROP_PIDS[@]}"; do stop_pid "$pid"; done
fi

# ------------------------------------------------------------------ Go benchmark
if want gobench; then
  log "go test -bench BenchmarkPlugins (go-shim)"
  (cd go-shim && go test -run '^$' -bench 'BenchmarkPlugins' -benchmem -benchtime "$GOBENCH_TIME" -count "$GOBENCH_COUNT" . 2>/dev/null) >"$WORK/gobench.txt" || true
  grep '^BenchmarkPlugins' "$WORK/gobench.txt" >&2 || true
  while read -r l; do emit "section=gobench $l"; done < <(awk '/^BenchmarkPlugins/{n=split($1,p,"/"); sub(/-[0-9]+$/,"",p[4]); printf "plugin=%s size=%s kind=%s ns=%s bytes=%s allocs=%s\n", p[2], p[3], p[4], $3, $5, $7}' "$WORK/gobench.txt")
fi

# ------------------------------------------------------------------ report
elapsed=$(( $(date +%s) - START_TS ))
echo "elapsed_s=$elapsed" >>"$WORK/machine.txt"
cp "$WORK/machine.txt" "bench/results/$MODE-machine.txt"
[ -f "$WORK/diff-report.txt" ] && cp "$WORK/diff-report.txt" "bench/results/$MODE-diff.txt"
OUT=bench/results/$MODE.md
python3 bench/report.py "$WORK/machine.txt" "$RES" "${WORK}/diff-report.txt" >"$OUT"
cat "$OUT"
if [ "$WRITE" = 1 ]; then
  python3 bench/report.py --splice BENCHMARKS.md "$OUT"
  log "BENCHMARKS.md updated"
fi
log "done in ${elapsed}s"
