#!/usr/bin/env bash
# check_readme.sh BUILDDIR SRCDIR - README.md's promises, run
# ($SANITIZE: the build's b_sanitize, which the C program needs too):
#   - its C program (the first ```c block) compiles against the build
#     tree's pkg-config file and exits 0 against a real shmqd;
#   - its quick start (the ```sh block under "## Quick start") works when
#     run as one block, with build/ meaning BUILDDIR, /tmp/ a private
#     directory, and the "meson setup" line left out (the build exists).
set -uo pipefail
build=$(cd "$1" && pwd)
src=$2
tmp=$(mktemp -d) || exit 1
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

# block LANG [HEADING]: the first fenced block of LANG (after HEADING).
# The quick start's /tmp/ becomes $tmp/ first, then a build/ that starts a
# word becomes $build/ (whose own path may hold /tmp/, as a clone in /tmp does).
block() {
	awk -v lang="$1" -v heading="${2:-}" '
		heading != "" && !seen { if ($0 == heading) seen = 1; next }
		!inside && $0 == "```" lang { inside = 1; next }
		inside && /^```/ { exit }
		inside { print }
	' "$src/README.md"
}

block c >"$tmp/app.c"
[ -s "$tmp/app.c" ] || fail "no \`\`\`c block in README.md"
flags=$(PKG_CONFIG_PATH="$build/meson-uninstalled" pkg-config --cflags --libs shmq) ||
	fail "pkg-config finds no shmq in $build/meson-uninstalled"
case ${SANITIZE:-none} in
none) ;;
*) flags="-fsanitize=$SANITIZE $flags" ;;
esac
# shellcheck disable=SC2086 # flags are words
"${CC:-cc}" -std=c11 -Wall -Werror -o "$tmp/app" "$tmp/app.c" $flags \
	-Wl,-rpath,"$build/libclient" || fail "README's C program does not compile"
daemon_pid=$("$build/daemon/shmqd" --quiet --socket "$tmp/s" --background) ||
	fail "shmqd did not start"
out=$(SHMQ_SOCKET="$tmp/s" timeout 30 "$tmp/app" 2>&1) || fail "README's C program: $out"
[ "$out" = "hello at offset 0" ] || fail "README's C program printed: $out"
echo "ok: README's C program: $out"
kill "$daemon_pid"
daemon_pid=

block sh "## Quick start" | grep -v '^meson setup' |
	sed -e "s#/tmp/#$tmp/#g" -e "s#\(^\|[ \"'=(]\)build/#\1$build/#g" >"$tmp/quick.sh"
grep -q shmqd "$tmp/quick.sh" || fail "no quick start block in README.md"
out=$(cd "$tmp" && timeout 60 bash -e "$tmp/quick.sh" 2>&1) || fail "quick start: $out"
for want in one two three orders; do
	grep -qx "$want" <<<"$out" || grep -q "^$want " <<<"$out" ||
		fail "quick start printed no \"$want\" line: $out"
done
[ ! -e "$tmp/shmq.sock" ] || fail "quick start: the socket is still there after kill"
echo "ok: README's quick start"
