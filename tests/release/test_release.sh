#!/usr/bin/env bash
# Tests the release path: `./build.sh --release VERSION` (default: build.sh's pinned
# CoreDNS version), then what an operator does with its output:
#   - build/release/ holds exactly the expected tarballs and a SHA256SUMS that verifies
#     (and catches a changed byte);
#   - every tarball has exactly the expected files, modes and owners;
#   - the packed coredns and dnsctl report the etcdhosts version and git commit;
#   - the packed coredns serves a record put into a real etcd (started here on free
#     127.0.0.1 ports), over UDP and TCP; the packed dnsctl changes it; the container
#     image's Corefile (packaging/docker/Corefile) works with its environment variables;
#   - the systemd unit passes `systemd-analyze verify`, and the sysusers.d/tmpfiles.d
#     files create the user and directories (where systemd's tools are installed);
#   - an arm64 build runs `coredns -plugins`, `dnsctl --version` and serves a query under
#     qemu-user (qemu-aarch64, and the arm64 libc in /usr/aarch64-linux-gnu: Debian's
#     qemu-user and libc6-arm64-cross); arm64 tarballs with no qemu to run them FAIL.
# A check that cannot run here is reported as "SKIP ... NOT checked", never as a pass.
# The last line is "N passed, N failed"; the exit status is 1 on any failure.
#
#   tests/release/test_release.sh [COREDNS_VERSION]
#       builds a release of COREDNS_VERSION into build/release-test/ and checks it
#   tests/release/test_release.sh --dir DIR [COREDNS_VERSION...]
#       checks the release directory DIR as it is (what `./build.sh --release` wrote to
#       build/release/, the files that are published), building nothing: it must hold
#       exactly the tarballs of COREDNS_VERSION... (default: build.sh's release set,
#       DEFAULT_COREDNS_VERSION and OLDEST_COREDNS_VERSION) for each architecture.
# ETCDHOSTS_ARCHES="amd64 arm64" names the architectures that must be there (default:
# amd64, and arm64 when its tarballs are there; when they are not, a SKIP line says so).
# Checks that need the amd64 tarballs (the container Corefile, a CoreDNS of one's own)
# are skipped, and say so, when ETCDHOSTS_ARCHES leaves amd64 out.
#
# Needs etcd, etcdctl and dig. Everything it starts listens on 127.0.0.1 and is
# stopped on exit.
# shellcheck disable=SC2317,SC2016 # functions run through check/trap; bash -c and awk scripts
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${ETCDHOSTS_BUILD_DIR:-$ROOT/build}"
usage() {
	sed -n 's/^#   \(tests\/release\/test_release.sh.*\)/usage: \1/p' "${BASH_SOURCE[0]}" >&2
	exit 2
}
check_dir=""
if [[ "${1:-}" == --dir ]]; then
	[[ $# -ge 2 && -n "$2" ]] || usage
	check_dir="$2"
	shift 2
fi
for a in "$@"; do [[ "$a" == v[0-9]*.[0-9]*.[0-9]* ]] || usage; done
build_sh_version() { sed -n "s/^$1=//p" "$ROOT/build.sh"; }
if [[ -n "$check_dir" ]]; then
	REL="$(cd "$check_dir" 2>/dev/null && pwd)" || { echo "test_release.sh: no directory $check_dir" >&2; exit 2; }
	vers=("$@")
	[[ ${#vers[@]} -gt 0 ]] || vers=("$(build_sh_version DEFAULT_COREDNS_VERSION)" "$(build_sh_version OLDEST_COREDNS_VERSION)")
else
	[[ $# -le 1 ]] || usage
	# Its own release directory: build/release/ stays what the last ./build.sh --release made.
	REL="$BUILD/release-test"
	export ETCDHOSTS_RELEASE_DIR="$REL"
	vers=("${1:-$(build_sh_version DEFAULT_COREDNS_VERSION)}")
fi
# The version the serving, container and own-build checks use; every version gets the
# file, version and serving checks.
ver="${vers[0]}"
cargo_ver="$(awk -F'"' '/^\[/ { p = ($0 == "[workspace.package]") } p && /^version *=/ { print $2; exit }' "$ROOT/Cargo.toml")"
export ETCDCTL_API=3

passed=0 failed=0 skipped=0
ok() {
	echo "ok   - $*"
	passed=$((passed + 1))
}
not_ok() {
	echo "FAIL - $*"
	failed=$((failed + 1))
}
skip() {
	echo "SKIP - $* (NOT checked)"
	skipped=$((skipped + 1))
}
# check DESCRIPTION CMD...: ok when CMD succeeds.
check() {
	local desc="$1"
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
finish() {
	echo
	[[ "$skipped" == 0 ]] || echo "($skipped checks NOT run here, see SKIP lines above)"
	echo "$passed passed, $failed failed"
	[[ "$failed" == 0 ]]
	exit
}

tmp="$(mktemp -d)"
pids=()
cleanup() {
	local pid
	# start_coredns runs in a command substitution (a subshell), so its pids come from
	# a file rather than the pids array.
	if [[ -f "$tmp/coredns.pids" ]]; then
		while read -r pid; do pids+=("$pid"); done <"$tmp/coredns.pids"
	fi
	for pid in ${pids[@]+"${pids[@]}"}; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build -------------------------------------------------------------------

if [[ -n "$check_dir" ]]; then
	echo "== checking $REL as it is (CoreDNS ${vers[*]}; nothing built here)"
	: >"$tmp/build.log"
else
	echo "== ./build.sh --release $ver"
	start=$SECONDS
	if "$ROOT/build.sh" --release "$ver" >"$tmp/build.log" 2>&1; then
		ok "./build.sh --release $ver ($((SECONDS - start))s)"
	else
		cat "$tmp/build.log"
		not_ok "./build.sh --release $ver"
		finish
	fi
	grep -E 'NOT (building|built)|warning' "$tmp/build.log" | sort -u
fi

# ---- the artifacts and their checksums ---------------------------------------

echo "== $REL"
if [[ -n "${ETCDHOSTS_ARCHES:-}" ]]; then
	# Asked for: each must be there (the check below fails otherwise), none is skipped.
	read -ra arches <<<"$ETCDHOSTS_ARCHES"
else
	arches=(amd64)
	if [[ -f "$REL/coredns_${ver}_linux_arm64.tgz" ]]; then
		arches+=(arm64)
	else
		why="$(sed -n 's/.*NOT building arm64: //p' "$tmp/build.log" | head -1)"
		[[ -z "$check_dir" ]] || why="no arm64 tarballs there (ETCDHOSTS_ARCHES=\"amd64 arm64\" requires them)"
		skip "arm64: not in $REL: ${why:-no reason given}"
	fi
fi
expected=()
for arch in "${arches[@]}"; do
	for v in "${vers[@]}"; do expected+=("coredns_${v}_linux_${arch}.tgz"); done
	expected+=("dnsctl_v${cargo_ver}_linux_${arch}.tgz" "libetcdhosts_v${cargo_ver}_linux_${arch}.tgz")
done
has_amd64=0
[[ " ${arches[*]} " == *" amd64 "* ]] && has_amd64=1
expected+=(SHA256SUMS)
check "$REL holds exactly: ${expected[*]}" \
	diff <(printf '%s\n' "${expected[@]}" | sort) <(find "$REL" -mindepth 1 -printf '%f\n' | sort)
check "SHA256SUMS lists every tarball" \
	diff <(printf '%s\n' "${expected[@]}" | grep '\.tgz$' | sort) <(awk '{ print $2 }' "$REL/SHA256SUMS" | sort)
check "sha256sum -c SHA256SUMS" bash -c "cd '$REL' && sha256sum -c SHA256SUMS"
# The check is real: one changed byte fails it.
mkdir -p "$tmp/tamper"
dnsctl_tgz="dnsctl_v${cargo_ver}_linux_${arches[0]}.tgz"
cp "$REL/SHA256SUMS" "$REL/$dnsctl_tgz" "$tmp/tamper/" 2>/dev/null
printf 'x' | dd of="$tmp/tamper/$dnsctl_tgz" bs=1 seek=100 conv=notrunc status=none 2>/dev/null
check "sha256sum -c fails for a tarball with one changed byte" \
	bash -c "cd '$tmp/tamper' && ! sha256sum -c --ignore-missing SHA256SUMS >/dev/null 2>&1"
for f in "$REL"/*.tgz; do
	printf '     %-40s %10s bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"
done

# ---- file lists --------------------------------------------------------------

coredns_files="./
./Corefile.example
./LICENSE
./README.md
./completions/
./completions/_dnsctl
./completions/dnsctl.bash
./completions/dnsctl.fish
./coredns
./dnsctl
./man/
./man/dnsctl.1
./systemd/
./systemd/coredns.service
./systemd/sysusers.d/
./systemd/sysusers.d/coredns.conf
./systemd/tmpfiles.d/
./systemd/tmpfiles.d/coredns.conf"
dnsctl_files="./
./LICENSE
./README.md
./completions/
./completions/_dnsctl
./completions/dnsctl.bash
./completions/dnsctl.fish
./dnsctl
./man/
./man/dnsctl.1"
libetcdhosts_files="./
./LICENSE
./README.md
./include/
./include/etcdhosts.h
./lib/
./lib/libetcdhosts.a"
# modes_ok TGZ EXECUTABLES_REGEX: owner root, the executables 0755, files 0644, dirs 0755.
modes_ok() {
	tar -tvzf "$1" | awk -v exe="$2" '
		{ name = $6; sub(/^\.\//, "", name) }
		$2 != "0/0" { print "owner " $2 ": " $6; bad = 1 }
		/^d/ && $1 != "drwxr-xr-x" { print $1 " " $6; bad = 1 }
		/^-/ && name ~ exe && $1 != "-rwxr-xr-x" { print $1 " " $6; bad = 1 }
		/^-/ && name !~ exe && $1 != "-rw-r--r--" { print $1 " " $6; bad = 1 }
		/^[^d-]/ { print "not a file: " $6; bad = 1 }
		END { exit bad }'
}
# The README promises a glibc version ("glibc 2.35 or newer"); the packed binaries must
# need no newer symbol version than that.
readme_glibc="$(grep -o 'glibc [0-9][0-9.]* or newer' "$ROOT/README.md" | head -1 | cut -d' ' -f2)"
[[ -n "$readme_glibc" ]] || not_ok "README.md names no 'glibc X.Y or newer'"
# newest_glibc BIN: the highest GLIBC_x.y symbol version BIN needs.
newest_glibc() { readelf -W --dyn-syms "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1; }
# glibc_at_most GLIBC_x.y LIMIT: x.y <= LIMIT.
glibc_at_most() {
	local v="${1#GLIBC_}"
	[[ -n "$v" && "$(printf '%s\n%s\n' "$v" "$2" | sort -V | tail -1)" == "$2" ]]
}
# The check is real: a newer symbol version than the README's is refused.
refuses() { ! "$@"; }
check "the glibc check refuses GLIBC_2.99 against the README's $readme_glibc" refuses glibc_at_most GLIBC_2.99 "$readme_glibc"
for arch in "${arches[@]}"; do
	for v in "${vers[@]}"; do
		tgz="$REL/coredns_${v}_linux_${arch}.tgz"
		check "coredns_${v}_linux_${arch}.tgz: file list" diff <(echo "$coredns_files") <(tar -tzf "$tgz" | sort)
		check "coredns_${v}_linux_${arch}.tgz: modes and owners" modes_ok "$tgz" '^(coredns|dnsctl)$'
	done
	tgz="$REL/dnsctl_v${cargo_ver}_linux_${arch}.tgz"
	check "dnsctl_v${cargo_ver}_linux_${arch}.tgz: file list" diff <(echo "$dnsctl_files") <(tar -tzf "$tgz" | sort)
	check "dnsctl_v${cargo_ver}_linux_${arch}.tgz: modes and owners" modes_ok "$tgz" '^dnsctl$'
	tgz="$REL/libetcdhosts_v${cargo_ver}_linux_${arch}.tgz"
	check "libetcdhosts_v${cargo_ver}_linux_${arch}.tgz: file list" diff <(echo "$libetcdhosts_files") <(tar -tzf "$tgz" | sort)
	check "libetcdhosts_v${cargo_ver}_linux_${arch}.tgz: modes and owners" modes_ok "$tgz" '^$'
	check "libetcdhosts_v${cargo_ver}_linux_${arch}.tgz: include/etcdhosts.h is the repository's header" \
		cmp -s "$ROOT/include/etcdhosts.h" <(tar -xzOf "$tgz" ./include/etcdhosts.h)
	# Each version unpacked in $tmp/ARCH-VERSION; $tmp/ARCH is the first version's.
	for v in "${vers[@]}"; do
		dir="$tmp/$arch-$v"
		mkdir -p "$dir"
		tar -xzf "$REL/coredns_${v}_linux_${arch}.tgz" -C "$dir"
		check "coredns_${v}_linux_${arch}.tgz: LICENSE is the Apache License 2.0" \
			grep -q 'Apache License' "$dir/LICENSE"
		check "coredns_${v}_linux_${arch}.tgz: dnsctl is the one in dnsctl_v${cargo_ver}_linux_${arch}.tgz" \
			cmp -s "$dir/dnsctl" <(tar -xzOf "$REL/dnsctl_v${cargo_ver}_linux_${arch}.tgz" ./dnsctl)
		for bin in coredns dnsctl; do
			needs="$(newest_glibc "$dir/$bin")"
			echo "     $arch $v $bin needs ${needs:-no versioned glibc symbol}"
			check "coredns_${v}_linux_${arch}.tgz: $bin runs on the README's 'glibc $readme_glibc or newer' (it needs ${needs#GLIBC_})" \
				glibc_at_most "$needs" "$readme_glibc"
		done
	done
	ln -s "$arch-$ver" "$tmp/$arch"
done

# ---- versions ----------------------------------------------------------------

echo "== versions"
if [[ -n "${ETCDHOSTS_GIT_COMMIT:-}" ]]; then
	commit="$ETCDHOSTS_GIT_COMMIT"
else
	commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
# run_arch ARCH CMD...: natively, or an arm64 binary under qemu-user.
run_arch() {
	local arch="$1"
	shift
	case "$arch" in
	amd64) "$@" ;;
	arm64) qemu-aarch64 -L /usr/aarch64-linux-gnu "$@" ;;
	esac
}
runnable=()
[[ "$has_amd64" == 0 ]] || runnable+=(amd64)
if [[ " ${arches[*]} " == *" arm64 "* ]]; then
	# arm64 tarballs are tested or the test fails: they are never shipped unrun.
	if ! command -v qemu-aarch64 >/dev/null; then
		not_ok "arm64: cannot run the arm64 binaries (coredns -plugins, dnsctl --version, a query): qemu-aarch64 is not installed (Debian: apt-get install qemu-user)"
	elif [[ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]]; then
		not_ok "arm64: cannot run the arm64 binaries (coredns -plugins, dnsctl --version, a query): no arm64 glibc in /usr/aarch64-linux-gnu (Debian: apt-get install libc6-arm64-cross)"
	else
		runnable+=(arm64)
	fi
fi
for arch in "${runnable[@]}"; do
	for v in "${vers[@]}"; do
		plugins="$(run_arch "$arch" "$tmp/$arch-$v/coredns" -plugins 2>&1)"
		check "$arch $v: coredns -plugins lists etcdhosts" grep -Eqx '[[:space:]]*(dns\.)?etcdhosts' <<<"$plugins"
		version="$(run_arch "$arch" "$tmp/$arch-$v/coredns" -version 2>&1)"
		echo "     $(tr '\n' ' ' <<<"$version")"
		check "$arch $v: coredns -version says CoreDNS-${v#v} and 'etcdhosts $cargo_ver (commit $commit...)'" \
			bash -c 'grep -qx "CoreDNS-$1" <<<"$3" && grep -q "etcdhosts $2 (commit $4\(-dirty\)\?)" <<<"$3"' \
			_ "${v#v}" "$cargo_ver" "$version" "$commit"
	done
	version="$(run_arch "$arch" "$tmp/$arch/dnsctl" --version 2>&1)"
	echo "     $version"
	check "$arch: dnsctl --version says 'dnsctl $cargo_ver (commit $commit...)'" \
		grep -qx "dnsctl $cargo_ver (commit $commit\(-dirty\)\?)" <<<"$version"
done

# ---- serving from a real etcd ------------------------------------------------

echo "== serving from etcd"
used_ports=" "
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p
	while :; do
		# Below Linux's ephemeral ports (32768-60999), which outgoing connections take.
		p=$((20000 + RANDOM % 12000))
		[[ "$used_ports" != *" $p "* ]] && port_free "$p" && break
	done
	used_ports+="$p "
	echo "$p"
}
# until_answer DEADLINE_SECONDS PORT NAME WANT [DIG_ARGS...]: poll until dig answers WANT.
until_answer() {
	local deadline=$((SECONDS + $1)) port="$2" name="$3" want="$4" got=""
	shift 4
	while ((SECONDS < deadline)); do
		got="$(dig @127.0.0.1 -p "$port" "$name" A +short +time=1 +tries=1 "$@" 2>/dev/null)"
		[[ "$got" == "$want" ]] && return 0
		sleep 0.2
	done
	echo "     $name: got '${got}', want '$want'" >&2
	return 1
}

for tool in etcd etcdctl dig; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "serving: $tool is not installed (Debian: etcd-server, etcd-client, dnsutils)"
		finish
	fi
done

# start_etcd: a single-node etcd on free ports; retries when a port was taken meanwhile.
start_etcd() {
	local client_port peer_port deadline
	for _ in 1 2 3; do
		client_port="$(free_port)" peer_port="$(free_port)"
		endpoint="http://127.0.0.1:$client_port"
		rm -rf "$tmp/etcd"
		etcd --name release-test --data-dir "$tmp/etcd" \
			--listen-client-urls "$endpoint" --advertise-client-urls "$endpoint" \
			--listen-peer-urls "http://127.0.0.1:$peer_port" \
			--initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
			--initial-cluster "release-test=http://127.0.0.1:$peer_port" >"$tmp/etcd.log" 2>&1 &
		etcd_pid=$!
		pids+=("$etcd_pid")
		deadline=$((SECONDS + 30))
		while kill -0 "$etcd_pid" 2>/dev/null && ((SECONDS < deadline)); do
			etcdctl --endpoints "$endpoint" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
			sleep 0.2
		done
		kill "$etcd_pid" 2>/dev/null
		grep -q 'address already in use' "$tmp/etcd.log" || break
	done
	tail -20 "$tmp/etcd.log"
	return 1
}
endpoint=""
if ! start_etcd; then
	not_ok "etcd did not start on $endpoint"
	finish
fi
ok "etcd on $endpoint"
check "etcdctl put /etcdhosts" \
	etcdctl --endpoints "$endpoint" put /etcdhosts "10.11.12.13 release-test.example.org" >/dev/null

# start_coredns NAME CONF_TEMPLATE ARCH[-VERSION]: run the coredns unpacked in $tmp/ARCH[-VERSION] with the Corefile
# CONF_TEMPLATE (PORT replaced by a free port); prints the port. Retries on a port
# another process took meanwhile.
start_coredns() {
	local name="$1" template="$2" arch="$3" port pid
	for _ in 1 2 3; do
		port="$(free_port)"
		sed "s/PORT/$port/g" "$template" >"$tmp/$name.Corefile"
		(cd "$tmp/$arch" && exec env ETCD_ENDPOINT="$endpoint" ETCDHOSTS_KEY=/etcdhosts \
			bash -c 'if [[ "$1" == arm64* ]]; then exec qemu-aarch64 -L /usr/aarch64-linux-gnu ./coredns -conf "$2"; else exec ./coredns -conf "$2"; fi' \
			_ "$arch" "$tmp/$name.Corefile") >"$tmp/$name.log" 2>&1 &
		pid=$!
		echo "$pid" >>"$tmp/coredns.pids"
		# Give it time to fail on a taken port (it logs "CoreDNS-" once listening).
		local deadline=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null && ! grep -qs '^CoreDNS-' "$tmp/$name.log" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$port"
			return 0
		fi
		grep -q 'address already in use' "$tmp/$name.log" || break
	done
	cat "$tmp/$name.log" >&2
	return 1
}

cat >"$tmp/plain.Corefile.in" <<EOF
.:PORT {
    bind 127.0.0.1
    etcdhosts example.org {
        key /etcdhosts
        endpoint $endpoint
        ttl 30
    }
}
EOF
dnsctl_config="$tmp/dnsctl.yaml"
cat >"$dnsctl_config" <<EOF
dnskey: /etcdhosts
etcd:
  endpoints:
    - $endpoint
  timeout: 5s
EOF

for arch in "${runnable[@]}"; do
	wait_s=15
	[[ "$arch" == amd64 ]] || wait_s=60
	for v in "${vers[@]}"; do
		if ! port="$(start_coredns "plain-$arch-$v" "$tmp/plain.Corefile.in" "$arch-$v")"; then
			not_ok "$arch $v: the packed coredns did not start"
			continue
		fi
		ok "$arch $v: the packed coredns runs on 127.0.0.1:$port"
		check "$arch $v: dig @127.0.0.1 -p $port release-test.example.org (UDP) answers 10.11.12.13" \
			until_answer "$wait_s" "$port" release-test.example.org 10.11.12.13
		check "$arch $v: the same over TCP" \
			until_answer "$wait_s" "$port" release-test.example.org 10.11.12.13 +tcp
		name="dnsctl-$arch-${v//./-}.example.org"
		check "$arch $v: the packed dnsctl adds $name" \
			run_arch "$arch" "$tmp/$arch-$v/dnsctl" -c "$dnsctl_config" add "$name" 10.11.12.14
		check "$arch $v: ... and the packed coredns serves it" until_answer "$wait_s" "$port" "$name" 10.11.12.14
	done
done

# The container image's Corefile, with its environment variables; ports and the
# snapshot path moved to this test's.
docker_conf="$ROOT/packaging/docker/Corefile"
sed -e 's/^\.:53 /.:PORT /' -e 's/prometheus :9153/prometheus 127.0.0.1:METRICS/' \
	-e 's/ready :8181/ready 127.0.0.1:READY/' -e 's/health :8080/health 127.0.0.1:HEALTH/' \
	-e "s#/var/lib/coredns/#$tmp/#" "$docker_conf" |
	sed -e "s/METRICS/$(free_port)/" -e "s/READY/$(free_port)/" -e "s/HEALTH/$(free_port)/" \
		>"$tmp/docker.Corefile.in"
sed -i 's/^\(\.:PORT {\)$/\1\n    bind 127.0.0.1/' "$tmp/docker.Corefile.in"
if [[ "$has_amd64" == 0 ]]; then
	skip "packaging/docker/Corefile: needs the amd64 coredns, not in this run (ETCDHOSTS_ARCHES=${arches[*]})"
elif ! grep -q '^\.:PORT {' "$tmp/docker.Corefile.in"; then
	not_ok "packaging/docker/Corefile: no '.:53 {' server block"
elif port="$(start_coredns docker "$tmp/docker.Corefile.in" amd64)"; then
	check "packaging/docker/Corefile (ETCD_ENDPOINT, ETCDHOSTS_KEY from the environment) serves release-test.example.org" \
		until_answer 15 "$port" release-test.example.org 10.11.12.13
	deadline=$((SECONDS + 10))
	until [[ -s "$tmp/etcdhosts.snapshot" ]] || ((SECONDS >= deadline)); do sleep 0.2; done
	check "packaging/docker/Corefile: the snapshot file is written" grep -q release-test "$tmp/etcdhosts.snapshot"
else
	not_ok "packaging/docker/Corefile: coredns did not start"
fi

# ---- a CoreDNS of one's own -------------------------------------------------

# README "Build it into your own CoreDNS", step by step: CoreDNS's source (from the Go
# module proxy here, where a user would git clone), one plugin.cfg line, go generate, and
# go build with CGO_CFLAGS/CGO_LDFLAGS naming the unpacked libetcdhosts tarball. The one
# difference: the go-shim module is this checkout (go mod edit -replace), where a user
# would `go get` the published module.
echo "== CoreDNS $ver built the documented way, with libetcdhosts_v${cargo_ver}_linux_amd64.tgz"
own_build() {
	local src lib="$tmp/libetcdhosts" shim=github.com/etcdhosts/etcdhosts/go-shim
	mkdir -p "$lib" "$tmp/own"
	tar -xzf "$REL/libetcdhosts_v${cargo_ver}_linux_amd64.tgz" -C "$lib" || return 1
	src="$(go mod download -json "github.com/coredns/coredns@$ver" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
	[[ -d "$src" ]] || { echo "     go mod download github.com/coredns/coredns@$ver gave no source" >&2; return 1; }
	cp -r "$src" "$tmp/coredns-src" && chmod -R u+w "$tmp/coredns-src"
	(
		cd "$tmp/coredns-src" &&
			sed -i '/^hosts:hosts$/a etcdhosts:github.com/etcdhosts/etcdhosts/go-shim' plugin.cfg &&
			go mod edit -require="$shim@v0.0.0-00010101000000-000000000000" -replace="$shim=$ROOT/go-shim" &&
			go generate &&
			go mod tidy &&
			CGO_ENABLED=1 CGO_CFLAGS="-I$lib/include" CGO_LDFLAGS="-L$lib/lib -static-libgcc" \
				go build -o "$tmp/own/coredns"
	) >"$tmp/own-build.log" 2>&1 || { tail -30 "$tmp/own-build.log" >&2; return 1; }
}
start=$SECONDS
if [[ "$has_amd64" == 0 ]]; then
	skip "a CoreDNS of one's own: needs libetcdhosts_v${cargo_ver}_linux_amd64.tgz, not in this run (ETCDHOSTS_ARCHES=${arches[*]})"
elif own_build; then
	ok "plugin.cfg + go generate + go build with the packed library ($((SECONDS - start))s)"
	check "own build: coredns -plugins lists etcdhosts" \
		bash -c '"$1" -plugins | grep -Eqx "[[:space:]]*(dns\.)?etcdhosts"' _ "$tmp/own/coredns"
	check "own build: go generate put etcdhosts right after hosts in the plugin order" \
		bash -c 'grep -A1 "^\s*\"hosts\",$" "$1" | tail -1 | grep -q "^\s*\"etcdhosts\",$"' _ \
		"$tmp/coredns-src/core/dnsserver/zdirectives.go"
	if port="$(start_coredns own "$tmp/plain.Corefile.in" own)"; then
		check "own build: dig @127.0.0.1 -p $port release-test.example.org answers 10.11.12.13" \
			until_answer 15 "$port" release-test.example.org 10.11.12.13
	else
		not_ok "own build: coredns did not start"
	fi
else
	not_ok "plugin.cfg + go generate + go build with the packed library (see above)"
fi

# ---- systemd -----------------------------------------------------------------

echo "== systemd"
unit="$tmp/${arches[0]}/systemd/coredns.service"
check "coredns.service runs /usr/bin/coredns as User=coredns with only CAP_NET_BIND_SERVICE" \
	bash -c "grep -qx 'ExecStart=/usr/bin/coredns -conf /etc/coredns/Corefile' '$unit' &&
		grep -qx 'User=coredns' '$unit' && grep -qx 'AmbientCapabilities=CAP_NET_BIND_SERVICE' '$unit' &&
		grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' '$unit' && grep -qx 'NoNewPrivileges=true' '$unit'"
units_dir=""
for d in /usr/lib/systemd/system /lib/systemd/system; do
	[[ -f "$d/multi-user.target" ]] && units_dir="$d" && break
done
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify coredns.service: systemd-analyze is not installed"
elif [[ -z "$units_dir" ]]; then
	skip "systemd-analyze verify coredns.service: no systemd units (multi-user.target) on this machine"
else
	# A root as after the install: the packed coredns in /usr/bin, the unit in /etc.
	sysroot="$tmp/sysroot"
	mkdir -p "$sysroot/usr/bin" "$sysroot/bin" "$sysroot/etc/systemd/system" "$sysroot/usr/lib/systemd"
	cp -a "$units_dir" "$sysroot/usr/lib/systemd/system"
	cp "$tmp/${arches[0]}/coredns" "$sysroot/usr/bin/coredns"
	cp "$(type -P kill)" "$sysroot/bin/kill"
	cp "$unit" "$sysroot/etc/systemd/system/coredns.service"
	out="$(systemd-analyze verify --root="$sysroot" coredns.service 2>&1)"
	rc=$?
	[[ -z "$out" ]] || printf '%s\n' "$out" | sed 's/^/     /'
	check "systemd-analyze verify coredns.service: no errors, no warnings" test "$rc" = 0 -a -z "$out"
	# The check is real: a broken unit makes it complain.
	sed -e 's/^Type=simple/Type=bogus/' "$unit" >"$sysroot/etc/systemd/system/broken.service"
	check "systemd-analyze verify complains about a broken unit" \
		bash -c "systemd-analyze verify --root='$sysroot' broken.service 2>&1 | grep -q bogus"
fi
if ! command -v systemd-sysusers >/dev/null || ! command -v systemd-tmpfiles >/dev/null; then
	skip "sysusers.d and tmpfiles.d files: systemd-sysusers or systemd-tmpfiles is not installed"
else
	r="$tmp/sysusers-root"
	mkdir -p "$r/etc"
	check "systemd-sysusers creates the user coredns" \
		systemd-sysusers --root="$r" "$tmp/${arches[0]}/systemd/sysusers.d/coredns.conf" 2>/dev/null
	check "... an unprivileged system user without a login shell, home /var/lib/coredns" \
		awk -F: '$1 == "coredns" && $3 > 0 && $3 < 1000 && $6 == "/var/lib/coredns" && $7 ~ /nologin$/ { found = 1 } END { exit !found }' "$r/etc/passwd"
	check "systemd-tmpfiles --create" systemd-tmpfiles --root="$r" --create "$tmp/${arches[0]}/systemd/tmpfiles.d/coredns.conf"
	uid="$(awk -F: '$1 == "coredns" { print $3 }' "$r/etc/passwd")"
	check "... makes /var/lib/coredns owned by coredns, mode 750, and /etc/coredns" \
		bash -c "[[ \"\$(stat -c '%u %a' '$r/var/lib/coredns')\" == '$uid 750' && -d '$r/etc/coredns' ]]"
fi

finish
