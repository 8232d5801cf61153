#!/usr/bin/env bash
# check_dockerfile.sh SRCDIR - the Dockerfile cannot be built here (no
# container engine), so what makes it right is checked against the tree:
#   - both stages start from Debian 12;
#   - the build stage installs every Build-Depends of debian/control (and
#     dpkg-dev, build-essential), then runs dpkg-buildpackage;
#   - the runtime stage installs the shmq and libshmq0 packages it built;
#   - its volume is the directory of root's default socket in shmqd, and
#     its command listens there;
#   - .dockerignore keeps build directories and .git out of the context;
#   - README.md's and docs/CONTAINERS.md's docker commands use that image
#     and that volume.
set -uo pipefail
src=$(cd "$1" && pwd)
df=$src/Dockerfile
fail() {
	echo "FAIL: $*"
	exit 1
}
[ -f "$df" ] || fail "no Dockerfile"

[ "$(grep -c '^FROM debian:12' "$df")" -eq 2 ] || fail "both stages must be FROM debian:12"
build_stage=$(awk '/^FROM .* AS build/ { on = 1; next } /^FROM / { on = 0 } on' "$df")
runtime_stage=$(awk '/^FROM / { n++ } n == 2' "$df")
installed=$(sed -n '/apt-get install/,/rm -rf/p' <<<"$build_stage" | tr -s ' \t\\' '\n')
deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$src/debian/control" | sed '1s/^Build-Depends://;$d' |
	tr ',' '\n' | sed 's/(.*)//; s/[[:space:]]//g; /^$/d; s/^debhelper-compat$/debhelper/')
[ -n "$deps" ] || fail "no Build-Depends in debian/control"
for p in $deps dpkg-dev build-essential; do
	grep -qx "$p" <<<"$installed" || fail "the build stage does not install $p"
done
grep -q 'dpkg-buildpackage -us -uc -b' <<<"$build_stage" || fail "the build stage builds no packages"
for p in shmq libshmq0; do
	grep -q "/tmp/debs/${p}_\*.deb" <<<"$runtime_stage" || fail "the runtime stage does not install $p"
done
echo "ok: Dockerfile: Debian 12; the build stage has debian/control's Build-Depends ($(wc -w <<<"$deps"))"

sock=$(grep -o '"/run/[a-z]*/shmqd.sock"' "$src/daemon/main.c" | head -n1 | tr -d '"')
[ -n "$sock" ] || fail "no default root socket in daemon/main.c"
grep -qx "VOLUME ${sock%/*}" "$df" || fail "the volume is not ${sock%/*}"
grep -q "^CMD .*\"$sock\"" "$df" || fail "shmqd does not listen on $sock"
grep -qx 'build' "$src/.dockerignore" && grep -qx '.git' "$src/.dockerignore" ||
	fail ".dockerignore lets build/ or .git in"
echo "ok: Dockerfile: volume ${sock%/*}, shmqd on $sock"

for doc in README.md docs/CONTAINERS.md; do
	runs=$(grep -E '^docker (run|build)' "$src/$doc") || fail "$doc has no docker commands"
	grep -q 'docker build -t shmqd \.' <<<"$runs" || fail "$doc builds no shmqd image"
	while read -r line; do
		case $line in
		"docker run"*) grep -q -- "-v [a-z-]*:${sock%/*}" <<<"$line" ||
			fail "$doc: a client or daemon without the socket volume: $line" ;;
		esac
	done <<<"$runs"
	grep -q -- '--pid=host' <<<"$runs" || fail "$doc runs shmqd without --pid=host"
done
echo "ok: README.md and docs/CONTAINERS.md: docker commands with the image and the volume"
