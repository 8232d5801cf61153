#!/usr/bin/env bash
# check_format.sh SRCDIR - every C source and header of the tree (tracked by
# git, or every *.c and *.h outside build folders when SRCDIR is no git
# checkout) is as clang-format and the tree's .clang-format would write it.
# Prints each file that is not and how to fix it; fails without clang-format.
set -uo pipefail
cd "$1" || exit 1
if ! command -v clang-format >/dev/null; then
	echo "FAIL: clang-format is not installed (scripts/deps.sh build installs it)"
	exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files -- '*.c' '*.h')
else
	mapfile -t files < <(find . -name 'build*' -prune -o -type f -name '*.[ch]' -print | sort)
fi
[ "${#files[@]}" -gt 0 ] || {
	echo "FAIL: no C files under $PWD"
	exit 1
}
# one run over all files; each complaint starts "FILE:LINE:COL: error:"
out=$(clang-format --dry-run -Werror "${files[@]}" 2>&1)
rc=$?
mapfile -t bad < <(sed -n 's/^\(.*\.[ch]\):[0-9]*:[0-9]*: error: .*/\1/p' <<<"$out" | sort -u)
for f in "${bad[@]}"; do
	echo "not formatted: $f (clang-format -i $f)"
done
echo "$(clang-format --version): ${#files[@]} files, ${#bad[@]} not formatted"
if [ "$rc" -ne 0 ] && [ "${#bad[@]}" -eq 0 ]; then
	echo "FAIL: clang-format exited $rc:"
	echo "$out" | head -20
fi
[ "$rc" -eq 0 ]
