#!/usr/bin/env bash
# etcdhosts against the alternatives an operator has, on one machine, in one run:
# CoreDNS with etcdhosts, the same CoreDNS binary with the stock `hosts` plugin
# reading the same records from a file, and dnsmasq with the same file.
#
#   bench/run.sh            the full run (about 20 minutes on 2 cores): writes BENCHMARKS.md
#   bench/run.sh --quick    a smaller run (about 3-4 minutes): writes bench/results/quick.md
#   options: --write (quick: also write BENCHMARKS.md), --no-write, --no-build,
#            --only SECTIONS (comma separated: throughput,latency,diff,edns,reload,prop,memory,gobench)
#   environment: BENCH_SIZES="1000 100000", BENCH_KINDS="mix a", BENCH_ROUNDS=5, BENCH_DUR=3
#            override the record sets, query kinds, rounds and seconds per dnsperf run;
#            BENCH_RESULTS=NAME writes bench/results/NAME* instead of quick*/full*;
#            BENCH_DNSMASQ_WAIT=60s how long dnsmasq may take to load a record set
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
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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
  PROP_N=50; PROP100K_N=20; PROP1M_N=0
  RELOAD_DUR=8; LAT_DUR=4; DIFF_N=20000; MEM_SIZE=100000; DNSMASQ_WAIT=60s; GOBENCH_TIME=20000x; GOBENCH_COUNT=1
else
  SIZES="1000 100000 1000000"; KINDS="mix a aaaa nodata nx ptr"; ROUNDS=5; DUR=3
  PROP_N=200; PROP100K_N=200; PROP1M_N=5
  RELOAD_DUR=20; LAT_DUR=10; DIFF_N=100000; MEM_SIZE=1000000; DNSMASQ_WAIT=150s; GOBENCH_TIME=200000x; GOBENCH_COUNT=5
fi
# Overrides for experiments (the defaults above are what BENCHMARKS.md reports).
SIZES=${BENCH_SIZES:-$SIZES} KINDS=${BENCH_KINDS:-$KINDS} ROUNDS=${BENCH_ROUNDS:-$ROUNDS} DUR=${BENCH_DUR:-$DUR}
DNSMASQ_WAIT=${BENCH_DNSMASQ_WAIT:-$DNSMASQ_WAIT}
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

# ---- etcd: one member, large requests allowed (a 1M-line hosts file is ~57 MB)
ETCD_PORT=$($BT freeport); ETCD_PEER=$($BT freeport)
ETCD="http://127.0.0.1:$ETCD_PORT"
start_etcd() {
  etcd --name bench --data-dir "$WORK/etcd" \
    --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "bench=http://127.0.0.1:$ETCD_PEER" --initial-cluster-state new \
    --max-request-bytes $((128 << 20)) --quota-backend-bytes $((8 << 30)) \
    --snapshot-count 100000 --logger zap --log-level error --log-outputs stderr \
    >"$WORK/etcd.log" 2>&1 &
  PIDS+=($!); ETCD_PID=$!
  for _ in $(seq 1 200); do
    ETCDCTL_API=3 etcdctl --endpoints "$ETCD" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/etcd.log" >&2; die "etcd did not start"
}

# ---- CoreDNS with etcdhosts / with hosts; dnsmasq
# start_coredns NAME COREFILE_TEXT -> sets LAST_PID
start_coredns() {
  local name=$1 text=$2
  mkdir -p "$WORK/$name"
  printf '%s\n' "$text" >"$WORK/$name/Corefile"
  (cd "$WORK/$name" && exec "$COREDNS" -conf Corefile) >"$WORK/$name/log" 2>&1 &
  LAST_PID=$!; PIDS+=($LAST_PID)
}
etcdhosts_corefile() { # PORT KEY
  cat <<EOF
.:$1 {
    bind 127.0.0.1
    etcdhosts example.com {
        key $2
        endpoint $ETCD
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
start_dnsmasq() { # NAME PORT FILE -> LAST_PID
  "$DNSMASQ" --keep-in-foreground --no-daemon --user=root --pid-file="$WORK/$1.pid" \
    --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 --port="$2" \
    --addn-hosts="$3" --local=/example.com/ --local-ttl=3600 --log-facility=- \
    >"$WORK/$1.log" 2>&1 &
  LAST_PID=$!; PIDS+=($LAST_PID)
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
run_dnsperf() {
  local label=$1 port=$2 qfile=$3 dur=$4; shift 4
  local out="$WORK/dnsperf.out"
  timeout $((dur + 30)) dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -l "$dur" $DNSPERF_ARGS -v "$@" >"$out" 2>&1 || true
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
start_etcd

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
  want throughput || want latency || want diff || want edns || want reload || want memory || break
  if ! want throughput && [ "$size" != 100000 ] && [ "$size" != "$MEM_SIZE" ]; then continue; fi
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
    emit "section=memory phase=baseline size=$size server=etcdhosts-empty rss_kb=$(rss_kb "$PID_B") anon_kb=$(awk '/^RssAnon/{print $2}' "/proc/$PID_B/status")"
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
      emit "section=memory phase=after-load size=$size server=$sname rss_kb=$(rss_kb "$spid") hwm_kb=$(hwm_kb "$spid")$(records_field "$sname" "$size" "$key")"
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
      storm_pid=$!; PIDS+=($storm_pid)
      line=$(run_dnsperf "$sname" "$sport" "$dir/q-mix.txt" "$RELOAD_DUR" -Q "$rate")
      wait "$storm_pid" || { cat "$WORK/storm.out" >&2; die "storm failed"; }
      wait_idle "$spid"
      emit "section=reload phase=storm size=$size rate=$rate server=$sname $line $(cat "$WORK/storm.out" | tail -1 | sed 's/^storm //') rss_before_kb=$rss0 hwm_kb=$(hwm_kb "$spid")"
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
if want prop; then
  log "propagation: 3 CoreDNS instances on one etcd"
  gen_records 100000
  # Small file: 100 lines; big: the 100k-name record set; huge (full run): 1M names.
  head -101 "$REC_DIR/100000/hosts.txt" >"$WORK/prop-small.txt"
  $BT put -etcd "$ETCD" -key /bench/prop-small -file "$WORK/prop-small.txt" >/dev/null
  $BT put -etcd "$ETCD" -key /bench/prop-100k -file "$REC_DIR/100000/hosts.txt" >/dev/null
  if [ "$PROP1M_N" -gt 0 ]; then
    gen_records 1000000
    $BT put -etcd "$ETCD" -key /bench/prop-1m -file "$REC_DIR/1000000/hosts.txt" >/dev/null
  fi
  PP=() PPID_LIST=()
  for i in 1 2 3; do
    p1=$($BT freeport); p2=$($BT freeport); p3=$($BT freeport)
    cf="$(etcdhosts_corefile "$p1" /bench/prop-small)
$(etcdhosts_corefile "$p2" /bench/prop-100k)"
    [ "$PROP1M_N" -gt 0 ] && cf="$cf
$(etcdhosts_corefile "$p3" /bench/prop-1m)"
    start_coredns "prop-$i" "$cf"; PPID_LIST+=($LAST_PID)
    PP+=("$p1:$p2:$p3")
  done
  small=() big=() huge=()
  for i in 0 1 2; do
    IFS=: read -r p1 p2 p3 <<<"${PP[$i]}"
    wait_ready "prop-$((i + 1))" "$p1" "$FIRST_NAME" 120s
    wait_ready "prop-$((i + 1))" "$p2" "$FIRST_NAME" 120s
    [ "$PROP1M_N" -gt 0 ] && wait_ready "prop-$((i + 1))" "$p3" "$FIRST_NAME" 300s
    small+=("127.0.0.1:$p1"); big+=("127.0.0.1:$p2"); huge+=("127.0.0.1:$p3")
  done
  join() { local IFS=,; echo "$*"; }
  line=$($BT prop -etcd "$ETCD" -key /bench/prop-small -base "$WORK/prop-small.txt" -dns "$(join "${small[@]}")" -n "$PROP_N" -label small)
  emit "section=prop lines=101 $line"; log "$line"
  line=$($BT prop -etcd "$ETCD" -key /bench/prop-100k -base "$REC_DIR/100000/hosts.txt" -dns "$(join "${big[@]}")" -n "$PROP100K_N" -label 100k -compact-every 5)
  emit "section=prop lines=$(wc -l <"$REC_DIR/100000/hosts.txt") $line"; log "$line"
  if [ "$PROP1M_N" -gt 0 ]; then
    line=$($BT prop -etcd "$ETCD" -key /bench/prop-1m -base "$REC_DIR/1000000/hosts.txt" -dns "$(join "${huge[@]}")" -n "$PROP1M_N" -label 1m -compact-every 1 -timeout 30s)
    emit "section=prop lines=$(wc -l <"$REC_DIR/1000000/hosts.txt") $line"; log "$line"
  fi
  for pid in "${PPID_LIST[@]}"; do stop_pid "$pid"; done
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
