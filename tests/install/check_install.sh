#!/usr/bin/env bash
# check_install.sh SRCDIR - install shmq into a temporary prefix (a build
# of its own, without tests), then, with no LD_LIBRARY_PATH and no
# ldconfig: the installed shmqd and shmq work together, shmq-bench answers
# --version, pkg-config finds shmq there, README.md's C program builds
# against that pkg-config file and runs, and the manual pages and systemd
# units are in place, and the installed Python package (if built) works.
set -uo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d) || exit 1
prefix=$tmp/prefix
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
unset LD_LIBRARY_PATH SHMQ_SOCKET

meson setup --prefix "$prefix" -Dtests=false "$tmp/build" "$src" >"$tmp/setup.log" 2>&1 ||
	{ cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/build" -j 2 >"$tmp/ninja.log" 2>&1 || { cat "$tmp/ninja.log"; fail "ninja"; }
meson install -C "$tmp/build" --no-rebuild --quiet >/dev/null || fail "meson install"
rm -rf "$tmp/build" # nothing may come from the build tree

"$prefix/sbin/shmqd" --version || fail "installed shmqd --version"
"$prefix/bin/shmq-bench" --version || fail "installed shmq-bench --version"
"$prefix/bin/shmq-stat" --version || fail "installed shmq-stat --version"

daemon_pid=$("$prefix/sbin/shmqd" --quiet --socket "$tmp/s" --background) ||
	fail "the installed shmqd did not start"
"$prefix/bin/shmq" --socket "$tmp/s" create install.check ||
	fail "the installed shmq cannot create a channel"
out=$("$prefix/bin/shmq" --socket "$tmp/s" ls) || fail "the installed shmq ls: $out"
grep -q '^install.check' <<<"$out" || fail "shmq ls does not list install.check: $out"
"$prefix/bin/shmq-stat" --socket "$tmp/s" --once | grep -q '^install.check' ||
	fail "the installed shmq-stat does not show install.check"
echo "ok: installed shmqd, shmq and shmq-stat (ls: $out)"

pc=$(find "$prefix" -name shmq.pc -print -quit)
[ -n "$pc" ] || fail "no shmq.pc under $prefix"
export PKG_CONFIG_PATH=${pc%/*}
pkg-config --exists shmq || fail "pkg-config --exists shmq with PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
awk '!inside && $0 == "```c" { inside = 1; next } inside && /^```/ { exit } inside { print }' \
	"$src/README.md" >"$tmp/app.c"
# shellcheck disable=SC2046 # pkg-config's output is words
"${CC:-cc}" -o "$tmp/app" "$tmp/app.c" $(pkg-config --cflags --libs shmq) \
	-Wl,-rpath,"$(pkg-config --variable=libdir shmq)" ||
	fail "README's C program does not build against the installed shmq.pc"
out=$(SHMQ_SOCKET=$tmp/s "$tmp/app" 2>&1) || fail "README's C program: $out"
echo "ok: pkg-config shmq, and README's C program: $out"

for f in share/man/man8/shmqd.8 share/man/man1/shmq-bench.1 share/man/man3/libshmq.3 \
	share/man/man1/shmq.1 share/man/man1/shmq-stat.1 include/shmq.h \
	share/zsh/site-functions/_shmq share/zsh/site-functions/_shmq-stat; do
	[ -f "$prefix/$f" ] || fail "$f is not installed"
done
for c in shmq shmq-stat; do
	[ -n "$(find "$prefix" -path "*bash-completion*" -name "$c" -print -quit)" ] ||
		fail "no bash completion for $c under $prefix"
	[ -n "$(find "$prefix" -name "$c.fish" -print -quit)" ] ||
		fail "no fish completion for $c under $prefix"
done
unit=$(find "$prefix" -name shmqd.service -print -quit)
[ -n "$unit" ] && [ -f "${unit%/*}/shmqd.socket" ] || fail "the systemd units are not installed"
grep -q "^ExecStart=$prefix/sbin/shmqd" "$unit" || fail "shmqd.service runs another shmqd"
grep -q '^Type=notify' "$unit" || fail "shmqd.service is not Type=notify"
if command -v systemd-analyze >/dev/null 2>&1; then
	(cd "${unit%/*}" && systemd-analyze verify --man=no ./shmqd.socket ./shmqd.service) ||
		fail "systemd-analyze verify finds fault with the units"
fi
echo "ok: manual pages and systemd units (${unit%/*})"

# the Python package, if this build has one ($PYTHON: the interpreter it is for)
init=$(find "$prefix" -path '*/shmq/__init__.py' -print -quit)
if [ -n "${PYTHON:-}" ] && [ -n "$init" ]; then
	out=$(PYTHONPATH=${init%/shmq/__init__.py} "$PYTHON" -c '
import sys, shmq
assert shmq.__file__.startswith(sys.argv[1]), shmq.__file__
with shmq.connect(sys.argv[2]) as c:
    print(*[i.name for i in c.channels()])' "$prefix" "$tmp/s" 2>&1) ||
		fail "the installed Python package: $out"
	grep -qw install.check <<<"$out" || fail "the installed Python package lists: $out"
	echo "ok: the installed Python package (${init%/__init__.py})"
fi
