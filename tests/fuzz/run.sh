#!/usr/bin/env bash
# run.sh - run one libFuzzer target: tests/fuzz/run.sh BINARY SEEDS WORK MODE [FLAG...]
#   MODE a number of seconds: fuzz that long, new inputs into WORK (made if
#        missing), SEEDS read but never written; replay SEEDS first
#   MODE replay: run every input in SEEDS once, and nothing else
#   FLAG...: more libFuzzer flags, such as -runs=10000000 to stop after that
#        many executions if the time has not run out first
# Uses TARGET.dict beside the seeds' parent when there is one and
# ubsan.supp for UndefinedBehaviorSanitizer. Crashes go to WORK/../artifacts/.
# Prints libFuzzer's final statistics; exits non-zero on a crash, a leak or
# a timeout of one input (10 s).
set -uo pipefail

bin=$1 seeds=$2 work=$3 mode=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$bin")
art=$(dirname "$work")/artifacts/$name
mkdir -p "$work" "$art"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$here/ubsan.supp

opts=(-timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 -artifact_prefix="$art/")
[ -f "$here/$name.dict" ] && opts+=(-dict="$here/$name.dict")

if [ "$mode" = replay ]; then
	exec "$bin" "${opts[@]}" "$@" -runs=0 "$seeds"
fi
exec "$bin" "${opts[@]}" -max_total_time="$mode" "$@" "$work" "$seeds"
