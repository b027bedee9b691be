#!/usr/bin/env bash
# Soak: long runs of the runtime loop against bench/fake_runtime_api, which sends every
# per-invocation header as Lambda does (a new request id, deadline and trace id every time, a
# client context and identity of a few KB on one in eight), reporting resident memory after
# warm-up and at the end, and the growth per invocation. Runs: the echo handler on the small
# and the SQS event with one and with four workers (the loop itself, 1,000,000 invocations each
# by default), a handler that sends one SQS message per invocation to bench/canned_sqs (the AWS
# path), and events of 1 KB, 64 KB, 1 MB and 6 MB. The floor client on the small event is the
# peer. Target: no growth after warm-up: under 0.05 bytes per invocation (one byte kept per
# invocation would show as 1), or, for a short run, under one event plus 64 KB (the heap's
# resident size moves by about a payload from one moment to the next). See bench/README.md.
#
# Environment: MOONRUN (default build/moonrun), BUILD_DIR (bench/build), N_LOOP (1000000),
# N_AWS (200000), N_SIZES (20000; the 6 MB event a tenth of it), WARMUP (10000), CPU (0), CC,
# CFLAGS, ONLY (a space-separated list of run names, e.g. "small-1 sqs-4"), STRICT=1 to exit 1
# when the target is missed.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N_LOOP=${N_LOOP:-1000000}
N_AWS=${N_AWS:-200000}
N_SIZES=${N_SIZES:-20000}
WARMUP=${WARMUP:-10000}
ONLY=${ONLY:-}

[[ -x $MOONRUN ]] || { echo "soak.sh: $MOONRUN not found: build moonrun first" >&2; exit 2; }
build_tools fake_runtime_api floor_client canned_sqs

# shellcheck disable=SC2016 # "$LATEST" is literal, as Lambda spells it
export LAMBDA_TASK_ROOT=$BENCH AWS_REGION=us-east-1 AWS_LAMBDA_FUNCTION_NAME=soak \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
    AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLETOKEN AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_MAX_ATTEMPTS AWS_RETRY_MODE AWS_LAMBDA_MAX_CONCURRENCY

# Events of a given size: {"data":"xxx..."}, written once into the build directory.
sized_event() {
    local bytes=$1 path=$BUILD_DIR/event-$1.json
    [[ -s $path ]] || python3 -c 'import sys; n = int(sys.argv[1]) - 12; sys.stdout.write("{\"data\":\"%s\"}" % ("x" * n))' \
        "$bytes" >"$path"
    echo "$path"
}

wanted() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }

failed=0
rows=()
# soak NAME EVENT_FILE COUNT CONCURRENCY CMD...: one harness run; its result line joins rows.
soak() {
    local name=$1 event=$2 count=$3 concurrency=$4 rc=0 line warm=$WARMUP
    shift 4
    wanted "$name" || return 0
    ((warm <= count / 2)) || warm=$((count / 10))
    line=$("$BUILD_DIR/fake_runtime_api" --cpu "$CPU" --event "$event" --count "$count" \
        --warmup "$warm" --concurrency "$concurrency" --timeout 3600 \
        --log "$BUILD_DIR/soak-$name.log" -- "$@") || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "soak.sh: $name failed (exit $rc); see $BUILD_DIR/soak-$name.log" >&2
        failed=1
        return 0
    fi
    echo "$name: $line"
    rows+=("$name:$line")
}

echo "soak: cpu $CPU, $N_LOOP loop invocations per run, $N_AWS on the AWS path, $N_SIZES per event size"
soak floor "$BENCH/events/small.json" "$N_LOOP" 1 "$BUILD_DIR/floor_client"
for event in small sqs; do
    for workers in 1 4; do
        _HANDLER=echo.handler soak "$event-$workers" "$BENCH/events/$event.json" "$N_LOOP" "$workers" "$MOONRUN"
    done
done
for size in 1024 65536 1048576 6291000; do
    count=$N_SIZES
    ((size < 6000000)) || count=$((N_SIZES / 10))
    for workers in 1 4; do
        _HANDLER=echo.handler soak "size$size-$workers" "$(sized_event "$size")" "$count" "$workers" "$MOONRUN"
    done
done

if wanted aws; then
    BODY='{"order":42,"items":["a","b","c"]}'
    out=$BUILD_DIR/soak-canned.out
    : >"$out" # emptied first: a stale port= line from an earlier run must not be read
    taskset -c "$CPU" "$BUILD_DIR/canned_sqs" --md5 "$(printf '%s' "$BODY" | md5sum | cut -d' ' -f1)" >"$out" 2>&1 &
    server=$!
    trap 'kill -TERM $server 2>/dev/null || true' EXIT
    port=
    for _ in $(seq 100); do port=$(sed -n 's/^port=//p' "$out"); [[ -n $port ]] && break; sleep 0.05; done
    [[ -n $port ]] || { echo "soak.sh: canned_sqs did not start; see $out" >&2; exit 2; }
    _HANDLER=soak_sqs.handler AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$port SOAK_BODY=$BODY \
        SOAK_QUEUE_URL=http://127.0.0.1:$port/123456789012/soak soak aws "$BENCH/events/small.json" "$N_AWS" 1 "$MOONRUN"
fi

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# per_invocation LINE [FROM]: bytes of RSS growth per timed invocation, from the RSS after warm-up
# (or, with FROM=rss_kb_mid, from half-way: a growth that has stopped by then is not a leak).
per_invocation() {
    awk -v w="$(field "$1" "${2:-rss_kb_warm}")" -v e="$(field "$1" rss_kb_end)" -v n="$(field "$1" invocations)" \
        -v half="${2:-}" 'BEGIN { if (half != "") n = n - int(n / 2);
                                  if (n > 0 && w > 0) printf "%.3f", (e - w) * 1024 / n; else print "?" }'
}

missed=0
printf '\n%-16s %11s %9s %9s %9s %10s %10s %11s %7s %6s  %s\n' run invocations rss_warm rss_mid rss_end \
    growth_kb bytes/inv 2nd_half/inv rate/s errors verdict
for row in "${rows[@]}"; do
    name=${row%%:*} line=${row#*:} b=$(per_invocation "${row#*:}")
    verdict=$(awk -v b="$b" -v g="$(field "$line" rss_growth_kb)" -v e="$(field "$line" event_bytes)" \
        'BEGIN { print (b ~ /^-?[0-9.]+$/ && (b < 0.05 || g * 1024 < e + 65536)) ? "ok" : "MISSED" }')
    [[ $name == floor || $verdict == ok ]] || missed=1
    [[ $name != floor ]] || verdict=peer
    printf '%-16s %11s %9s %9s %9s %10s %10s %11s %7s %6s  %s\n' "$name" "$(field "$line" invocations)" \
        "$(field "$line" rss_kb_warm)" "$(field "$line" rss_kb_mid)" "$(field "$line" rss_kb_end)" \
        "$(field "$line" rss_growth_kb)" "$b" "$(per_invocation "$line" rss_kb_mid)" "$(field "$line" rate)" \
        "$(field "$line" errors)" "$verdict"
done
echo "target: under 0.05 bytes of RSS growth per invocation after warm-up, or less than one event + 64 KB"
[[ $failed -eq 0 ]] || exit 2
[[ ${STRICT:-0} != 1 || $missed -eq 0 ]] || exit 1
