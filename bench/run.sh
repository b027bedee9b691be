#!/usr/bin/env bash
# Builds the bench tools, then measures the floor client and moonrun, both pinned to one core,
# and prints their figures side by side with the project's targets. See bench/README.md.
#
# Environment: MOONRUN (default build/moonrun, relative to the repository root), BUILD_DIR
# (default bench/build), N_SMALL (100000), N_SQS (30000), COLD_RUNS (20), CPU (0), CC, CFLAGS,
# STRICT=1 to exit 1 when a target is missed.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N_SMALL=${N_SMALL:-100000}
N_SQS=${N_SQS:-30000}
COLD_RUNS=${COLD_RUNS:-20}

build_tools fake_runtime_api floor_client
FAKE=$BUILD_DIR/fake_runtime_api

# What Lambda sets for a function; only the runtime under test looks at these.
# shellcheck disable=SC2016 # "$LATEST" is literal, as Lambda spells it
export _HANDLER=echo.handler LAMBDA_TASK_ROOT=$BENCH AWS_REGION=us-east-1 \
    AWS_LAMBDA_FUNCTION_NAME=bench AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bench \
    AWS_LAMBDA_LOG_STREAM_NAME='2024/06/01/[$LATEST]bench'

declare -A R # R[runtime.event.field] = value from a result line
failed=0

# run LOG EVENT COUNT WARMUP CMD...: one harness run, the runtime's output going to LOG.log.
# Prints its result line; fails if the run failed or the runtime posted errors or bad requests.
run() {
    local tag=$1 log=$BUILD_DIR/$1.log event=$2 count=$3 warmup=$4 rc=0
    shift 4
    "$FAKE" --cpu "$CPU" --event "$BENCH/events/$event.json" --count "$count" \
        --warmup "$warmup" --log "$log" -- "$@" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "run.sh: $tag failed (exit $rc); see $log" >&2
        return 1
    fi
}

# measure NAME CMD...: throughput on both events, then the median of COLD_RUNS cold starts.
measure() {
    local name=$1 event count line kv colds=() c
    shift
    for event in small sqs; do
        count=$N_SMALL
        [[ $event == sqs ]] && count=$N_SQS
        line=$(run "$name-$event" "$event" "$count" $((count / 10 < 1000 ? count / 10 : 1000)) "$@") ||
            failed=1
        echo "  $name $event: ${line:-FAILED}"
        for kv in $line; do R[$name.$event.${kv%%=*}]=${kv#*=}; done
    done
    for _ in $(seq "$COLD_RUNS"); do
        line=$(run "$name-cold" small 1 0 "$@") || failed=1
        c=${line#cold_start_ms=}
        [[ $line == cold_start_ms=* ]] && colds+=("${c%% *}")
    done
    [[ ${#colds[@]} -gt 0 ]] && R[$name.cold]=$(printf '%s\n' "${colds[@]}" | sort -g | awk '{v[NR] = $1} END {
        if (NR) printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    echo "  $name cold start: median ${R[$name.cold]:-?} ms of ${#colds[@]} runs"
}

echo "bench: cpu $CPU, $N_SMALL small / $N_SQS sqs invocations, $COLD_RUNS cold starts"
measure floor "$BUILD_DIR/floor_client"
runtimes=(floor)
if [[ -x $MOONRUN ]]; then
    measure moonrun "$MOONRUN"
    runtimes+=(moonrun)
else
    echo "  moonrun: $MOONRUN not found (build it, or set MOONRUN); measured the floor only"
fi

echo
printf '%-8s %-6s %10s %9s %10s %9s %8s %7s\n' runtime event rate/s cold_ms rss_warm rss_end hwm_kb errors
for rt in "${runtimes[@]}"; do
    for ev in small sqs; do
        printf '%-8s %-6s %10s %9s %10s %9s %8s %7s\n' "$rt" "$ev" "${R[$rt.$ev.rate]:-?}" \
            "${R[$rt.cold]:-?}" "${R[$rt.$ev.rss_kb_warm]:-?}" "${R[$rt.$ev.rss_kb_end]:-?}" \
            "${R[$rt.$ev.hwm_kb]:-?}" "${R[$rt.$ev.errors]:-?}"
    done
done


if [[ -x $MOONRUN ]]; then
    echo
    check "throughput moonrun/floor, small" "$(ratio "${R[moonrun.small.rate]:-}" "${R[floor.small.rate]:-}")" ">=" 0.70
    check "throughput moonrun/floor, sqs" "$(ratio "${R[moonrun.sqs.rate]:-}" "${R[floor.sqs.rate]:-}")" ">=" 0.45
    check "cold start moonrun/floor (medians)" "$(ratio "${R[moonrun.cold]:-}" "${R[floor.cold]:-}")" "<=" 3
    check "moonrun RSS kB after $((N_SMALL + (N_SMALL / 10 < 1000 ? N_SMALL / 10 : 1000))) small" \
        "${R[moonrun.small.rss_kb_end]:-?}" "<=" 4096
    check "moonrun RSS growth kB after warm-up, small" "${R[moonrun.small.rss_growth_kb]:-?}" "<=" 0
    check "moonrun RSS growth kB after warm-up, sqs" "${R[moonrun.sqs.rss_growth_kb]:-?}" "<=" 0
fi

[[ $failed -eq 0 ]] || exit 2
[[ ${STRICT:-0} != 1 || $missed -eq 0 ]] || exit 1
