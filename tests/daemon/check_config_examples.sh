#!/bin/sh
# check_config_examples.sh SHMQD SRCDIR - every fenced ```ini block in
# SRCDIR/README.md and SRCDIR/docs/*.md is a configuration example: each
# must pass "shmqd --check-config". Fails when there is no example at all.
set -u
shmqd=$1
src=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

for doc in "$src"/README.md "$src"/docs/*.md; do
	[ -f "$doc" ] || continue
	# one file per block: NAME.LINE.conf, LINE where the block's fence opens
	awk -v dir="$tmp" -v base="$(basename "$doc")" '
		/^```ini[ \t]*$/ { out = dir "/" base "." NR ".conf"; printf "" > out; next }
		/^```/ && out { close(out); out = ""; next }
		out { print > out }
	' "$doc"
done

n=0
failed=0
for conf in "$tmp"/*.conf; do
	[ -f "$conf" ] || continue
	n=$((n + 1))
	where=$(basename "$conf" .conf)
	if ! out=$("$shmqd" --check-config --config "$conf" 2>&1); then
		echo "FAIL: the example at ${where%.*} line ${where##*.}: $out"
		failed=$((failed + 1))
	else
		echo "ok: the example at ${where%.*} line ${where##*.}: $out"
	fi
done
if [ "$n" -eq 0 ]; then
	echo "FAIL: no \`\`\`ini example found in $src/README.md or $src/docs/*.md"
	exit 1
fi
echo "$n example(s), $failed failed"
[ "$failed" -eq 0 ]
