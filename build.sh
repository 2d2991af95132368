#!/usr/bin/env bash
# Build CoreDNS with the etcdhosts plugin linked in, and pack release tarballs.
#
#   ./build.sh                        build the pinned default CoreDNS version
#   ./build.sh v1.12.4 v1.15.0        build these versions
#   ./build.sh --release [VERSION...] a release: CoreDNS v1.15.0 and v1.12.4 (or VERSION...)
#                                     for amd64 and arm64, plus dnsctl, in build/release/
#
# Per version this writes build/coredns-<ver>/{main.go,go.mod,go.sum,coredns} and
# build/coredns_<ver>_linux_<arch>.tgz (coredns, dnsctl, Corefile.example, README.md,
# LICENSE, systemd/, dnsctl's completions/ and man/), then build/SHA256SUMS over all
# tarballs. A cross-compiled architecture is built in build/linux_<arch>/coredns-<ver>/.
# --release also packs build/dnsctl_v<etcdhosts version>_linux_<arch>.tgz and
# build/libetcdhosts_v<etcdhosts version>_linux_<arch>.tgz (lib/libetcdhosts.a,
# include/etcdhosts.h: for building the plugin into a CoreDNS of one's own), and puts
# exactly the tarballs built and checked by this run, with one SHA256SUMS, into
# build/release/. arm64 is cross-compiled on an amd64 machine; when that is impossible
# (no Rust target, no cross compiler) the script says so and builds amd64 only.
# ETCDHOSTS_COREDNS_ONLY=1 builds only the library and coredns (for the e2e tests).
# The Go build is skipped when the binary is newer than every input, so calling
# ./build.sh again is cheap.
set -euo pipefail

# The newest CoreDNS release tested with this repository (Go 1.26). The oldest
# one is pinned by go-shim/go.mod (Go's minimal version selection cannot go below it).
DEFAULT_COREDNS_VERSION=v1.15.0
OLDEST_COREDNS_VERSION=v1.12.4
# What --release builds when no version is given.
RELEASE_COREDNS_VERSIONS=("$DEFAULT_COREDNS_VERSION" "$OLDEST_COREDNS_VERSION")

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(dirname "$SELF")"
SHIM="$ROOT/go-shim"
HEADER="$ROOT/include/etcdhosts.h"
PACKAGING="$ROOT/packaging"

usage() {
	cat >&2 <<EOF
usage: ./build.sh [--release] [COREDNS_VERSION...]

Builds the Rust library and dnsctl (cargo build --release), then for each
CoreDNS version (default $DEFAULT_COREDNS_VERSION) a coredns binary with the
etcdhosts plugin, and packs build/coredns_<version>_linux_<arch>.tgz plus
build/SHA256SUMS. A version looks like v1.15.0 ($OLDEST_COREDNS_VERSION is the oldest).

--release   build CoreDNS ${RELEASE_COREDNS_VERSIONS[*]} (unless versions are given) for
            amd64 and, cross-compiled, arm64; pack dnsctl_v<version>_linux_<arch>.tgz
            and libetcdhosts_v<version>_linux_<arch>.tgz too; put exactly this
            run's tarballs and one SHA256SUMS in build/release/.
            Installs the arm64 toolchain when missing (rustup target add; as root,
            apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross); if that is
            impossible it says so and builds amd64 only.

Environment:
  ETCDHOSTS_COREDNS_ONLY=1     build only the library and coredns (no dnsctl, no tarballs)
  ETCDHOSTS_ARCHES="amd64 arm64"
                               architectures to build (default: this machine's; with
                               --release also arm64 when it can be built); an
                               architecture named here that cannot be built is an error
  ETCDHOSTS_NO_INSTALL=1       never install a missing cross toolchain
  ETCDHOSTS_GIT_COMMIT=...     the commit to report (default: git rev-parse --short HEAD,
                               plus -dirty for uncommitted changes)
  ETCDHOSTS_BUILD_DIR=DIR      output directory (default: build/)
  ETCDHOSTS_RELEASE_DIR=DIR    where --release puts its tarballs (default: build/release/)
EOF
}

usage_error() {
	usage
	echo "build.sh: error: $*" >&2
	exit 2
}

die() {
	echo "build.sh: error: $*" >&2
	exit 1
}
warn() { echo "build.sh: warning: $*" >&2; }
step() { echo "==> $*" >&2; }

release=0
versions=()
for arg in "$@"; do
	case "$arg" in
	-h | --help)
		usage
		exit 0
		;;
	--release)
		release=1
		;;
	v[0-9]*.[0-9]*.[0-9]*)
		[[ "$arg" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || usage_error "not a CoreDNS version: '$arg'"
		[[ " ${versions[*]} " == *" $arg "* ]] || versions+=("$arg")
		;;
	*)
		usage_error "not a CoreDNS version: '$arg'"
		;;
	esac
done
if [[ ${#versions[@]} -eq 0 ]]; then
	if [[ "$release" == 1 ]]; then
		versions=("${RELEASE_COREDNS_VERSIONS[@]}")
	else
		versions=("$DEFAULT_COREDNS_VERSION")
	fi
fi

# ETCDHOSTS_COREDNS_ONLY=1: only the library and the coredns binaries (no dnsctl,
# no tarballs); the end-to-end tests use it.
COREDNS_ONLY="${ETCDHOSTS_COREDNS_ONLY:-0}"
[[ "$COREDNS_ONLY" != 1 || "$release" != 1 ]] || usage_error "--release needs the tarballs: unset ETCDHOSTS_COREDNS_ONLY"
NO_INSTALL="${ETCDHOSTS_NO_INSTALL:-0}"

for tool in cargo go gcc tar gzip sha256sum readelf; do
	command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
# protoc with the well-known .proto files, a working C compiler, CA certificates: checked
# here, in seconds, rather than by a build script minutes into cargo build.
"$ROOT/scripts/deps.sh" --check build || die "the build needs the Debian packages named above"

started=$SECONDS
BUILD="${ETCDHOSTS_BUILD_DIR:-$ROOT/build}"
mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd)"

export CGO_ENABLED=1
[[ "$(go env GOHOSTOS)" == linux ]] || die "only linux builds are supported (GOHOSTOS=$(go env GOHOSTOS))"
HOST_ARCH="$(go env GOHOSTARCH)"

# The version every binary reports: the workspace's (Cargo.toml's [workspace.package],
# shared by the core and dnsctl), and the git commit.
ETCDHOSTS_VERSION="$(awk -F'"' '/^\[/ { p = ($0 == "[workspace.package]") } p && /^version *=/ { print $2; exit }' "$ROOT/Cargo.toml")"
[[ -n "$ETCDHOSTS_VERSION" ]] || die "no version in Cargo.toml's [workspace.package]"
if [[ -n "${ETCDHOSTS_GIT_COMMIT:-}" ]]; then
	git_commit="$ETCDHOSTS_GIT_COMMIT"
elif git_commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"; then
	git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || git_commit+="-dirty"
else
	git_commit=unknown
fi
[[ "$git_commit" =~ ^[A-Za-z0-9._+-]+$ ]] || die "ETCDHOSTS_GIT_COMMIT must be a plain word, not '$git_commit'"
# dnsctl reads it at compile time (option_env!); cargo rebuilds dnsctl when it changes.
export ETCDHOSTS_GIT_COMMIT="$git_commit"
# `coredns -version` prints it on its last line, `dnsctl --version` after "dnsctl ".
VERSION_STRING="etcdhosts $ETCDHOSTS_VERSION (commit $git_commit)"
DNSCTL_VERSION_STRING="dnsctl $ETCDHOSTS_VERSION (commit $git_commit)"

# ---- architectures -----------------------------------------------------------

rust_triple() {
	case "$1" in
	amd64) echo x86_64-unknown-linux-gnu ;;
	arm64) echo aarch64-unknown-linux-gnu ;;
	*) return 1 ;;
	esac
}
gnu_triple() {
	case "$1" in
	amd64) echo x86_64-linux-gnu ;;
	arm64) echo aarch64-linux-gnu ;;
	esac
}
cross_packages() {
	case "$1" in
	amd64) echo gcc-x86-64-linux-gnu libc6-dev-amd64-cross ;;
	arm64) echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;;
	esac
}
qemu_for() {
	case "$1" in
	amd64) echo qemu-x86_64 ;;
	arm64) echo qemu-aarch64 ;;
	esac
}
elf_machine() {
	case "$1" in
	amd64) echo "Advanced Micro Devices X86-64" ;;
	arm64) echo "AArch64" ;;
	esac
}
is_native() { [[ "$1" == "$HOST_ARCH" ]]; }

rust_target_installed() {
	local sysroot
	sysroot="$(cd "$ROOT" && rustc --print sysroot 2>/dev/null)" || return 1
	[[ -d "$sysroot/lib/rustlib/$1/lib" ]]
}

# as_root CMD...: run CMD as root (directly, or with passwordless sudo), or fail.
as_root() {
	if [[ "$(id -u)" == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

# cross_ready ARCH: whether ARCH can be cross-compiled here, installing what is
# missing unless ETCDHOSTS_NO_INSTALL=1. Sets cross_problem when it cannot.
cross_problem=""
cross_ready() {
	local arch="$1" triple gnu pkgs
	triple="$(rust_triple "$arch")" || {
		cross_problem="cross-compiling to $arch is not supported"
		return 1
	}
	gnu="$(gnu_triple "$arch")"
	pkgs="$(cross_packages "$arch")"
	[[ -n "$(rust_triple "$HOST_ARCH" 2>/dev/null)" ]] || {
		cross_problem="cross-compiling from $HOST_ARCH is not supported"
		return 1
	}

	if ! rust_target_installed "$triple"; then
		local why
		if [[ "$NO_INSTALL" == 1 ]]; then
			why="ETCDHOSTS_NO_INSTALL=1, so 'rustup target add $triple' was not tried"
		elif ! command -v rustup >/dev/null; then
			why="there is no rustup to install it with"
		else
			step "$arch: rustup target add $triple"
			why="'rustup target add $triple' failed"
			(cd "$ROOT" && timeout 300 rustup target add "$triple") >&2 || true
		fi
		rust_target_installed "$triple" || {
			cross_problem="the Rust target $triple is not installed, and $why"
			return 1
		}
	fi

	if ! command -v "$gnu-gcc" >/dev/null || ! echo 'int main(void) { return 0; }' | "$gnu-gcc" -x c -o /dev/null - 2>/dev/null; then
		if [[ "$NO_INSTALL" != 1 ]] && command -v apt-get >/dev/null; then
			step "$arch: apt-get install $pkgs"
			# shellcheck disable=SC2086 # a list of package names
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >&2 ||
				{ as_root apt-get update -qq >&2 &&
					as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >&2; } ||
				true
		fi
		command -v "$gnu-gcc" >/dev/null || {
			cross_problem="no C cross compiler $gnu-gcc (Debian: apt-get install $pkgs)"
			return 1
		}
		echo 'int main(void) { return 0; }' | "$gnu-gcc" -x c -o /dev/null - 2>/dev/null || {
			cross_problem="$gnu-gcc cannot link a C program (Debian: apt-get install $pkgs)"
			return 1
		}
	fi
	return 0
}

arches=()
explicit_arches=0
if [[ -n "${ETCDHOSTS_ARCHES:-}" ]]; then
	explicit_arches=1
	for arch in $ETCDHOSTS_ARCHES; do
		[[ " ${arches[*]} " == *" $arch "* ]] || arches+=("$arch")
	done
else
	arches=("$HOST_ARCH")
	[[ "$release" != 1 || "$HOST_ARCH" != amd64 ]] || arches+=(arm64)
fi
not_built=()
wanted=("${arches[@]}")
arches=()
for arch in "${wanted[@]}"; do
	if is_native "$arch" || cross_ready "$arch"; then
		arches+=("$arch")
	elif [[ "$explicit_arches" == 1 ]]; then
		die "ETCDHOSTS_ARCHES names $arch, which cannot be built here: $cross_problem"
	else
		not_built+=("$arch: $cross_problem")
		warn "NOT building $arch: $cross_problem"
	fi
done
[[ ${#arches[@]} -gt 0 ]] || die "nothing to build"
step "etcdhosts $ETCDHOSTS_VERSION, commit $git_commit; CoreDNS ${versions[*]}; linux ${arches[*]}"

# can_run ARCH: whether binaries for ARCH run here (natively, or under qemu-user).
can_run() { is_native "$1" || command -v "$(qemu_for "$1")" >/dev/null; }
# run_for ARCH CMD...: run CMD, a binary for ARCH, natively or under qemu-user.
run_for() {
	local arch="$1"
	shift
	if is_native "$arch"; then
		"$@"
	else
		"$(qemu_for "$arch")" -L "/usr/$(gnu_triple "$arch")" "$@"
	fi
}

# Where cargo puts the binaries of ARCH.
rust_out() {
	if is_native "$1"; then echo "$ROOT/target/release"; else echo "$ROOT/target/$(rust_triple "$1")/release"; fi
}

# ---- Rust: the library (and dnsctl) for every architecture -------------------

# cargo_build ARCH ARGS...: cargo build --release ARGS for ARCH (cross-compiled with
# Debian's gcc for a foreign one).
cargo_build() {
	local arch="$1"
	shift
	if is_native "$arch"; then
		step "cargo build --release $*"
		(cd "$ROOT" && cargo build --release "$@") || die "cargo build --release $* failed"
	else
		local triple gnu t
		triple="$(rust_triple "$arch")"
		gnu="$(gnu_triple "$arch")"
		t="${triple//-/_}"
		step "$arch: cargo build --release --target $triple $*"
		(cd "$ROOT" && env "CARGO_TARGET_${t^^}_LINKER=$gnu-gcc" "CC_$t=$gnu-gcc" "AR_$t=$gnu-ar" \
			cargo build --release --target "$triple" "$@") ||
			die "cargo build --release --target $triple $* failed"
	fi
}

[[ -f "$HEADER" ]] || die "missing $HEADER"
for arch in "${arches[@]}"; do
	# Two builds, not one: cargo unifies the features of the packages one build selects,
	# and the library CoreDNS links must have the core's own (none of dnsctl's), the
	# same whether dnsctl is built or not.
	cargo_build "$arch" -p etcdhosts --lib
	[[ "$COREDNS_ONLY" == 1 ]] || cargo_build "$arch" -p dnsctl
	out="$(rust_out "$arch")"
	[[ -f "$out/libetcdhosts.a" ]] || die "cargo build did not produce $out/libetcdhosts.a"
	[[ "$COREDNS_ONLY" == 1 || -x "$out/dnsctl" ]] || die "cargo build did not produce $out/dnsctl"
done

# ---- checks of a built binary ------------------------------------------------

# check_elf BIN ARCH ALLOWED_LIBS_REGEX: BIN is an ARCH executable that needs no shared
# library but those; prints the newest glibc symbol version it needs.
check_elf() {
	local bin="$1" arch="$2" allowed="$3" machine needed glibc
	machine="$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')"
	[[ "$machine" == "$(elf_machine "$arch")" ]] || die "$bin is for '$machine', not $arch"
	needed="$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -Evx "$allowed" || true)"
	[[ -z "$needed" ]] || die "$bin needs more than glibc: $needed"
	glibc="$(readelf -W --dyn-syms "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1)"
	step "$(basename "$bin") ($arch): needs ${glibc:-no versioned glibc symbols} or newer"
}
GLIBC_LIBS='linux-vdso\.so\.1|ld-linux[-a-z0-9_.]*\.so\.[0-9]+|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1'

# check_dnsctl ARCH: the dnsctl of ARCH reports this version.
check_dnsctl() {
	local arch="$1" bin got
	bin="$(rust_out "$arch")/dnsctl"
	check_elf "$bin" "$arch" "$GLIBC_LIBS|libgcc_s\.so\.1"
	if can_run "$arch"; then
		got="$(run_for "$arch" "$bin" --version)" || die "$bin --version failed"
		[[ "$got" == "$DNSCTL_VERSION_STRING" ]] || die "$bin --version says '$got', not '$DNSCTL_VERSION_STRING'"
		step "dnsctl ($arch): $got"
	else
		warn "dnsctl ($arch): --version NOT run: $(qemu_for "$arch") is not installed (Debian: apt-get install qemu-user)"
	fi
}

# check_coredns BIN ARCH: the plugin is in BIN, which reports this version.
check_coredns() {
	local bin="$1" arch="$2" got
	check_elf "$bin" "$arch" "$GLIBC_LIBS"
	if ! can_run "$arch"; then
		warn "coredns ($arch): -plugins and -version NOT run: $(qemu_for "$arch") is not installed (Debian: apt-get install qemu-user)"
		return
	fi
	# CoreDNS <= 1.12 prints "dns.etcdhosts", newer ones "etcdhosts".
	run_for "$arch" "$bin" -plugins | grep -Eqx '[[:space:]]*(dns\.)?etcdhosts' || die "$bin -plugins does not list dns.etcdhosts"
	got="$(run_for "$arch" "$bin" -version)" || die "$bin -version failed"
	echo "$got" >&2
	if [[ "$COREDNS_ONLY" == 1 ]]; then
		# Built for the tests, perhaps at an older commit (see build_coredns).
		[[ "$got" == *"etcdhosts $ETCDHOSTS_VERSION (commit "* ]] || die "$bin -version does not say 'etcdhosts $ETCDHOSTS_VERSION (commit ...)'"
	else
		[[ "$got" == *"$VERSION_STRING"* ]] || die "$bin -version does not say '$VERSION_STRING'"
	fi
}

# ---- Go: coredns per CoreDNS version and architecture ------------------------

# Go's build cache does not see changes to the header (outside the package) or
# to the static library: key the cgo compile on their hashes instead.
header_sum="$(sha256sum "$HEADER" | cut -c1-16)"
BASE_CGO_CFLAGS="${CGO_CFLAGS:--O2 -g}"
# No libgcc_s: the Rust unwinder comes from libgcc_eh; only glibc is needed at run time.
BASE_CGO_LDFLAGS="${CGO_LDFLAGS:-} -static-libgcc -Wl,--as-needed"

# write_if_changed FILE: stdin -> FILE, leaving FILE (and its mtime) alone when equal.
write_if_changed() {
	local tmp
	tmp="$(mktemp)"
	cat >"$tmp"
	if [[ -f "$1" ]] && cmp -s "$tmp" "$1"; then
		rm -f "$tmp"
	else
		mv "$tmp" "$1"
		chmod 0644 "$1"
	fi
}

# stage_lib ARCH: the library of ARCH laid out as the libetcdhosts tarball ships it,
# include/etcdhosts.h and lib/libetcdhosts.a, for CGO_CFLAGS=-I and CGO_LDFLAGS=-L: the
# way any CoreDNS build links it (README: "Build it into your own CoreDNS"). Prints its path.
stage_lib() {
	local dir="$BUILD/linux_$1/libetcdhosts"
	mkdir -p "$dir/include" "$dir/lib"
	ln -sfn "$HEADER" "$dir/include/etcdhosts.h"
	ln -sfn "$(rust_out "$1")/libetcdhosts.a" "$dir/lib/libetcdhosts.a"
	echo "$dir"
}

build_coredns() {
	local ver="$1" arch="$2"
	local dir libdir lib
	if is_native "$arch"; then
		dir="$BUILD/coredns-$ver"
	else
		dir="$BUILD/linux_$arch/coredns-$ver"
	fi
	libdir="$(stage_lib "$arch")"
	lib="$(rust_out "$arch")/libetcdhosts.a"
	local bin="$dir/coredns"
	local what="coredns $ver ($arch)"
	mkdir -p "$dir"

	write_if_changed "$dir/main.go" <<'EOF'
// Code generated by build.sh. DO NOT EDIT.

// Command coredns is CoreDNS with all its stock plugins plus etcdhosts.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // every stock plugin
	"github.com/coredns/coredns/coremain"

	_ "github.com/etcdhosts/etcdhosts/go-shim" // registers "etcdhosts"
)

// init puts etcdhosts right after hosts in the plugin order.
func init() {
	for i, name := range dnsserver.Directives {
		if name == "hosts" {
			d := make([]string, 0, len(dnsserver.Directives)+1)
			d = append(d, dnsserver.Directives[:i+1]...)
			d = append(d, "etcdhosts")
			dnsserver.Directives = append(d, dnsserver.Directives[i+1:]...)
			return
		}
	}
	panic("etcdhosts: no \"hosts\" directive in this CoreDNS")
}

func main() { coremain.Run() }
EOF

	# go.mod is rewritten by `go mod tidy`; keep the template beside it and start
	# over when the template changes.
	write_if_changed "$dir/go.mod.in" <<EOF
// Code generated by build.sh. DO NOT EDIT.
module github.com/etcdhosts/etcdhosts/build/${dir#"$BUILD/"}

go 1.24.0

require (
	github.com/coredns/coredns $ver
	github.com/etcdhosts/etcdhosts/go-shim v0.0.0-00010101000000-000000000000
)

replace github.com/etcdhosts/etcdhosts/go-shim => $(realpath --relative-to="$dir" "$SHIM")
EOF
	if [[ ! -f "$dir/go.mod" || "$dir/go.mod.in" -nt "$dir/go.mod" ]]; then
		cp "$dir/go.mod.in" "$dir/go.mod"
		rm -f "$dir/go.sum"
	fi

	# What -version reports. A new commit alone does not rebuild the binaries the
	# tests use (ETCDHOSTS_COREDNS_ONLY=1); the next full build does.
	echo "$ETCDHOSTS_VERSION" | write_if_changed "$dir/version.stamp"
	echo "$git_commit" | write_if_changed "$dir/commit.stamp"
	local inputs=("$lib" "$HEADER" "$SHIM/go.mod" "$SHIM/go.sum" "$SELF"
		"$dir/main.go" "$dir/go.mod.in" "$dir/version.stamp") f
	for f in "$SHIM"/*.go; do
		[[ "$f" == *_test.go ]] || inputs+=("$f")
	done
	[[ "$COREDNS_ONLY" == 1 ]] || inputs+=("$dir/commit.stamp")

	local stale=""
	if [[ ! -x "$bin" ]]; then
		stale="no binary yet"
	else
		stale="$(find "${inputs[@]}" -newer "$bin" -print -quit 2>/dev/null || true)"
	fi

	if [[ -z "$stale" ]]; then
		step "$what: up to date ($bin)"
	else
		step "$what: go mod tidy"
		if [[ ! -f "$dir/go.sum" || "$SHIM/go.mod" -nt "$dir/go.sum" || "$dir/go.mod.in" -nt "$dir/go.sum" ]]; then
			(cd "$dir" && go mod tidy) || die "go mod tidy failed for CoreDNS $ver"
		fi
		local got
		got="$(cd "$dir" && go list -m -f '{{.Version}}' github.com/coredns/coredns)" ||
			die "cannot resolve CoreDNS $ver"
		[[ "$got" == "$ver" ]] ||
			die "asked for CoreDNS $ver but go-shim/go.mod needs at least $got; build $got or newer"

		step "$what: go build (rebuild because: ${stale#"$ROOT/"})"
		local start=$SECONDS lib_sum cc=()
		lib_sum="$(sha256sum "$lib" | cut -c1-16)"
		is_native "$arch" || cc=("CC=$(gnu_triple "$arch")-gcc")
		rm -f "$bin"
		(cd "$dir" && env GOOS=linux GOARCH="$arch" "${cc[@]}" \
			CGO_CFLAGS="$BASE_CGO_CFLAGS -I$libdir/include -DETCDHOSTS_HEADER_SUM=$header_sum -DETCDHOSTS_LIB_SUM=$lib_sum" \
			CGO_LDFLAGS="-L$libdir/lib $BASE_CGO_LDFLAGS" \
			go build -trimpath -buildvcs=false \
			-ldflags "-s -w -X 'github.com/coredns/coredns/coremain.GitCommit=$VERSION_STRING'" \
			-o coredns .) || die "go build failed for CoreDNS $ver ($arch)"
		step "$what: built in $((SECONDS - start))s"
	fi

	step "$what: checks"
	check_coredns "$bin" "$arch"
}

# ---- tarballs ----------------------------------------------------------------

# pack TGZ SRC=DEST...: a reproducible tarball of these files (executables 0755,
# the rest 0644, owned by root, mtime 0), repacked only when an input changed.
stage_dir=""
trap '[[ -z "$stage_dir" ]] || rm -rf "$stage_dir"' EXIT
pack() {
	local tgz="$1" spec srcs=()
	shift
	for spec; do
		srcs+=("${spec%%=*}")
		[[ -f "${spec%%=*}" ]] || die "missing ${spec%%=*}"
	done
	if [[ -f "$tgz" && -z "$(find "${srcs[@]}" "$SELF" -newer "$tgz" -print -quit)" ]]; then
		step "$(basename "$tgz"): up to date"
		return
	fi
	step "packing $tgz"
	stage_dir="$(mktemp -d "$BUILD/.stage.XXXXXX")"
	chmod 0755 "$stage_dir"
	local src dest mode
	for spec; do
		src="${spec%%=*}" dest="${spec#*=}" mode=0644
		[[ ! -x "$src" ]] || mode=0755
		mkdir -p "$(dirname "$stage_dir/$dest")"
		install -m "$mode" "$src" "$stage_dir/$dest"
	done
	tar -C "$stage_dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' \
		--mode='u+w,go-w,a+rX' -cf - . | gzip -n -9 >"$tgz.tmp" || die "packing $tgz failed"
	mv "$tgz.tmp" "$tgz"
	rm -rf "$stage_dir"
	stage_dir=""
}

SYSTEMD_FILES=(
	"$PACKAGING/systemd/coredns.service=systemd/coredns.service"
	"$PACKAGING/systemd/sysusers.d/coredns.conf=systemd/sysusers.d/coredns.conf"
	"$PACKAGING/systemd/tmpfiles.d/coredns.conf=systemd/tmpfiles.d/coredns.conf"
)

# dnsctl's shell completions and man page, generated by dnsctl from its own command line.
# The text is the same for every architecture, so the native dnsctl writes it (a
# cross-built one may not run here). A file is replaced only when its text changed, so
# that an unchanged tarball is not repacked.
DNSCTL_DOCS=()
if [[ "$COREDNS_ONLY" != 1 ]]; then
	[[ " ${arches[*]} " == *" $HOST_ARCH "* ]] || cargo_build "$HOST_ARCH" -p dnsctl
	docs="$BUILD/dnsctl-docs"
	mkdir -p "$docs/completions" "$docs/man"
	step "dnsctl: shell completions and man page"
	for spec in "completion bash=completions/dnsctl.bash" "completion zsh=completions/_dnsctl" \
		"completion fish=completions/dnsctl.fish" "man=man/dnsctl.1"; do
		# shellcheck disable=SC2086 # the dnsctl command and its argument
		"$(rust_out "$HOST_ARCH")/dnsctl" ${spec%%=*} >"$docs/${spec#*=}.tmp" ||
			die "dnsctl ${spec%%=*} failed"
		if cmp -s "$docs/${spec#*=}.tmp" "$docs/${spec#*=}"; then
			rm "$docs/${spec#*=}.tmp"
		else
			mv "$docs/${spec#*=}.tmp" "$docs/${spec#*=}"
		fi
		DNSCTL_DOCS+=("$docs/${spec#*=}=${spec#*=}")
	done
fi

made=()
for arch in "${arches[@]}"; do
	[[ "$COREDNS_ONLY" == 1 ]] || check_dnsctl "$arch"
	for ver in "${versions[@]}"; do
		build_coredns "$ver" "$arch"
		[[ "$COREDNS_ONLY" != 1 ]] || continue
		if is_native "$arch"; then bin="$BUILD/coredns-$ver/coredns"; else bin="$BUILD/linux_$arch/coredns-$ver/coredns"; fi
		tgz="$BUILD/coredns_${ver}_linux_${arch}.tgz"
		pack "$tgz" "$bin=coredns" "$(rust_out "$arch")/dnsctl=dnsctl" \
			"$ROOT/Corefile.example=Corefile.example" "$SHIM/README.md=README.md" \
			"$ROOT/LICENSE=LICENSE" "${SYSTEMD_FILES[@]}" "${DNSCTL_DOCS[@]}"
		made+=("$tgz")
	done
	if [[ "$release" == 1 ]]; then
		tgz="$BUILD/dnsctl_v${ETCDHOSTS_VERSION}_linux_${arch}.tgz"
		pack "$tgz" "$(rust_out "$arch")/dnsctl=dnsctl" "$ROOT/README.md=README.md" "$ROOT/LICENSE=LICENSE" \
			"${DNSCTL_DOCS[@]}"
		made+=("$tgz")
		# For building etcdhosts into a CoreDNS of one's own (README): the static library
		# and its header, in the layout CGO_CFLAGS=-I and CGO_LDFLAGS=-L point at.
		tgz="$BUILD/libetcdhosts_v${ETCDHOSTS_VERSION}_linux_${arch}.tgz"
		pack "$tgz" "$(rust_out "$arch")/libetcdhosts.a=lib/libetcdhosts.a" "$HEADER=include/etcdhosts.h" \
			"$SHIM/README.md=README.md" "$ROOT/LICENSE=LICENSE"
		made+=("$tgz")
	fi
done

if [[ "$COREDNS_ONLY" == 1 ]]; then
	step "ETCDHOSTS_COREDNS_ONLY=1: no tarballs"
	exit 0
fi

if [[ "$release" != 1 ]]; then
	step "SHA256SUMS"
	globs=()
	for arch in "${arches[@]}"; do globs+=("coredns_*_linux_${arch}.tgz"); done
	# shellcheck disable=SC2068 # the globs expand in $BUILD
	(cd "$BUILD" && sha256sum ${globs[@]} >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS) ||
		die "writing SHA256SUMS failed"
	cat "$BUILD/SHA256SUMS" >&2
	exit 0
fi

# build/release/: exactly the tarballs this run built and checked, and their sums.
rel="${ETCDHOSTS_RELEASE_DIR:-$BUILD/release}"
rm -rf "$rel.tmp"
mkdir -p "$rel.tmp"
for tgz in "${made[@]}"; do
	ln "$tgz" "$rel.tmp/" 2>/dev/null || cp -p "$tgz" "$rel.tmp/"
done
(cd "$rel.tmp" && sha256sum -- *.tgz >SHA256SUMS && sha256sum --quiet -c SHA256SUMS) ||
	die "writing $rel/SHA256SUMS failed"
rm -rf "$rel"
mv "$rel.tmp" "$rel"

step "release: $rel (built in $((SECONDS - started))s)"
(cd "$rel" && for f in *.tgz SHA256SUMS; do
	printf '    %-40s %10s bytes  %6s MiB\n' "$f" "$(stat -c %s "$f")" \
		"$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", b / 1048576 }')"
done) >&2
for problem in ${not_built[@]+"${not_built[@]}"}; do
	warn "NOT built: $problem"
done
