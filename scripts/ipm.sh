#!/usr/bin/env bash
# ipm.sh - instructions per message of publish + receive, by callgrind: the
# difference of a 200,000- and a 100,000-message run of shmq-ipm-loop
# (bench/ipm_loop.c) divided by 100,000, so start-up cancels out. Counts
# are deterministic, unlike times on a shared machine.
#   scripts/ipm.sh [BUILD [MODE...]]   BUILD: a build directory (build),
#                                      MODE: plain keyed filter pattern (all)
# A build without the routing calls measures plain and keyed only. Needs
# valgrind; starts BUILD's shmqd in a temporary directory.
set -euo pipefail
build=$(realpath "${1:-build}")
shift || true
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(plain keyed filter pattern)
command -v valgrind >/dev/null || { echo "ipm.sh: valgrind is not installed" >&2; exit 77; }
loop=$build/bench/shmq-ipm-loop
tmp=$(mktemp -d)
"$build/daemon/shmqd" --socket "$tmp/s" 2>"$tmp/shmqd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done

instructions() { # MODE N
	LD_LIBRARY_PATH=$build/libclient valgrind --tool=callgrind \
		--callgrind-out-file="$tmp/cg" "$loop" "$tmp/s" "$1" "$2" >/dev/null 2>&1 || return 1
	awk '/^summary:/ { print $2 }' "$tmp/cg"
}

for mode in "${modes[@]}"; do
	a=$(instructions "$mode" 100000) || { echo "$mode: not in this build"; continue; }
	b=$(instructions "$mode" 200000)
	echo "$mode: $(( (b - a) / 100000 )) instructions per message"
done
