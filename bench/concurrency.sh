#!/usr/bin/env bash
# Throughput of moonrun with 1 worker against WORKERS workers (AWS_LAMBDA_MAX_CONCURRENCY) on
# the SQS event, in the same run. One worker shares CPU 0 with the fake Runtime API, as in
# run.sh; with several, each connection's server thread is pinned to the next CPU in turn
# (--spread), so each worker shares a core with the thread serving it. The rounds alternate,
# so a neighbour's load falls on both; the medians and their ratio are printed, and the
# runtime's CPU time per invocation (all threads): equal figures mean the workers do not slow
# each other down.
# See bench/README.md.
#
# Environment: MOONRUN (default build/moonrun, relative to the repository root), BUILD_DIR
# (default bench/build), WORKERS (2), N (30000 invocations a round), ROUNDS (5), EVENT (sqs),
# CC, CFLAGS, STRICT=1 to exit 1 when the ratio misses its goal (1.6).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WORKERS=${WORKERS:-2}
N=${N:-30000}
ROUNDS=${ROUNDS:-5}
EVENT=${EVENT:-sqs}

if [[ ! -x $MOONRUN ]]; then
    echo "concurrency.sh: $MOONRUN not found (build it, or set MOONRUN)" >&2
    exit 2
fi
build_tools fake_runtime_api
FAKE=$BUILD_DIR/fake_runtime_api

# shellcheck disable=SC2016 # "$LATEST" is literal, as Lambda spells it
export _HANDLER=echo.handler LAMBDA_TASK_ROOT=$BENCH AWS_REGION=us-east-1 \
    AWS_LAMBDA_FUNCTION_NAME=bench AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bench \
    AWS_LAMBDA_LOG_STREAM_NAME='2024/06/01/[$LATEST]bench'
unset AWS_LAMBDA_MAX_CONCURRENCY # the harness sets it for more than one worker

# rate WORKERS: one harness run; prints its rate and the runtime's CPU microseconds per
# invocation, or fails if the run failed or saw errors.
rate() {
    local log=$BUILD_DIR/concurrency-$1.log line rc=0 placement=(--cpu 0)
    [[ $1 -gt 1 ]] && placement=(--spread "$(nproc)")
    line=$("$FAKE" "${placement[@]}" --concurrency "$1" --event "$BENCH/events/$EVENT.json" --count "$N" \
        --warmup $((N / 10 < 1000 ? N / 10 : 1000)) --log "$log" -- "$MOONRUN") || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "concurrency.sh: $1 worker(s) failed (exit $rc); see $log" >&2
        return 1
    fi
    echo "  $1 worker(s): $line" >&2
    local r=${line#*rate=} cpu=${line#*cpu_seconds=}
    echo "${r%% *} $(awk -v c="${cpu%% *}" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / n }')"
}

median() { sort -g | awk '{v[NR] = $1} END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "concurrency: $(nproc) cores, $EVENT event, $N invocations a round, $ROUNDS rounds, 1 vs $WORKERS workers"
one=() many=() cpu1=() cpun=()
for _ in $(seq "$ROUNDS"); do
    read -r r c <<<"$(rate 1)"
    one+=("$r") cpu1+=("$c")
    read -r r c <<<"$(rate "$WORKERS")"
    many+=("$r") cpun+=("$c")
done
r1=$(printf '%s\n' "${one[@]}" | median)
rn=$(printf '%s\n' "${many[@]}" | median)
c1=$(printf '%s\n' "${cpu1[@]}" | median)
cn=$(printf '%s\n' "${cpun[@]}" | median)
ratio=$(awk -v a="$rn" -v b="$r1" 'BEGIN { printf "%.2f", a / b }')
echo
printf '%-10s %10s %9s CPU µs/invocation   (rounds: %s)\n' "1 worker" "$r1/s" "$c1" "${one[*]}"
printf '%-10s %10s %9s CPU µs/invocation   (rounds: %s)\n' "$WORKERS workers" "$rn/s" "$cn" "${many[*]}"
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.6 ? "ok" : "MISSED") }')
printf '%-44s %10s   goal >= 1.6    %s\n' "throughput $WORKERS workers / 1 worker" "$ratio" "$verdict"
[[ ${STRICT:-0} != 1 || $verdict == ok ]] || exit 1
