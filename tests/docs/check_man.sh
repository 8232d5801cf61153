#!/bin/sh
# check_man.sh SRCDIR - every manual page (man/*.[1-8]; no page lives
# anywhere else) renders with "man -l --warnings" and nothing on stderr.
# Exit 77 (skip) without man.
src=$1
command -v man >/dev/null 2>&1 || { echo "man is not installed: skipping"; exit 77; }
n=0
failed=0
stray=$(find "$src" -path "$src/build*" -prune -o -path "$src/.git" -prune -o \
	-name '*.[1-8]' ! -path "$src/man/*" -print)
if [ -n "$stray" ]; then
	echo "FAIL: manual pages outside man/: $stray"
	exit 1
fi
for page in "$src"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	err=$(MANWIDTH=80 man -l --warnings "$page" 2>&1 >/dev/null)
	if [ $? -ne 0 ] || [ -n "$err" ]; then
		echo "FAIL: $page:"
		echo "$err"
		failed=$((failed + 1))
	else
		echo "ok: $page"
	fi
done
[ "$n" -gt 0 ] || { echo "FAIL: no manual page in $src/man"; exit 1; }
echo "$n page(s), $failed failed"
[ "$failed" -eq 0 ]
