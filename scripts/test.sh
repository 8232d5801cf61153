#!/usr/bin/env bash
# test.sh - build shmq three ways and run its test suites, from a fresh
# Debian 12 machine: installs what is missing, then
#   build/        debugoptimized: every suite (unit, system, stress, bench, style,
#                 python: each pytest case counts as one test)
#   build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer: unit, system, stress
#   build-tsan/   ThreadSanitizer: the lock-free ring tests (suite tsan)
#   build-fuzz/   clang, libFuzzer, ASan + UBSan: each fuzz target replays its
#                 corpus and fuzzes for 20 s (suite fuzz; scripts/fuzz.sh)
# and ends with one line "N passed, N failed" over all runs.
# Options: --quick (only build/, no fuzzing), --stress-neighbour (a busy loop on every
# CPU while the suites build and run, killed at the end: the bounds of every
# test must hold on a loaded machine), SHMQ_STRESS_SECONDS (default 2).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
neighbour=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	--stress-neighbour) neighbour=1 ;;
	*)
		echo "usage: scripts/test.sh [--quick] [--stress-neighbour]" >&2
		exit 2
		;;
	esac
done
bash scripts/deps.sh build || exit 1

# The neighbour: one busy loop per CPU, each killed by its pid on exit.
hogs=()
stop_hogs() {
	[ "${#hogs[@]}" -gt 0 ] && kill "${hogs[@]}" 2>/dev/null
	hogs=()
}
if [ "$neighbour" -eq 1 ]; then
	trap stop_hogs EXIT
	trap 'exit 130' INT TERM
	for _ in $(seq "$(nproc)"); do
		bash -c 'while :; do :; done' &
		hogs+=($!)
	done
	echo "=== neighbour: ${#hogs[@]} busy loop(s), pids ${hogs[*]}"
fi

stress_s=${SHMQ_STRESS_SECONDS:-2}
export ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
jobs=$(nproc)
passed=0
failed=0
skipped=0

# setup DIR [meson options...]: configure (or reconfigure) and build.
setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" -Dstress_seconds="$stress_s" >/dev/null
	else
		meson setup "$dir" "$@" -Dstress_seconds="$stress_s" >/dev/null
	fi && ninja -C "$dir" -j "$jobs"
}

# pytest_count DIR: "passed failed skipped" over the cases of the pytest run
# (tests/python) whose JUnit report is in DIR's logs; nothing if none ran.
pytest_count() {
	local xml=$1/meson-logs/pytest.xml
	[ -f "$xml" ] || return 0
	python3 - "$xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for suite in ET.parse(sys.argv[1]).getroot().iter("testsuite"):
    for k in n:
        n[k] += int(suite.get(k, 0))
bad = n["failures"] + n["errors"]
print(n["tests"] - bad - n["skipped"], bad, n["skipped"])
EOF
}

# count DIR: add the results of DIR's last meson test run to the totals.
# The meson test that ran pytest counts as its cases, one by one.
count() {
	local log=$1/meson-logs/testlog.json results ok bad skip py_ok= py_bad= py_skip=
	[ -f "$log" ] || return 0
	results=$(cat "$log")
	read -r py_ok py_bad py_skip < <(pytest_count "$1")
	if [ -n "$py_ok" ]; then
		results=$(grep -vF '"name": "shmq:python / pytest"' <<<"$results")
		passed=$((passed + py_ok))
		failed=$((failed + py_bad))
		skipped=$((skipped + py_skip))
	fi
	ok=$(grep -Ec '"result": "(OK|EXPECTEDFAIL)"' <<<"$results")
	skip=$(grep -Ec '"result": "SKIP"' <<<"$results")
	bad=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' <<<"$results")
	passed=$((passed + ok))
	failed=$((failed + bad))
	skipped=$((skipped + skip))
}

# run NAME DIR [meson setup options...] -- [meson test options...]
run() {
	local name=$1 dir=$2 setup_opts=() test_opts=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup_opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	test_opts=("$@")
	echo "=== $name: build ($dir)"
	rm -f "$dir/meson-logs/testlog.json" "$dir/meson-logs/pytest.xml"
	if ! setup "$dir" "${setup_opts[@]}"; then
		echo "=== $name: BUILD FAILED"
		failed=$((failed + 1))
		return
	fi
	echo "=== $name: test"
	meson test -C "$dir" --print-errorlogs --num-processes 2 "${test_opts[@]}"
	count "$dir"
}

# the packages suite builds the Debian packages and the soak suite runs
# scripts/soak.sh for 2 minutes (docs/TESTING.md, "Soak"): the full run
# only, and the soak on the default build only.
if [ "$quick" -eq 1 ]; then
	run "default" build -- --no-suite packages --no-suite soak
else
	run "default" build
fi
if [ "$quick" -eq 0 ]; then
	run "asan+ubsan" build-asan -Db_sanitize=address,undefined -Db_lundef=false \
		-- --no-suite bench --no-suite style --no-suite packages --no-suite soak \
		--timeout-multiplier 3
	run "tsan" build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug \
		-- --suite tsan --timeout-multiplier 4
	if bash scripts/deps.sh fuzz; then
		CC=clang run "fuzz" build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
			-Db_lundef=false -Dfuzz_seconds=20 -- --suite fuzz
	else
		echo "=== fuzz: cannot install clang"
		failed=$((failed + 1))
	fi
fi
[ "$skipped" -gt 0 ] && echo "($skipped skipped: a missing optional dependency or capability)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
