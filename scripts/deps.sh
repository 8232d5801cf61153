#!/usr/bin/env bash
# deps.sh - install the Debian packages shmq needs, only those missing.
#   scripts/deps.sh build   compiler, meson, liburing, libnuma, cmocka, libmicrohttpd
#                           (shmq-stat --listen), jansson (JSON), and for the
#                           tests python3 (JSON checks), man-db, groff (man pages),
#                           curl and prometheus (promtool: shmq-stat's metrics),
#                           clang-format (the style suite), libnats-dev and
#                           nats-server (shmq-bridge and its test), debhelper and
#                           lintian (the Debian packages' test: 3 to 8 minutes, in
#                           the full run only), python3-cffi, python3-dev and
#                           python3-pytest (the Python package, built with cffi,
#                           and its tests)
#   scripts/deps.sh bench   the above, plus the benchmark's baselines (ZeroMQ, iceoryx,
#                           Redis with hiredis) and plots (gnuplot)
#   scripts/deps.sh fuzz    the above, plus clang and its libFuzzer and sanitizer
#                           runtimes (scripts/fuzz.sh, the suite fuzz)
# Runs apt-get through sudo when not root. Sourced or executed.
set -euo pipefail

deps_build=(gcc libc6-dev pkg-config meson ninja-build liburing-dev libnuma-dev libcmocka-dev
	libmicrohttpd-dev libjansson-dev python3 man-db groff-base curl prometheus clang-format
	libnats-dev nats-server debhelper lintian dh-python python3-cffi python3-dev python3-pytest)
deps_bench=(libzmq3-dev gnuplot-nox iceoryx libiceoryx-binding-c-dev redis-server libhiredis-dev)
deps_fuzz=(clang libclang-rt-14-dev)

deps_missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done
}

deps_install() {
	local want=() sudo=()
	mapfile -t want < <(deps_missing "$@")
	[ "${#want[@]}" -eq 0 ] && return 0
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	echo "shmq: installing ${want[*]}" >&2
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
		"${want[@]}" >/dev/null
}

case "${1:-build}" in
build) deps_install "${deps_build[@]}" ;;
bench)
	deps_install "${deps_build[@]}"
	# the baselines are optional: the benchmark reports a missing one as skipped
	for p in "${deps_bench[@]}"; do
		deps_install "$p" || echo "shmq: $p is not available; its baseline will be skipped" >&2
	done
	;;
fuzz) deps_install "${deps_build[@]}" "${deps_fuzz[@]}" ;;
*)
	echo "usage: scripts/deps.sh build|bench|fuzz" >&2
	exit 2
	;;
esac
