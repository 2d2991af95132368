#!/usr/bin/env bash
# The Dockerfile's build stage, run without Docker: does `docker build` get as far as a
# coredns with etcdhosts and its file capability? (No Docker engine here; this runs the
# same steps in a fresh Debian root.)
#
#   tests/fresh/dockerfile.sh [COMMIT]     (as root; COMMIT defaults to HEAD)
#
# 1. mmdebstrap builds a minimal Debian 12 root (variant minbase): the Dockerfile's build
#    stage starts from rust:<RUST_VERSION>-bookworm, i.e. Debian 12 with Rust; here this
#    machine's Rust (rustup's home and proxies) is bind-mounted read-only at the same paths
#    instead, and this machine's Go at /usr/local/go for the stage's
#    `COPY --from=go /usr/local/go /usr/local/go` (golang:<GO_VERSION>-bookworm's Go). Both
#    must be the versions the Dockerfile's ARGs name, or this fails.
# 2. The build context is COMMIT's tree (`git archive`: no .git, as .dockerignore has it),
#    minus every other path .dockerignore excludes.
# 3. The instructions of the `AS build` stage are read from the Dockerfile and executed
#    in order in the root (chroot, private mount and PID namespaces): ARG and ENV set the
#    environment, WORKDIR the directory, COPY copies from the context, RUN runs its command
#    with /bin/sh -c (its --mount=type=cache options dropped: nothing is cached). Any other
#    instruction, or a COPY --from other than the Go one, fails: this script must learn it.
# 4. The result: /out/coredns -plugins lists etcdhosts, -version names the pinned CoreDNS,
#    getcap shows cap_net_bind_service=ep, /out holds dnsctl and the rest of the tarball.
# 5. The root is removed.
# It shares the network with this machine (apt, crates.io and the Go module proxy). Not
# part of ./test.sh: it takes many minutes (a cold cargo and Go build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '[dockerfile %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

# ---- inside the namespaces (the script re-runs itself there) -----------------
if [[ "${1:-}" == --inside ]]; then
  rootfs="$2" context="$3" steps="$4" log="$5"
  rustup_home="$(rustup show home)"
  cargo_bin="$(dirname "$(command -v rustup)")"
  goroot="$(go env GOROOT)"
  mount -t proc proc "$rootfs/proc"
  mount -t sysfs sysfs "$rootfs/sys"
  mount --rbind /dev "$rootfs/dev"
  for pair in "$rustup_home:$rustup_home" "$cargo_bin:$cargo_bin" "$goroot:/usr/local/go"; do
    src="${pair%%:*}" dst="${pair#*:}"
    mkdir -p "$rootfs$dst"
    mount --bind "$src" "$rootfs$dst"
    mount -o remount,bind,ro "$rootfs$dst"
  done
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi

  # The rust image's environment: its Rust on the PATH (here rustup's, at this machine's
  # paths), CARGO_HOME's registry empty.
  declare -A env=(
    [HOME]=/root [LANG]=C.UTF-8 [TERM]=dumb [DEBIAN_FRONTEND]=noninteractive
    [RUSTUP_HOME]="$rustup_home" [CARGO_HOME]="$(dirname "$cargo_bin")"
    [PATH]="$cargo_bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  )
  workdir=/
  # expand TEXT: $VAR and ${VAR} from the build's environment (as Docker does in ENV,
  # WORKDIR and COPY; RUN's shell expands its own).
  expand() {
    local text="$1" out="" name
    while [[ "$text" =~ ^([^\$]*)\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))(.*)$ ]]; do
      name="${BASH_REMATCH[3]}${BASH_REMATCH[4]}"
      out+="${BASH_REMATCH[1]}${env[$name]:-}"
      text="${BASH_REMATCH[5]}"
    done
    printf '%s' "$out$text"
  }
  run_in_root() {
    local args=() k
    for k in "${!env[@]}"; do args+=("$k=${env[$k]}"); done
    chroot "$rootfs" /usr/bin/env -i "${args[@]}" /bin/sh -c 'cd "$0" && exec /bin/sh -c "$1"' "$workdir" "$1"
  }
  n=0
  while IFS= read -r -d '' step; do
    n=$((n + 1))
    instr="${step%% *}" rest="${step#* }"
    printf '\n==> step %d: %s\n' "$n" "$step" >>"$log"
    case "${instr^^}" in
    ARG)
      name="${rest%%=*}" value=""
      [[ "$rest" == *=* ]] && value="${rest#*=}"
      # A build argument given to this script (as --build-arg would) wins.
      [[ -n "${!name+set}" ]] && value="${!name}"
      env[$name]="$value"
      ;;
    ENV)
      [[ "$rest" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || { echo "ENV form not understood: $rest" >>"$log"; exit 10; }
      env[${BASH_REMATCH[1]}]="$(expand "${BASH_REMATCH[2]}")"
      ;;
    WORKDIR)
      workdir="$(expand "$rest")"
      [[ "$workdir" == /* ]] || workdir="/root/$workdir"
      mkdir -p "$rootfs$workdir"
      ;;
    COPY)
      read -ra words <<<"$(expand "$rest")"
      if [[ "${words[0]}" == --from=go ]]; then
        # golang image's Go: this machine's, mounted above.
        [[ "${words[*]:1}" == "/usr/local/go /usr/local/go" ]] || { echo "unknown COPY --from=go: $rest" >>"$log"; exit 10; }
        [[ -x "$rootfs/usr/local/go/bin/go" ]] || { echo "no Go at /usr/local/go" >>"$log"; exit 10; }
        continue
      fi
      [[ "${words[0]}" != --* ]] || { echo "COPY option not understood: $rest" >>"$log"; exit 10; }
      dst="${words[-1]}"
      [[ "$dst" == /* ]] || dst="$workdir/$dst"
      for src in "${words[@]:0:${#words[@]}-1}"; do
        if [[ "$src" == . ]]; then
          mkdir -p "$rootfs$dst" && cp -a "$context/." "$rootfs$dst/"
        elif [[ "$dst" == */ || -d "$rootfs$dst" ]]; then
          mkdir -p "$rootfs$dst" && cp -a "$context/$src" "$rootfs$dst/"
        else
          mkdir -p "$(dirname "$rootfs$dst")" && cp -a "$context/$src" "$rootfs$dst"
        fi
      done
      ;;
    RUN)
      cmd="$rest"
      while [[ "$cmd" =~ ^--mount=[^[:space:]]+[[:space:]]+(.*)$ ]]; do cmd="${BASH_REMATCH[1]}"; done
      [[ "$cmd" != --* ]] || { echo "RUN option not understood: $cmd" >>"$log"; exit 10; }
      t0=$SECONDS
      if ! run_in_root "$cmd" >>"$log" 2>&1; then
        echo "step $n failed after $((SECONDS - t0))s" >>"$log"
        exit 11
      fi
      echo "==> step $n took $((SECONDS - t0))s" >>"$log"
      ;;
    *)
      echo "instruction not understood (teach tests/fresh/dockerfile.sh): $step" >>"$log"
      exit 10
      ;;
    esac
  done <"$steps"

  # The stage's result.
  status=0
  check() {
    if "$@" >>"$log" 2>&1; then echo "ok   - $desc" >>"$log"; else echo "FAIL - $desc" >>"$log"; status=1; fi
  }
  desc="/out/coredns -plugins lists etcdhosts"
  check bash -c "chroot '$rootfs' /out/coredns -plugins | grep -Eqx '(dns\\.)?etcdhosts'"
  want="CoreDNS-$(sed -n 's/^DEFAULT_COREDNS_VERSION=v//p' "$context/build.sh")"
  [[ -z "${env[COREDNS_VERSION]:-}" ]] || want="CoreDNS-${env[COREDNS_VERSION]#v}"
  desc="/out/coredns -version says $want and etcdhosts"
  check bash -c "out=\$(chroot '$rootfs' /out/coredns -version); echo \"\$out\"; grep -qx '$want' <<<\"\$out\" && grep -q 'etcdhosts ' <<<\"\$out\""
  desc="getcap /out/coredns: cap_net_bind_service=ep (setcap applied)"
  check bash -c "out=\$(chroot '$rootfs' getcap /out/coredns); echo \"\$out\"; grep -Eq 'cap_net_bind_service[=+]ep' <<<\"\$out\""
  desc="/out holds the tarball: coredns, dnsctl, Corefile.example, README.md, LICENSE, systemd/"
  check bash -c "cd '$rootfs/out' && test -x coredns -a -x dnsctl -a -f Corefile.example -a -f README.md -a -f LICENSE -a -f systemd/coredns.service"
  desc="/out/dnsctl --version runs"
  check chroot "$rootfs" /out/dnsctl --version
  exit "$status"
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

work="$(mktemp -d /var/tmp/etcdhosts-dockerfile.XXXXXX)"
rootfs="$work/root" context="$work/context" steps="$work/steps" log="$work/build.log"
cleanup() {
  if findmnt -rn -o TARGET | grep -q "^$rootfs"; then
    say "mounts remain under $rootfs; NOT removing it"
    return
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The build context: COMMIT's tree, without what .dockerignore excludes.
mkdir -p "$context"
git -C "$ROOT" archive "$commit" | tar -x -C "$context"
if [[ -f "$context/.dockerignore" ]]; then
  while IFS= read -r pattern; do
    [[ -z "$pattern" || "$pattern" == \#* ]] && continue
    [[ "$pattern" != !* ]] || die ".dockerignore exception '$pattern': not understood by this script"
    (cd "$context" && shopt -s globstar nullglob && for p in $pattern; do rm -rf -- "$p"; done)
  done <"$context/.dockerignore"
fi

# The Dockerfile's build stage as one instruction per record (continuation lines joined,
# comments dropped); the version ARGs before the first FROM checked against this machine.
dockerfile="$context/Dockerfile"
awk '
  /^[[:space:]]*#/ { next }
  { line = $0 }
  cont != "" { line = cont " " line; cont = "" }
  /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); cont = line; next }
  line ~ /^[[:space:]]*$/ { next }
  { sub(/^[[:space:]]+/, "", line); gsub(/[[:space:]]+/, " ", line) }
  toupper(line) ~ /^FROM / { in_build = (line ~ / AS build$/); next }
  in_build { printf "%s%c", line, 0 }
' "$dockerfile" >"$steps"
[[ -s "$steps" ]] || die "no 'FROM ... AS build' stage in the Dockerfile"
rust_want="$(sed -n 's/^ARG RUST_VERSION=//p' "$dockerfile")"
go_want="$(sed -n 's/^ARG GO_VERSION=//p' "$dockerfile")"
grep -q '^FROM rust:\${RUST_VERSION}-\${DEBIAN_VERSION} AS build$' "$dockerfile" ||
  die "the build stage no longer starts FROM rust:\${RUST_VERSION}-\${DEBIAN_VERSION}: teach this script"
[[ "$(sed -n 's/^ARG DEBIAN_VERSION=//p' "$dockerfile")" == bookworm ]] || die "the Dockerfile's DEBIAN_VERSION is not bookworm"
rust_here="$(cd "$context" && rustc --version | awk '{ print $2 }')"
go_here="$(go env GOVERSION)"
[[ "$rust_here" == "$rust_want" ]] || die "the Dockerfile builds with Rust $rust_want, this machine's rustc (in the repository) is $rust_here"
[[ "$go_here" == "go$go_want" ]] || die "the Dockerfile builds with Go $go_want, this machine's Go is $go_here"
say "the build stage: $(tr '\0' '\n' <"$steps" | wc -l) instructions; Rust $rust_here, Go $go_here"

say "mmdebstrap bookworm (minbase) into $rootfs"
t0=$SECONDS
mmdebstrap --quiet --variant=minbase bookworm "$rootfs" >"$work/mmdebstrap.log" 2>&1 ||
  { cat "$work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
say "root built in $((SECONDS - t0))s"

say "running the build stage's steps in the root"
t0=$SECONDS
status=0
# ETCDHOSTS_GIT_COMMIT as `docker build --build-arg ETCDHOSTS_GIT_COMMIT=...` would give it.
unshare --mount --pid --fork --mount-proc --propagation private \
  env ETCDHOSTS_GIT_COMMIT="$(git -C "$ROOT" rev-parse --short "$commit")" \
  "$0" --inside "$rootfs" "$context" "$steps" "$log" || status=$?
grep -E '^(==> step|ok   -|FAIL -)' "$log" | sed 's/^/    /' >&2 || true
if [[ "$status" == 0 ]]; then
  say "PASS: the Dockerfile's build stage ran in $((SECONDS - t0))s and made /out/coredns with etcdhosts and CAP_NET_BIND_SERVICE"
  exit 0
fi
say "the build log (last 80 lines):"
tail -n 80 "$log" >&2
die "exit $status (10: a Dockerfile instruction this script does not understand; 11: a RUN step failed; 1: a check of the result failed)"
