#!/usr/bin/env bash
# The cost of AWS_LAMBDA_LOG_FORMAT=JSON: the same handler printing one line per invocation, run
# in text mode and in JSON mode in the same run (alternating, ROUNDS times each, medians), on the
# fake Runtime API pinned to one core. Prints the rates and the per-invocation overhead JSON adds.
# See bench/README.md.
#
# Then the same per line inside one invocation, in CPU time (steadier on a busy machine).
#
# Environment: MOONRUN (default build/moonrun), BUILD_DIR (default bench/build), N (50000),
# LOOP_N (200000), ROUNDS (5), CPU (0), CC, CFLAGS.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-50000}
ROUNDS=${ROUNDS:-5}
LOOP_N=${LOOP_N:-200000}

[[ -x $MOONRUN ]] || { echo "logging.sh: $MOONRUN not found (build it, or set MOONRUN)" >&2; exit 2; }
build_tools fake_runtime_api

# shellcheck disable=SC2016 # "$LATEST" is literal, as Lambda spells it
export LAMBDA_TASK_ROOT=$BENCH AWS_REGION=us-east-1 AWS_LAMBDA_FUNCTION_NAME=bench \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128

# rate HANDLER FORMAT: invocations per second of one run; the runtime's output goes to a file,
# as it goes to a pipe on Lambda (one write per line either way).
rate() {
    local log=$BUILD_DIR/logging-$1-$2.log line
    line=$(_HANDLER=$1 AWS_LAMBDA_LOG_FORMAT=$2 "$BUILD_DIR/fake_runtime_api" --cpu "$CPU" \
        --event "$BENCH/events/small.json" --count "$N" --log "$log" -- "$MOONRUN") ||
        { echo "logging.sh: $1 $2 failed; see $log" >&2; exit 2; }
    line=${line#*rate=}
    echo "${line%% *}"
}

median() { sort -g | awk '{v[NR] = $1} END { printf "%d", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A RATES
cases=("echo.handler Text" "print_line.handler Text" "print_line.handler JSON" "log_line.handler Text"
    "log_line.handler JSON")
echo "logging bench: cpu $CPU, $N invocations of bench/events/small.json per run, $ROUNDS rounds"
for _ in $(seq "$ROUNDS"); do
    for c in "${cases[@]}"; do
        # shellcheck disable=SC2086 # two words: handler and format
        RATES[$c]+="$(rate $c) "
    done
done

declare -A MEDIAN
printf '%-20s %-5s %10s %12s\n' handler format rate/s us/invoke
for c in "${cases[@]}"; do
    MEDIAN[$c]=$(tr ' ' '\n' <<<"${RATES[$c]}" | grep . | median)
    # shellcheck disable=SC2086 # two words: handler and format
    printf '%-20s %-5s %10s %12s\n' $c "${MEDIAN[$c]}" \
        "$(awk -v r="${MEDIAN[$c]}" 'BEGIN { printf "%.3f", 1e6 / r }')"
done

# cost A B: microseconds per invocation that case B adds over case A.
cost() { awk -v a="${MEDIAN[$1]}" -v b="${MEDIAN[$2]}" 'BEGIN { printf "%+.3f us (%.1f%%)", 1e6 / b - 1e6 / a, (a / b - 1) * 100 }'; }
# loop FORMAT [log]: CPU nanoseconds per line of one print_loop invocation (stdout to a file).
loop() {
    local event='{"count": '$LOOP_N'}'
    [[ ${2:-} == log ]] && event='{"count": '$LOOP_N', "log": true}'
    AWS_LAMBDA_LOG_FORMAT=$1 taskset -c "$CPU" "$MOONRUN" invoke print_loop.handler --event - \
        <<<"$event" 2>&1 >"$BUILD_DIR/logging-loop-$1.log" | head -1
}
declare -A LOOPS
loop_cases=("Text" "JSON" "Text log" "JSON log")
for _ in $(seq "$ROUNDS"); do
    for c in "${loop_cases[@]}"; do
        # shellcheck disable=SC2086 # format and, maybe, "log"
        LOOPS[$c]+="$(loop $c) "
    done
done
declare -A LOOP_MEDIAN
for c in "${loop_cases[@]}"; do
    LOOP_MEDIAN[$c]=$(tr ' ' '\n' <<<"${LOOPS[$c]}" | grep . | median)
done

echo
echo "per invocation (wall time, fake Runtime API):"
echo "print, text mode, over no output:      $(cost "echo.handler Text" "print_line.handler Text")"
echo "print, JSON mode over text mode:       $(cost "print_line.handler Text" "print_line.handler JSON")"
echo "log.info + 2 fields, JSON over text:   $(cost "log_line.handler Text" "log_line.handler JSON")"
echo
echo "per line (CPU time, $LOOP_N lines in one invocation, medians of $ROUNDS):"
text=${LOOP_MEDIAN[Text]} json=${LOOP_MEDIAN[JSON]}
printf '  print     text %6s ns   JSON %6s ns   JSON adds %+d ns\n' "$text" "$json" $((json - text))
text=${LOOP_MEDIAN[Text log]} json=${LOOP_MEDIAN[JSON log]}
printf '  log.info  text %6s ns   JSON %6s ns   JSON adds %+d ns\n' "$text" "$json" $((json - text))
