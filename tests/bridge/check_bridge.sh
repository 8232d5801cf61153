#!/usr/bin/env bash
# check_bridge.sh BUILDDIR SRCDIR - shmq-bridge against a real nats-server -js (on
# a loopback port, store in a temporary directory) and a real shmqd:
#   - NATS unreachable at start: exit 1 with the reason;
#   - out: 100,000 messages published to a channel while the bridge
#     forwards them, SIGKILLed mid-flow and restarted, then nats-server
#     SIGKILLed mid-flow and restarted on the same port and store: the
#     stream holds every message, and none twice (the resends after the
#     kills fall within JetStream's 2-minute duplicate window);
#   - shmq-stat shows the bridge as the channel's reader, with its lag;
#   - in: 100,000 messages in a stream drained into a channel through a
#     durable consumer, the bridge SIGKILLed mid-flow and restarted: the
#     channel holds every message; duplicates (acked by the channel, not
#     yet by JetStream at the kill) are counted and reported;
#   - README.md's shmq-bridge command line, run with this test's NATS
#     server, carries a message each way and stops cleanly on SIGTERM.
# Skips (77) without nats-server. Each direction is bounded at bound_s (150 s:
# 5 to 30 s on two idle CPUs, several times that beside other builds).
set -uo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
n=${BRIDGE_MESSAGES:-100000}
bound_s=150
shmqd=${SHMQD:-$build/daemon/shmqd}
shmq=${SHMQ_TOOL:-$build/tools/shmq}
bridge=${SHMQ_BRIDGE:-$build/bridge/shmq-bridge}
natsctl=${NATSCTL:-$build/tests/bridge/natsctl}
stat=${SHMQ_STAT:-$build/tools/shmq-stat}
command -v nats-server >/dev/null || { echo "SKIP: nats-server is not installed"; exit 77; }
[ -x "$bridge" ] || { echo "SKIP: shmq-bridge was not built (libnats-dev)"; exit 77; }

tmp=$(mktemp -d) || exit 1
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
	for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
	exit 1
}
export SHMQ_SOCKET=$tmp/s

# until SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 after SECONDS.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

nats_pid=
nats_port=
nats_start() {
	nats-server -js -a 127.0.0.1 -p "${nats_port:--1}" -sd "$tmp/js" \
		--ports_file_dir "$tmp" >>"$tmp/nats.log" 2>&1 &
	nats_pid=$!
	pids+=("$nats_pid")
	until_ok 20 test -s "$tmp/nats-server_$nats_pid.ports" || fail "nats-server did not start"
	nats_port=$(grep -o '127.0.0.1:[0-9]*' "$tmp/nats-server_$nats_pid.ports" | head -n1)
	nats_port=${nats_port##*:}
	until_ok 20 bash -c "echo > /dev/tcp/127.0.0.1/$nats_port" 2>/dev/null ||
		fail "nats-server does not listen"
}
url() { echo "nats://127.0.0.1:$nats_port"; }

bridge_pid=
bridge_start() { # LOG ARGS...
	local log=$1
	shift
	"$bridge" --nats "$(url)" --state-dir "$tmp/state" --stats 1 "$@" >>"$tmp/$log" 2>&1 &
	bridge_pid=$!
	pids+=("$bridge_pid")
}

tail_of() { "$shmq" info "$1" | grep -o 'tail=[0-9]*' | cut -d= -f2; }
recorded() { sed -n 's/^next //p' "$tmp/state/$1.out" 2>/dev/null || echo 0; }
at_least() { [ "$($1 "$2")" -ge "$3" ] 2>/dev/null; }

daemon_pid=$("$shmqd" --quiet --socket "$tmp/s" --background) || fail "shmqd did not start"
pids+=("$daemon_pid")
nats_start

# NATS unreachable at start: a clear failure, not a hang.
"$shmq" create t.none || fail "create t.none"
out=$(timeout 30 "$bridge" --nats nats://127.0.0.1:1 --state-dir "$tmp/state" \
	--to-nats t.none 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot connect to NATS at nats://127.0.0.1:1' <<<"$out" ||
	fail "unreachable NATS: rc=$rc: $out"
echo "ok: NATS unreachable at start: exit 1: $(tail -n1 <<<"$out")"

# Settings that are wrong: exit 2, with what and where.
usage() { # WANT ARGS...: exit 2 and WANT on stderr
	local want=$1 out rc
	shift
	out=$("$bridge" --state-dir "$tmp/state" "$@" 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "$want" <<<"$out" || fail "usage $*: rc=$rc: $out"
}
usage 'no route'
usage 'unknown setting: bogus' --bogus 1 --to-nats t.none
usage "an out route's subject has no wildcards" --to-nats 't.none=a.*'
usage 'a subject with wildcards needs =CHANNEL' --from-nats 'cmd.>'
usage 'a channel goes out once' --to-nats t.none --to-nats t.none=other
usage '--batch: 0' --batch 0 --to-nats t.none
printf 'to-nats t.none\nbatch many\n' >"$tmp/bad.conf"
usage "in $tmp/bad.conf, line 2" --config "$tmp/bad.conf"
echo "ok: wrong settings: exit 2 with the reason (and the file's line)"

# ---- out: channel -> JetStream ----
start=$SECONDS
"$shmq" create t.out --capacity 16M --max-message 64 --policy block || fail "create t.out"
bridge_start out.log --to-nats t.out --create-stream TOUT
until_ok 20 grep -q 'from offset' "$tmp/out.log" || fail "the out bridge did not start"
seq 0 $((n - 1)) | "$shmq" pub t.out --rate 20000 >"$tmp/pub.log" 2>&1 &
pub_pid=$!
pids+=("$pub_pid")
until_ok 30 at_least recorded t.out $((n / 5)) || fail "out: nothing recorded"
"$stat" --once >"$tmp/stat.txt" 2>&1
grep -E "^[ *]+[0-9]+ +t\.out +$bridge_pid " "$tmp/stat.txt" >/dev/null ||
	fail "shmq-stat shows no reader row of the bridge (pid $bridge_pid): $(cat "$tmp/stat.txt")"
echo "ok: shmq-stat: $(grep -E " t\.out +$bridge_pid " "$tmp/stat.txt")"
kill -9 "$bridge_pid"
killed_at=$(recorded t.out)
bridge_start out.log --to-nats t.out --create-stream TOUT
until_ok 30 at_least recorded t.out $((n / 2)) || fail "out: stuck after the bridge's restart"
kill -9 "$nats_pid"
sleep 0.5
nats_start
wait "$pub_pid" || fail "shmq pub failed: $(cat "$tmp/pub.log")"
until_ok $((start + bound_s - SECONDS)) at_least recorded t.out "$n" ||
	fail "out: recorded $(recorded t.out) of $n within $bound_s s"
res=$("$natsctl" "$(url)" check TOUT "$n") || fail "out: the stream: $res"
grep -q 'nats: disconnected' "$tmp/out.log" && grep -q 'nats: reconnected' "$tmp/out.log" ||
	fail "out: the bridge did not log its disconnection and reconnection"
grep -q ' duplicates=0 ' <<<"$res" || fail "out: duplicates within the dedupe window: $res"
# each bridge process counts from 0: add up the last stats line of each
dropped=$(awk '/main: running/ { sum += last; last = 0 }
	match($0, /duplicates=[0-9]+/) { last = substr($0, RSTART + 11, RLENGTH - 11) }
	END { print sum + last }' "$tmp/out.log")
echo "ok: out: $n messages in $((SECONDS - start)) s, bridge killed at offset $killed_at," \
	"nats-server killed once: stream $res; JetStream dropped resends: $dropped"
kill "$bridge_pid"
wait "$bridge_pid" 2>/dev/null
grep -q 'stopped$' "$tmp/out.log" || fail "out: no clean stop on SIGTERM"

# ---- in: JetStream -> channel ----
start=$SECONDS
"$natsctl" "$(url)" stream TIN t.in || fail "in: stream"
"$natsctl" "$(url)" pub t.in "$n" || fail "in: publish to NATS"
"$shmq" create t.in --capacity 16M --max-message 64 --policy drop || fail "create t.in"
# this direction's settings come from a file
printf '# in: JetStream -> channel\nfrom-nats t.in\n\nack-wait 2\nbatch 256\n' >"$tmp/in.conf"
bridge_start in.log --config "$tmp/in.conf"
until_ok 30 at_least tail_of t.in $((n / 4)) || fail "in: nothing arrives"
kill -9 "$bridge_pid"
killed_at=$(tail_of t.in)
bridge_start in.log --config "$tmp/in.conf"
until_ok $((start + bound_s - SECONDS)) at_least tail_of t.in "$n" || fail "in: $(tail_of t.in) of $n within $bound_s s"
sleep 3 # past the AckWait: what is redelivered arrives too
kill "$bridge_pid"
wait "$bridge_pid" 2>/dev/null
"$shmq" sub t.in -e >"$tmp/in.txt" || fail "in: shmq sub"
read -r got distinct < <(sort -n "$tmp/in.txt" | awk '
	{ got++ } $1 != last || NR == 1 { distinct++ } { last = $1 }
	END { print got + 0, distinct + 0 }')
[ "$distinct" -eq "$n" ] || fail "in: $distinct distinct of $n ($got messages)"
[ "$(sort -n "$tmp/in.txt" | sed -n '1p;$p' | tr '\n' ' ')" = "0 $((n - 1)) " ] ||
	fail "in: payloads outside 0..$((n - 1))"
dups=$((got - distinct))
[ "$dups" -le 512 ] || fail "in: $dups duplicates, more than the batch in flight at the kill"
echo "ok: in: $n messages in $((SECONDS - start)) s, bridge killed at $killed_at:" \
	"$got in the channel, none lost, $dups duplicate(s) (acked by the channel, not yet" \
	"by JetStream at the kill)"

# ---- README.md's example ----
cmd=$(awk '$0 == "## Leaving the host: shmq-bridge" { on = 1; next }
	on && $0 == "```sh" { inside = 1; next } inside && /^```/ { exit } inside' "$src/README.md" |
	sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta')
eval "set -- $cmd"
[ "${1:-}" = shmq-bridge ] || fail "README.md: no shmq-bridge command line: $cmd"
shift
"$shmq" create orders && "$shmq" create commands || fail "README: channels"
"$natsctl" "$(url)" stream CMD 'cmd.>' || fail "README: stream CMD"
"$bridge" "$@" --nats "$(url)" --state-dir "$tmp/state" >"$tmp/readme.log" 2>&1 &
bridge_pid=$!
pids+=("$bridge_pid")
until_ok 20 grep -q 'main: running routes=2' "$tmp/readme.log" || fail "README's bridge did not start"
"$shmq" pub orders 0 || fail "README: shmq pub"
until_ok 20 "$natsctl" "$(url)" check ORDERS 1 >/dev/null || fail "README: orders never reached NATS"
"$natsctl" "$(url)" pub cmd.restart 1 || fail "README: publish to cmd.restart"
until_ok 20 at_least tail_of commands 1 || fail "README: cmd.restart never reached commands"
kill "$bridge_pid"
wait "$bridge_pid" || fail "README's bridge: exit $? on SIGTERM"
echo "ok: README's shmq-bridge line: orders -> ORDERS and cmd.restart -> commands, exit 0 on SIGTERM"
