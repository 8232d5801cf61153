#!/usr/bin/env bash
# fuzz.sh - the libFuzzer targets of tests/fuzz, built in build-fuzz/ with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer (-Dfuzz=true).
#   scripts/fuzz.sh TARGET SECONDS [FLAG...]  fuzz one target (fuzz_proto, or
#                                    proto); FLAGs go to libFuzzer, such as
#                                    -runs=10000000 to stop after that many
#   scripts/fuzz.sh --replay [TARGET...]  run every corpus input once
#   scripts/fuzz.sh --long [HOURS]   each target in turn for HOURS (default 2),
#                                    under nice -n 19
#   scripts/fuzz.sh --list           the targets
#   scripts/fuzz.sh --minimize TARGET  add to tests/fuzz/corpus/TARGET
#                                    build-fuzz's finds that cover what the
#                                    corpus does not (libFuzzer -merge=1)
# New inputs collect in build-fuzz/tests/fuzz/fuzz-work/TARGET (kept between
# runs), crashes in build-fuzz/tests/fuzz/fuzz-work/artifacts/TARGET. Exits non-zero
# on a crash, a leak or an input that runs over 10 s.
set -uo pipefail
cd "$(dirname "$0")/.."

targets=(fuzz_proto fuzz_record fuzz_config fuzz_adopt fuzz_cli fuzz_routing fuzz_dedupe fuzz_journal)
dir=build-fuzz

build() {
	bash scripts/deps.sh fuzz || exit 1
	if [ ! -f "$dir/build.ninja" ]; then
		CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined \
			-Db_lundef=false >/dev/null || exit 1
	fi
	ninja -C "$dir" "${targets[@]/#/tests/fuzz/}" >/dev/null || exit 1
}

target_name() {
	local t=${1#fuzz_}
	for x in "${targets[@]}"; do
		[ "$x" = "fuzz_$t" ] && echo "$x" && return 0
	done
	echo "fuzz.sh: no target $1 (${targets[*]})" >&2
	exit 2
}

run() { # TARGET MODE [FLAG...]
	local t=$1
	shift
	tests/fuzz/run.sh "$dir/tests/fuzz/$t" "tests/fuzz/corpus/$t" \
		"$dir/tests/fuzz/fuzz-work/$t" "$@"
}

case "${1:-}" in
--list)
	printf '%s\n' "${targets[@]}"
	;;
--replay)
	shift
	build
	want=("${targets[@]}")
	[ $# -gt 0 ] && want=() && for t in "$@"; do want+=("$(target_name "$t")"); done
	bad=0
	for t in "${want[@]}"; do
		if run "$t" replay >"$dir/replay-$t.log" 2>&1; then
			echo "replay $t: ok ($(find "tests/fuzz/corpus/$t" -type f | wc -l) inputs)"
		else
			echo "replay $t: FAILED (see $dir/replay-$t.log)"
			bad=1
		fi
	done
	exit $bad
	;;
--long)
	hours=${2:-2}
	secs=$(awk -v h="$hours" 'BEGIN { if (h ~ /^[0-9]*\.?[0-9]+$/) print int(h * 3600) }')
	if [ "${secs:-0}" -lt 1 ]; then # libFuzzer would read 0 as no limit
		echo "fuzz.sh: --long takes a number of hours, not '$hours'" >&2
		exit 2
	fi
	build
	bad=0
	for t in "${targets[@]}"; do
		echo "=== $t: $hours h"
		nice -n 19 tests/fuzz/run.sh "$dir/tests/fuzz/$t" "tests/fuzz/corpus/$t" \
			"$dir/tests/fuzz/fuzz-work/$t" "$secs" \
			2>&1 | tee "$dir/long-$t.log" | grep -E '^(stat::|==[0-9]+==|SUMMARY)|DONE|INITED'
		[ "${PIPESTATUS[0]}" -eq 0 ] || bad=1
	done
	exit $bad
	;;
--minimize)
	t=$(target_name "${2:?--minimize TARGET}")
	build
	# the merge starts from the checked-in corpus, so that what it adds
	# is only what covers more than that corpus does
	rm -rf "$dir/min-$t" && mkdir -p "$dir/min-$t" || exit 1
	cp "tests/fuzz/corpus/$t"/* "$dir/min-$t/" || exit 1
	"$dir/tests/fuzz/$t" -merge=1 "$dir/min-$t" "$dir/tests/fuzz/fuzz-work/$t" || exit 1
	added=0
	for f in "$dir/min-$t"/*; do
		[ -e "tests/fuzz/corpus/$t/${f##*/}" ] && continue
		cp "$f" "tests/fuzz/corpus/$t/" && added=$((added + 1))
	done
	echo "tests/fuzz/corpus/$t: $added inputs added," \
		"$(find "tests/fuzz/corpus/$t" -type f | wc -l) in all"
	;;
'' | -*)
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
*)
	t=$(target_name "$1")
	secs=${2:?usage: scripts/fuzz.sh TARGET SECONDS [FLAG...]}
	[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a whole number above 0, not '$secs'" >&2; exit 2; }
	shift 2
	build
	run "$t" "$secs" "$@"
	;;
esac
