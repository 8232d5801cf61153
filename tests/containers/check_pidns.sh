#!/usr/bin/env bash
# check_pidns.sh BUILDDIR - clients in other pid namespaces, as in other
# containers, against a real shmqd (docs/CONTAINERS.md). Clients run as
# uid nobody, each in a pid namespace of its own (unshare --pid --fork
# --mount-proc --kill-child: killing the unshare SIGKILLs the client).
#   child:   shmqd in this (the parent) pid namespace. It sees each
#            client under the client's pid in its own namespace
#            (SO_PEERCRED translates it: /proc/PID/status NSpid ends with
#            the pid the client has inside); the per-uid handle and
#            connection quotas refuse what they must; a client SIGKILLed
#            gives its reader slot back.
#   sibling: shmqd in a pid namespace of its own, the client in another.
#            The client has no pid there: shmqd sees pid 0. Quotas and
#            clean-up on death still work (uid from SO_PEERCRED, the
#            pidfd from SO_PEERPIDFD, the socket's close).
# Skips (77) unless root and unshare --pid is permitted.
set -uo pipefail
build=$(cd "$1" && pwd)
shmqd=${SHMQD:-$build/daemon/shmqd}
shmq=${SHMQ_TOOL:-$build/tools/shmq}
stat=${SHMQ_STAT:-$build/tools/shmq-stat}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (pid namespaces, uid nobody)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv is missing (util-linux)"; exit 77; }
unshare --pid --fork --mount-proc --kill-child true 2>/dev/null ||
	{ echo "SKIP: unshare --pid --fork --mount-proc is not permitted here"; exit 77; }

tmp=$(mktemp -d) || exit 1
chmod 755 "$tmp"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	[ -f "$tmp/d.log" ] && tail -n 20 "$tmp/d.log"
	exit 1
}

# nobody runs a copy of shmq and libshmq: the build tree may be out of its reach
mkdir -p "$tmp/bin" "$tmp/lib" "$tmp/out"
chmod 777 "$tmp/out"
cp "$shmq" "$tmp/bin/shmq"
cp "$(ldd "$shmq" | awk '/libshmq\.so/ { print $3 }')" "$tmp/lib/" || fail "no libshmq for shmq"
chmod -R a+rX "$tmp/bin" "$tmp/lib"

cat >"$tmp/shmqd.conf" <<'CONF'
[daemon]
max_connections_per_uid = 2
max_handles_per_uid = 1

[channel ns.test]
policy = block
subscribe = *
publish = *

[channel ns.two]
subscribe = *
CONF

# in_ns CMD...: shmq CMD as nobody in a new pid namespace (pid 1 there);
# the unshare process stays its parent (pgrep -P finds the client)
in_ns() {
	exec unshare --pid --fork --mount-proc --kill-child \
		setpriv --reuid 65534 --regid 65534 --clear-groups \
		env LD_LIBRARY_PATH="$tmp/lib" SHMQ_SOCKET="$sock" "$tmp/bin/shmq" "$@"
}

# reader_pid CHANNEL: the PID column of CHANNEL's reader row in shmq-stat, or nothing
reader_pid() {
	"$stat" --socket "$sock" --once 2>/dev/null | awk -v ch="$1" '
		/SLOT +CHANNEL/ { rows = 1; next }
		rows { for (i = 1; i < NF; i++) if ($i == ch) { print $(i + 1); exit } }'
}
until_ok() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}
has_reader() { [ -n "$(reader_pid "$1")" ]; }
no_reader() { [ -z "$(reader_pid "$1")" ]; }

# quotas_and_death LABEL WRAPPER: the checks both cases share; the first
# reader (the child of unshare WRAPPER) is up
quotas_and_death() {
	local label=$1 wrapper=$2 out two victims
	out=$(in_ns sub ns.test -e 2>&1) && fail "$label: a second subscriber of one uid was let in"
	grep -q SHMQ_EHANDLEQUOTA <<<"$out" || fail "$label: second subscriber: $out"
	in_ns sub ns.two --from latest >/dev/null 2>&1 &
	two=$!
	pids+=("$two")
	until_ok 10 has_reader ns.two || fail "$label: no reader on ns.two"
	out=$(in_ns ls 2>&1) && fail "$label: a third connection of one uid was let in"
	grep -q SHMQ_ECONNQUOTA <<<"$out" || fail "$label: third connection: $out"
	echo "ok: $label: per-uid quotas: handles (SHMQ_EHANDLEQUOTA), connections (SHMQ_ECONNQUOTA)"
	victims="$(pgrep -P "$wrapper") $(pgrep -P "$two")"
	# shellcheck disable=SC2086 # two pids
	kill -9 $victims || fail "$label: cannot kill the clients ($victims)"
	until_ok 10 no_reader ns.test || fail "$label: the SIGKILLed client's slot is still held"
	until_ok 10 no_reader ns.two || fail "$label: the SIGKILLed client's slot on ns.two is held"
	out=$(in_ns sub ns.test -e 2>&1) || fail "$label: the freed slot is not given again: $out"
	echo "ok: $label: SIGKILLed clients' slots (and quota) given back"
}

# ---- child: shmqd here, the client in a child pid namespace ----
sock=$tmp/s
daemon_pid=$("$shmqd" --quiet --config "$tmp/shmqd.conf" --socket "$sock" --background) ||
	fail "shmqd did not start"
pids+=("$daemon_pid")
in_ns sub ns.test --from latest >/dev/null 2>&1 &
wrapper=$!
pids+=("$wrapper")
until_ok 10 has_reader ns.test || fail "child: no reader on ns.test"
host_pid=$(reader_pid ns.test)
nspid=$(awk '/^NSpid:/ { print $2, $NF }' "/proc/$host_pid/status" 2>/dev/null)
[ "$nspid" = "$host_pid 1" ] ||
	fail "child: shmqd sees pid $host_pid, whose NSpid is \"$nspid\", not \"$host_pid 1\""
echo "ok: child: shmqd sees the client as pid $host_pid, pid 1 in its own namespace"
quotas_and_death child "$wrapper"
kill "$daemon_pid"

# ---- sibling: shmqd in a pid namespace of its own, the client in another ----
sock=$tmp/s2
unshare --pid --fork --mount-proc --kill-child "$shmqd" --config "$tmp/shmqd.conf" \
	--socket "$sock" >"$tmp/d.log" 2>&1 &
pids+=("$!")
until_ok 10 test -S "$sock" || fail "sibling: shmqd did not start"
in_ns sub ns.test --from latest >/dev/null 2>&1 &
wrapper=$!
pids+=("$wrapper")
until_ok 10 has_reader ns.test || fail "sibling: no reader on ns.test"
[ "$(reader_pid ns.test)" = 0 ] || fail "sibling: shmqd sees pid $(reader_pid ns.test), not 0"
echo "ok: sibling: shmqd sees the client as pid 0 (it has none in shmqd's namespace)"
quotas_and_death sibling "$wrapper"
