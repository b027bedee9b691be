#!/usr/bin/env bash
# Soak: a long run of the runtime loop against bench/fake_runtime_api, reporting resident memory
# after warm-up and at the end. Two runs: the echo handler on the small event (the loop itself,
# 1,000,000 invocations by default) and a handler that sends one SQS message per invocation to
# bench/canned_sqs (the AWS path). The floor client's figures on the small event, measured in the
# same run, are the peer. Target: RSS growth after warm-up under 1%. See bench/README.md.
#
# Environment: MOONRUN (default build/moonrun), BUILD_DIR (bench/build), N_LOOP (1000000),
# N_AWS (200000), CPU (0), CC, CFLAGS, STRICT=1 to exit 1 when the target is missed.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N_LOOP=${N_LOOP:-1000000}
N_AWS=${N_AWS:-200000}

[[ -x $MOONRUN ]] || { echo "soak.sh: $MOONRUN not found: build moonrun first" >&2; exit 2; }
build_tools fake_runtime_api floor_client canned_sqs

# shellcheck disable=SC2016 # "$LATEST" is literal, as Lambda spells it
export LAMBDA_TASK_ROOT=$BENCH AWS_REGION=us-east-1 AWS_LAMBDA_FUNCTION_NAME=soak \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
    AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLETOKEN AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_MAX_ATTEMPTS AWS_RETRY_MODE

failed=0
# soak NAME EVENT COUNT CMD...: one harness run; prints its result line.
soak() {
    local name=$1 event=$2 count=$3 rc=0
    shift 3
    "$BUILD_DIR/fake_runtime_api" --cpu "$CPU" --event "$BENCH/events/$event.json" --count "$count" \
        --warmup 10000 --timeout 1800 --log "$BUILD_DIR/soak-$name.log" -- "$@" || rc=$?
    [[ $rc -eq 0 ]] || { echo "soak.sh: $name failed (exit $rc); see $BUILD_DIR/soak-$name.log" >&2; return 1; }
}

# growth LINE: the RSS growth after warm-up, in percent of the warm figure.
growth() {
    awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }}
         END { if (f["rss_kb_warm"] > 0) printf "%.2f", 100 * (f["rss_kb_end"] - f["rss_kb_warm"]) / f["rss_kb_warm"]; else print "?" }' <<<"$1"
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

echo "soak: cpu $CPU, $N_LOOP loop invocations, $N_AWS AWS-path invocations"
floor=$(soak floor small "$N_LOOP" "$BUILD_DIR/floor_client") || failed=1
loop=$(_HANDLER=echo.handler soak loop small "$N_LOOP" "$MOONRUN") || failed=1

BODY='{"order":42,"items":["a","b","c"]}'
out=$BUILD_DIR/soak-canned.out
: >"$out" # emptied first: a stale port= line from an earlier run must not be read
taskset -c "$CPU" "$BUILD_DIR/canned_sqs" --md5 "$(printf '%s' "$BODY" | md5sum | cut -d' ' -f1)" >"$out" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
port=
for _ in $(seq 100); do port=$(sed -n 's/^port=//p' "$out"); [[ -n $port ]] && break; sleep 0.05; done
[[ -n $port ]] || { echo "soak.sh: canned_sqs did not start; see $out" >&2; exit 2; }
aws=$(_HANDLER=soak_sqs.handler AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$port SOAK_BODY=$BODY \
    SOAK_QUEUE_URL=http://127.0.0.1:$port/123456789012/soak soak aws small "$N_AWS" "$MOONRUN") || failed=1

printf '\n%-22s %12s %10s %10s %9s %8s %7s\n' run invocations rss_warm rss_end growth% rate/s errors
for row in "floor:$floor" "moonrun loop:$loop" "moonrun AWS path:$aws"; do
    name=${row%%:*} line=${row#*:}
    printf '%-22s %12s %10s %10s %9s %8s %7s\n' "$name" "$(field "$line" invocations)" \
        "$(field "$line" rss_kb_warm)" "$(field "$line" rss_kb_end)" "$(growth "$line")" \
        "$(field "$line" rate)" "$(field "$line" errors)"
done
missed=0
for row in "loop:$loop" "AWS path:$aws"; do
    g=$(growth "${row#*:}")
    verdict=$(awk -v g="$g" 'BEGIN { print (g ~ /^-?[0-9.]+$/ && g < 1) ? "ok" : "MISSED" }')
    [[ $verdict == ok ]] || missed=1
    printf 'RSS growth after warm-up, %-9s %6s%%   goal < 1%%   %s\n' "${row%%:*}" "$g" "$verdict"
done
[[ $failed -eq 0 ]] || exit 2
[[ ${STRICT:-0} != 1 || $missed -eq 0 ]] || exit 1
