#!/usr/bin/env bash
# soak.sh - a long run of shmq under churn and kills that proves nothing
# leaks or drifts: scripts/soak.sh MINUTES [--phase SECONDS] [--build DIR]
#
# The run is cut into phases (default 60 s; MINUTES * 60 / 4 when shorter).
# In each phase, at once:
#   - the kill loop (tests/system/test_killloop.c) on a daemon of its own:
#     shared and exclusive publishers and subscribers of every wait mode on
#     block and drop channels SIGKILLed at random, shmqd SIGKILLed and
#     restarted and replaced (--replace); it checks exactly-once and order
#     on block, exact loss accounting on drop, and that no slot of a dead
#     process remains;
#   - on one long-lived daemon (the steady one): a block channel carrying
#     about 1000 messages a second, each checked once and in order, its
#     latency measured (soak_probe latency); channels created, used and
#     deleted in a loop, holders SIGKILLed (soak_probe churn); `shmq sub`
#     clients started and SIGKILLed; shmq-stat scraped (--json,
#     --prometheus, --once) every second (a scrape fails on an error, or on
#     three timeouts in a row: one is a busy machine).
# Between phases the steady daemon is replaced (--replace) or SIGKILLed and
# restarted (its keeper keeps the channels), and, once every client is
# gone: its descriptor count is back to the baseline, its RSS and the
# keeper's within the baseline + max(50 %, 8 MiB), no slot is held by a
# dead process, and the phase's p99 latency is below 10 x the median of
# the phases before (and 100 ms: the machine may be shared). Prints a line
# per phase and a summary; exits 1 on any violation, 2 on a usage error.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() {
	sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

minutes=${1:-}
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage
shift
phase=
build=build
while [ $# -gt 0 ]; do
	case "$1" in
	--phase) phase=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
total=$(awk "BEGIN{print int($minutes * 60)}")
[ -z "$phase" ] && phase=$((total / 4 < 60 ? total / 4 : 60))
[ "$phase" -lt 10 ] && phase=10
phases=$(((total + phase - 1) / phase))

if [ "$build" = build ]; then
	bash scripts/deps.sh build || exit 2
	[ -f build/build.ninja ] || meson setup build >/dev/null || exit 2
	ninja -C build >/dev/null || exit 2
fi
b=$(cd "$build" && pwd)
shmqd=$b/daemon/shmqd
shmq=$b/tools/shmq
stat=$b/tools/shmq-stat
probe=$b/tests/system/soak_probe
killloop=$b/tests/system/test_system_killloop
for x in "$shmqd" "$shmq" "$stat" "$probe" "$killloop"; do
	[ -x "$x" ] || { echo "soak: $x is missing" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/shmq-soak.XXXXXX)
sock=$dir/s
log=$dir/shmqd.log
export SHMQ_SOCKET=$sock
violations=0
pids=()

say() { echo "soak: $*"; }
violation() {
	echo "soak: VIOLATION: $*"
	violations=$((violations + 1))
}

daemon_pid=
keeper_pid() { grep -o 'keeper started keeper pid=[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$'; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
serves() { "$shmq" ls >/dev/null 2>&1; }

wait_serves() {
	for _ in $(seq 300); do serves && return 0; sleep 0.1; done
	return 1
}

daemon_start() { # [--replace]
	daemon_pid=$("$shmqd" --socket "$sock" --background "$@" 2>>"$log") || return 1
	wait_serves
}

cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null
	[ "$violations" -eq 0 ] && rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Settle: every client of the steady daemon gone and its count steady.
settled_fds() {
	local n m same=0
	n=$(fd_count "$daemon_pid")
	for _ in $(seq 100); do
		sleep 0.1
		m=$(fd_count "$daemon_pid")
		if [ "$m" = "$n" ]; then same=$((same + 1)); else same=0; fi
		n=$m
		[ "$same" -ge 10 ] && break
	done
	echo "$n"
}

# Start `shmq sub` clients on soak.drop and SIGKILL them at random, for $1 s.
client_kills() {
	local end=$((SECONDS + $1)) p n=0
	while [ $SECONDS -lt $end ]; do
		"$shmq" sub soak.drop >/dev/null 2>&1 &
		p=$!
		sleep "0.$((RANDOM % 9 + 1))"
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		n=$((n + 1))
	done
	echo "client_kills=$n"
}

# One scrape: 0, or 1 after saying why. shmq-stat gives up on a daemon that
# does not answer within its own short timeout, which a busy machine may
# cause: only three timeouts in a row (a second apart) count.
scrape_one() { # OUT HOW
	local rc try
	for try in 1 2 3; do
		"$stat" "$2" >"$1" 2>&1 && return 0
		rc=$?
		grep -q 'unreachable: timed out' "$1" || break
		timeouts=$((timeouts + 1))
		[ "$try" -lt 3 ] && sleep 1
	done
	echo "shmq-stat $2 exited $rc: $(tail -3 "$1" | tr '\n' ' ')"
	cp "$1" "$1.failed.$SECONDS" # the whole output, for the logs kept on a violation
	return 1
}

# Scrape shmq-stat every second for $2 s (its output in $1.out); a failed
# scrape is a violation.
scrape() {
	local end=$((SECONDS + $2)) n=0 bad=0 how
	timeouts=0
	while [ $SECONDS -lt $end ]; do
		for how in --json --prometheus --once; do
			scrape_one "$1.out" "$how" || bad=$((bad + 1))
		done
		n=$((n + 1))
		sleep 1
	done
	echo "scrapes=$n failed=$bad timeouts=$timeouts"
	[ "$bad" -eq 0 ]
}

# ---- set up ----
say "$minutes min in $phases phase(s) of $phase s; work dir $dir"
daemon_start || { echo "soak: shmqd did not start (log: $log)"; exit 1; }
"$shmq" create soak.block --capacity 1M --max-message 64 --policy block >/dev/null &&
	"$shmq" create soak.drop --capacity 64K --max-message 64 --policy drop >/dev/null ||
	{ echo "soak: cannot create the channels"; exit 1; }
base_fds=$(settled_fds)
base_rss=$(rss_kb "$daemon_pid")
kpid=$(keeper_pid)
base_krss=$(rss_kb "$kpid")
say "baseline: shmqd fds=$base_fds rss=${base_rss}kB keeper pid=$kpid rss=${base_krss}kB"

p99s=()
summary=()
for ((k = 1; k <= phases; k++)); do
	out=$dir/phase$k
	mkdir -p "$out"
	SHMQD=$shmqd SHMQ_TOOL=$shmq SHMQ_KILLLOOP_SECONDS=$phase \
		"$killloop" >"$out/killloop.log" 2>&1 &
	kl=$!
	"$probe" "$sock" latency soak.block "$phase" >"$out/latency.log" 2>&1 &
	lat=$!
	"$probe" "$sock" churn "$phase" >"$out/churn.log" 2>&1 &
	ch=$!
	client_kills "$phase" >"$out/kills.log" 2>&1 &
	ck=$!
	scrape "$out/scrape" "$phase" >"$out/scrape.log" 2>&1 &
	sc=$!
	pids=("$kl" "$lat" "$ch" "$ck" "$sc")
	wait "$kl" || violation "phase $k: the kill loop failed: $(grep -m2 -E '^ERROR: |FAILED' "$out/killloop.log" | tr '\n' ' ') (log $out/killloop.log)"
	wait "$lat" || violation "phase $k: latency/order: $(tail -2 "$out/latency.log" | tr '\n' ' ')"
	wait "$ch" || violation "phase $k: churn: $(tail -2 "$out/churn.log" | tr '\n' ' ')"
	wait "$ck"
	wait "$sc" || violation "phase $k: shmq-stat: $(tr '\n' ' ' <"$out/scrape.log")"
	pids=()

	# the daemon goes and comes back: --replace, or SIGKILL and a restart
	old=$daemon_pid
	if [ $((k % 3)) -eq 2 ]; then
		kill -KILL "$old"
		restart="SIGKILL+restart"
		daemon_start || violation "phase $k: shmqd did not restart"
	else
		restart="--replace"
		daemon_start --replace || violation "phase $k: shmqd --replace did not serve"
	fi
	for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$old" 2>/dev/null && violation "phase $k: the old shmqd $old did not exit"

	"$probe" "$sock" slots >"$out/slots.log" 2>&1 ||
		violation "phase $k: slots of dead processes: $(tr '\n' ' ' <"$out/slots.log")"
	fds=$(settled_fds)
	rss=$(rss_kb "$daemon_pid")
	nk=$(keeper_pid)
	krss=$(rss_kb "$nk")
	[ "$fds" -eq "$base_fds" ] || violation "phase $k: shmqd holds $fds descriptors, baseline $base_fds"
	slack=$((base_rss / 2 > 8192 ? base_rss / 2 : 8192))
	[ "$rss" -le $((base_rss + slack)) ] || violation "phase $k: shmqd rss ${rss}kB, baseline ${base_rss}kB"
	kslack=$((base_krss / 2 > 8192 ? base_krss / 2 : 8192))
	[ "$nk" = "$kpid" ] || violation "phase $k: the keeper changed ($kpid -> $nk)"
	[ "$krss" -le $((base_krss + kslack)) ] || violation "phase $k: keeper rss ${krss}kB, baseline ${base_krss}kB"

	p99=$(grep -o 'p99_us=[0-9.]*' "$out/latency.log" | cut -d= -f2)
	p99=${p99:-0}
	if [ "${#p99s[@]}" -gt 0 ]; then
		med=$(printf '%s\n' "${p99s[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
		awk "BEGIN{exit !($p99 > 10 * $med && $p99 > 100000)}" &&
			violation "phase $k: p99 ${p99} us, median of the phases before ${med} us"
	fi
	p99s+=("$p99")
	kls=$(grep -o 'kill loop: [0-9]* publisher kills.*abandoned' "$out/killloop.log" | head -1)
	line="phase $k/$phases: $(head -1 "$out/latency.log" | cut -d' ' -f2-) $(cat "$out/churn.log" | tail -1) $(cat "$out/kills.log") $(tail -1 "$out/scrape.log") $restart fds=$fds rss=${rss}kB keeper_rss=${krss}kB | $kls"
	say "$line"
	summary+=("$line")
done

# ---- a clean stop: the daemon exits 0, the keeper goes with it ----
kill -TERM "$daemon_pid"
for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$daemon_pid" 2>/dev/null && violation "shmqd did not stop on SIGTERM"
for _ in $(seq 100); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$kpid" 2>/dev/null && violation "the keeper outlived a clean stop"
daemon_pid=
grep -qE 'AddressSanitizer|runtime error' "$log" && violation "a sanitizer report in $log"

echo "=== soak summary: $minutes min, $phases phases of $phase s"
printf '%s\n' "${summary[@]}"
echo "p99 latency per phase (us): ${p99s[*]}"
if [ "$violations" -gt 0 ]; then
	echo "soak: $violations violation(s); logs in $dir"
	exit 1
fi
echo "soak: no violation"
