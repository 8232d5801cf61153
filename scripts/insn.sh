#!/bin/bash
# scripts/insn.sh [BUILD] [SIZE] [block|drop] [shared|exclusive] [ts|nots]
#
# Instructions per message of one thread publishing and receiving (a
# spinning subscriber) against a real shmqd, counted by callgrind: the
# difference of a 200,000- and a 100,000-message run of shmq-insn-loop,
# divided by 100,000, so that start-up cancels. Deterministic, unlike a
# time, so it compares builds on a busy machine. Needs valgrind.
# SHMQ_INSN_OUT=DIR keeps the two callgrind files there (for
# callgrind_annotate --inclusive=no).
set -euo pipefail

build=${1:-build}
size=${2:-64}
policy=${3:-block}
mode=${4:-shared}
stamps=${5:-ts} # nots: a channel with SHMQ_CHAN_NO_TIMESTAMP
loop=${SHMQ_INSN_LOOP:-$build/bench/shmq-insn-loop}
shmqd=$build/daemon/shmqd

command -v valgrind >/dev/null || { echo "insn.sh: valgrind is not installed" >&2; exit 77; }
[ -x "$loop" ] && [ -x "$shmqd" ] || { echo "insn.sh: build $build first" >&2; exit 2; }
dir=$(mktemp -d)
sock=$dir/shmqd.sock
"$shmqd" --socket "$sock" >"$dir/shmqd.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

count() {
	valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$1" \
		"$loop" "$sock" "$1" "$size" "$policy" "$mode" "$stamps" >/dev/null 2>"$dir/vg.$1"
	sed -n 's/^summary: *//p' "$dir/cg.$1"
}
a=$(count 100000)
b=$(count 200000)
if [ -n "${SHMQ_INSN_OUT:-}" ]; then
	mkdir -p "$SHMQ_INSN_OUT"
	cp "$dir/cg.100000" "$dir/cg.200000" "$SHMQ_INSN_OUT/"
fi
awk -v a="$a" -v b="$b" -v s="$size" -v p="$policy" -v m="$mode" -v t="$stamps" 'BEGIN {
	printf "%s B, %s, %s publishers, %s: %.1f instructions per message (publish + receive)\n", s, p, m, t, (b - a) / 100000
}'
