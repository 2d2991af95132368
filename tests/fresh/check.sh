#!/usr/bin/env bash
# The fresh-machine check: does the README's first command work on a Debian 12 machine that
# has nothing but Rust and Go? What is installed on this machine cannot help it.
#
#   tests/fresh/check.sh [COMMIT]     (as root; COMMIT defaults to HEAD)
#
# 1. mmdebstrap builds a minimal Debian 12 root (variant minbase) from Debian's packages.
# 2. This machine's Rust (rustup's toolchains and its proxies) and Go are bind-mounted into
#    it read-only, at the same paths: the only things a user brings. Cargo's registry and
#    Go's module cache start empty.
# 3. The repository at COMMIT is cloned into the root, and `./run.sh` runs there (chroot, in
#    private mount and PID namespaces), until `dig web.example.org` gets the example
#    answer (10.0.0.10 and 10.0.0.11).
# 4. It sends run.sh SIGINT, as Ctrl-C would, waits for it to stop what it started (CoreDNS
#    must remove its status key before etcd stops), then ends the namespaces and removes
#    the root.
# It prints the time to the first answer, and run.sh's output when it fails. It shares the
# network with this machine (apt, crates.io and the Go module proxy are needed): port
# 127.0.0.1:1053, where run.sh listens, must be free. Not part of ./test.sh: it takes about
# 10 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deadline_s="${FRESH_DEADLINE_S:-2400}"

say() { printf '[fresh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

# ---- inside the namespaces (the script re-runs itself there) -----------------
if [[ "${1:-}" == --inside ]]; then
  rootfs="$2" log="$3" result="$4"
  rustup_home="$(rustup show home)"
  cargo_bin="$(dirname "$(command -v rustup)")"
  goroot="$(go env GOROOT)"
  mount -t proc proc "$rootfs/proc"
  mount -t sysfs sysfs "$rootfs/sys"
  mount --rbind /dev "$rootfs/dev"
  # At the same paths as here: rustup's toolchains may be symlinks with absolute targets.
  for dir in "$rustup_home" "$cargo_bin" "$goroot"; do
    mkdir -p "$rootfs$dir"
    mount --bind "$dir" "$rootfs$dir"
    mount -o remount,bind,ro "$rootfs$dir"
  done
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # The network's, not the user's: where HTTPS goes through a proxy with its own CA, that CA
  # is in this machine's local certificates; the root's ca-certificates package (which
  # run.sh installs) adds them to its bundle, as it would on any machine of this network.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi

  # A user whose ~/.profile puts rustup's and Go's bin on the PATH. CARGO_HOME's registry
  # and GOPATH's module cache start empty in the root.
  env_vars=(HOME=/root USER=root LANG=C.UTF-8 TERM=dumb
    PATH="$cargo_bin:$goroot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    RUSTUP_HOME="$rustup_home" CARGO_HOME="$(dirname "$cargo_bin")" GOPATH=/root/go)
  start=$SECONDS
  # A command started with & from a script ignores SIGINT, and bash cannot trap a signal
  # ignored on entry: --default-signal gives run.sh the SIGINT a terminal's Ctrl-C would.
  env --default-signal=INT chroot "$rootfs" /usr/bin/env -i "${env_vars[@]}" \
    /bin/bash -c 'cd /root/etcdhosts && exec ./run.sh' >"$log" 2>&1 </dev/null &
  run_pid=$!
  answer=""
  while :; do
    if ! kill -0 "$run_pid" 2>/dev/null; then
      wait "$run_pid" && rc=0 || rc=$?
      echo "exited $rc before answering" >"$result"
      exit 1
    fi
    if [[ -x "$rootfs/usr/bin/dig" ]]; then
      answer="$(chroot "$rootfs" dig @127.0.0.1 -p 1053 +short +time=1 +tries=1 web.example.org A 2>/dev/null | sort | tr '\n' ' ')" || true
      [[ "$answer" == "10.0.0.10 10.0.0.11 " ]] && break
    fi
    ((SECONDS - start < deadline_s)) || { echo "no answer in ${deadline_s}s (last: '$answer')" >"$result"; exit 1; }
    sleep 1
  done
  first_answer_s=$((SECONDS - start))

  # Ctrl-C: run.sh stops CoreDNS, then etcd, and exits.
  kill -INT "$run_pid"
  stop_start=$SECONDS
  while kill -0 "$run_pid" 2>/dev/null && ((SECONDS - stop_start < 60)); do sleep 0.2; done
  if kill -0 "$run_pid" 2>/dev/null; then
    echo "answered after ${first_answer_s}s, but run.sh did not exit within 60 s of SIGINT" >"$result"
    exit 1
  fi
  left="$(ps -e -o comm= 2>/dev/null | grep -Ex 'coredns|etcd' || true)"
  if [[ -n "$left" ]]; then
    echo "answered after ${first_answer_s}s, but after run.sh exited these still ran: $left" >"$result"
    exit 1
  fi
  # CoreDNS removes its status key on the way out; it can only while etcd still runs.
  if grep -q 'status key .* not removed' "$log"; then
    echo "answered after ${first_answer_s}s, but on Ctrl-C CoreDNS could not remove its status key: $(grep 'not removed' "$log")" >"$result"
    exit 1
  fi
  echo "ok $first_answer_s $((SECONDS - stop_start))" >"$result"
  exit 0
fi

# ---- outside ----------------------------------------------------------------
commit="$(git -C "$ROOT" rev-parse --verify "${1:-HEAD}^{commit}")"
[[ "$(id -u)" == 0 ]] || die "run as root (mmdebstrap, mounts and chroot)"
for tool in rustc rustup go git unshare chroot; do
  command -v "$tool" >/dev/null || die "'$tool' is not on PATH"
done
if ! command -v mmdebstrap >/dev/null; then
  say "apt-get install mmdebstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi
if (exec 3<>/dev/tcp/127.0.0.1/1053) 2>/dev/null; then
  die "something listens on 127.0.0.1:1053 (TCP), where run.sh would listen"
fi

work="$(mktemp -d /var/tmp/etcdhosts-fresh.XXXXXX)"
rootfs="$work/root" log="$work/run.log" result="$work/result"
cleanup() {
  # The mounts lived in the namespace, which is gone: nothing under the root is mounted.
  if findmnt -rn -o TARGET | grep -q "^$rootfs"; then
    say "mounts remain under $rootfs; NOT removing it"
    return
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

say "mmdebstrap bookworm (minbase) into $rootfs"
t0=$SECONDS
mmdebstrap --quiet --variant=minbase bookworm "$rootfs" >"$work/mmdebstrap.log" 2>&1 ||
  { cat "$work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
say "root built in $((SECONDS - t0))s: $(chroot "$rootfs" dpkg-query -W -f '.\n' | wc -l) packages"

git clone --quiet --no-checkout "$ROOT" "$rootfs/root/etcdhosts"
git -C "$rootfs/root/etcdhosts" checkout --quiet "$commit"
say "cloned $(git -C "$ROOT" log -1 --format='%h %s' "$commit" | cut -c1-80)"

say "./run.sh in the root (deadline ${deadline_s}s)"
status=0
unshare --mount --pid --fork --mount-proc --propagation private \
  env FRESH_DEADLINE_S="$deadline_s" "$0" --inside "$rootfs" "$log" "$result" || status=$?
verdict="$(cat "$result" 2>/dev/null || echo "no result (the check itself failed: exit $status)")"

if [[ "$status" == 0 && "$verdict" == ok* ]]; then
  read -r _ first stop <<<"$verdict"
  say "PASS: the first answer came ${first}s after ./run.sh started; Ctrl-C stopped CoreDNS (status key removed) and then etcd in ${stop}s"
  grep -E '^==> (installing|cargo|.*go build|.*built in)' "$log" | sed 's/^/    /' >&2 || true
  exit 0
fi
say "./run.sh output (last 150 lines of $log):"
tail -n 150 "$log" >&2
die "$verdict"
