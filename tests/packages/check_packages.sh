#!/usr/bin/env bash
# check_packages.sh SRCDIR - build the Debian packages (shmq, libshmq0,
# libshmq-dev) from a copy of the tree with README.md's dpkg-buildpackage
# command, check them
# with lintian (no error or warning that debian/*.lintian-overrides does
# not explain), unpack them into a scratch root with dpkg -x, and there:
# every program answers --version; shmqd starts on a socket passed to it
# as shmqd.socket would (systemd-socket-activate: the first client starts
# it) and serves shmq; README.md's C program compiles against the
# installed header and pkg-config file and runs against the installed
# libshmq. Skips (77) without dpkg-buildpackage, debhelper or the build
# dependencies. Slow (a full package build): the full test run only.
set -uo pipefail
src=$(cd "$1" && pwd)
for t in dpkg-buildpackage dh dpkg-checkbuilddeps; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (dpkg-dev, debhelper)"; exit 77; }
done
missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1) ||
	{ echo "SKIP: build dependencies missing: $missing"; exit 77; }

tmp=$(mktemp -d) || exit 1
activator_pid=
cleanup() {
	[ -n "$activator_pid" ] && kill "$activator_pid" 2>/dev/null
	[ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
unset SHMQ_SOCKET

# the tree as it is, without build directories or git
mkdir "$tmp/src"
(cd "$src" && tar --exclude=./.git --exclude='./build*' -cf - .) | tar -xf - -C "$tmp/src" ||
	fail "copy the tree"
start=$SECONDS
# README.md's command, as it stands there
cmd=$(awk '$0 == "## Debian packages" { on = 1; next }
	on && $0 == "```sh" { inside = 1; next } inside && /^```/ { exit }
	inside && /^dpkg-buildpackage / { sub(/ *#.*/, ""); print }' "$src/README.md")
[ -n "$cmd" ] || fail "README.md shows no dpkg-buildpackage command under \"## Debian packages\""
# shellcheck disable=SC2086 # the command's words
(cd "$tmp/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" $cmd >"$tmp/build.log" 2>&1) ||
	{ tail -n 40 "$tmp/build.log"; fail "dpkg-buildpackage"; }
echo "ok: dpkg-buildpackage in $((SECONDS - start)) s: $(cd "$tmp" && ls ./*.deb | tr '\n' ' ')"
for p in shmq libshmq0 libshmq-dev python3-shmq; do
	compgen -G "$tmp/${p}_*.deb" >/dev/null || fail "no package $p"
done

if command -v lintian >/dev/null; then
	lintian --fail-on error,warning "$tmp"/*.changes >"$tmp/lintian.log" 2>&1
	rc=$?
	out=$(grep -v 'running with root' "$tmp/lintian.log")
	[ "$rc" -eq 0 ] || fail "lintian: $out"
	echo "ok: lintian: no error or warning${out:+ ($(wc -l <<<"$out") info line(s))}"
else
	echo "note: lintian is not installed: not run"
fi

contents() { dpkg-deb -c "$tmp/$1"_*.deb | awk '{ print $6 }'; }
want() { # PACKAGE PATH-REGEX...
	local p=$1 c
	shift
	c=$(contents "$p")
	for re in "$@"; do
		grep -Eq "$re" <<<"$c" || fail "$p does not hold $re"
	done
}
want shmq '^\./usr/sbin/shmqd$' '^\./usr/bin/shmq$' '^\./usr/bin/shmq-stat$' \
	'^\./usr/bin/shmq-bridge$' '^\./usr/bin/shmq-bench$' '/shmqd\.socket$' '/shmqd\.service$' \
	'/man8/shmqd\.8' '/man1/shmq-bridge\.1' '/completions/shmq$'
want libshmq0 '/libshmq\.so\.0$' '/libshmq\.so\.0\.1\.0$'
want libshmq-dev '^\./usr/include/shmq\.h$' '/libshmq\.so$' '/pkgconfig/shmq\.pc$' '/man3/libshmq\.3'
want python3-shmq '/dist-packages/shmq/__init__\.py$' '/dist-packages/shmq/_shmq_cffi\..*so$'
grep -q 'shmqd.socket' <<<"$(dpkg-deb -I "$tmp"/shmq_*.deb postinst 2>/dev/null)" ||
	fail "shmq's postinst does not enable shmqd.socket"
echo "ok: package contents and maintainer scripts"

root=$tmp/root
for d in "$tmp"/*.deb; do
	case $d in *-dbgsym_*) continue ;; esac
	dpkg -x "$d" "$root" || fail "dpkg -x $d"
done
libdir=$(dirname "$(find "$root" -name 'libshmq.so.0' -print -quit)")
export LD_LIBRARY_PATH=$libdir
for p in usr/sbin/shmqd usr/bin/shmq usr/bin/shmq-stat usr/bin/shmq-bench usr/bin/shmq-bridge; do
	"$root/$p" --version >/dev/null || fail "$p --version"
	grep -q "$libdir/libshmq.so.0" <<<"$(ldd "$root/$p")" || [ "$p" = usr/sbin/shmqd ] ||
		fail "$p does not use the unpacked libshmq"
done
echo "ok: every program answers --version, with the unpacked libshmq"

# shmqd.socket, by hand: the socket is bound first, shmqd starts on the first client
unit=$(find "$root" -name shmqd.service -print -quit)
grep -q '^ExecStart=/usr/sbin/shmqd$' "$unit" || fail "shmqd.service runs: $(grep ExecStart "$unit")"
sock=$tmp/run/shmqd.sock
mkdir -p "$tmp/run"
if command -v systemd-socket-activate >/dev/null; then
	systemd-socket-activate --seqpacket -l "$sock" -E LD_LIBRARY_PATH \
		"$root/usr/sbin/shmqd" --quiet >"$tmp/activate.log" 2>&1 &
	activator_pid=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	how="socket-activated"
else
	daemon_pid=$("$root/usr/sbin/shmqd" --quiet --socket "$sock" --background) ||
		fail "the unpacked shmqd did not start"
	how="started by hand (no systemd-socket-activate)"
fi
"$root/usr/bin/shmq" --socket "$sock" create pkg.check ||
	fail "shmq create against the unpacked shmqd: $(cat "$tmp/activate.log" 2>/dev/null)"
grep -q '^pkg.check' <<<"$("$root/usr/bin/shmq" --socket "$sock" ls)" || fail "shmq ls"
echo "ok: the unpacked shmqd, $how, serves the unpacked shmq"

awk '!inside && $0 == "```c" { inside = 1; next } inside && /^```/ { exit } inside { print }' \
	"$src/README.md" >"$tmp/app.c"
flags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$libdir/pkgconfig \
	pkg-config --cflags --libs shmq) || fail "pkg-config finds no shmq in the unpacked root"
grep -q -- "-I$root/usr/include" <<<"$flags" || flags="-I$root/usr/include $flags"
# shellcheck disable=SC2086 # flags are words
"${CC:-cc}" -std=c11 -Wall -Werror -o "$tmp/app" "$tmp/app.c" $flags ||
	fail "README's C program does not compile against the unpacked libshmq-dev ($flags)"
grep -q "$libdir/libshmq.so.0" <<<"$(ldd "$tmp/app")" || fail "the program does not use the unpacked libshmq"
out=$(SHMQ_SOCKET=$sock timeout 30 "$tmp/app" 2>&1) || fail "README's C program: $out"
[ "$out" = "hello at offset 0" ] || fail "README's C program printed: $out"
echo "ok: README's C program against the unpacked packages: $out"

pydir=$(dirname "$(find "$root" -path '*-packages/shmq/__init__.py' -print -quit)")
out=$(PYTHONPATH=$(dirname "$pydir") timeout 30 python3 -c '
import sys, shmq
with shmq.connect(sys.argv[1]) as c:
    print(" ".join(ch.name for ch in c.channels()))' "$sock" 2>&1) ||
	fail "python3-shmq against the unpacked shmqd: $out"
grep -qw pkg.check <<<"$out" || fail "python3-shmq lists: $out"
echo "ok: the unpacked python3-shmq lists the channels: $out"
