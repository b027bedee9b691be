#!/usr/bin/env bash
# SQS client speed: sqs.send_message calls per second through moonrun.sqs and through boto3,
# each on one client (one keep-alive connection) against bench/canned_sqs, a server that answers
# every SendMessage at once, so the figures are the clients' own cost. Prints both rates, the
# ratio moonrun/boto3 and the target. See bench/README.md.
#
# Environment: MOONRUN (default build/moonrun, relative to the repository root), BUILD_DIR
# (default bench/build), N (20000 moonrun calls), WARMUP (500), N_BOTO3 (3000), WARMUP_BOTO3
# (200), CPU (0: the clients), SERVER_CPU (default CPU: the canned server), PYTHON (python3),
# CC, CFLAGS, STRICT=1 to exit 1 when the target is missed.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-20000}
WARMUP=${WARMUP:-500}
N_BOTO3=${N_BOTO3:-3000}
WARMUP_BOTO3=${WARMUP_BOTO3:-200}
# The server shares the clients' CPU, as the fake Runtime API does in run.sh: on a VM, waking an
# idle second vCPU on every round trip costs more than the client's own work.
SERVER_CPU=${SERVER_CPU:-$CPU}
PYTHON=${PYTHON:-python3}
TARGET=10

build_tools canned_sqs

# The command prefixes that pin the clients and the server (taskset execs the command, so a
# background server's $! is the server itself).
PIN_CLIENT=() PIN_SERVER=()
if command -v taskset >/dev/null; then PIN_CLIENT=(taskset -c "$CPU") PIN_SERVER=(taskset -c "$SERVER_CPU"); fi

# The seed's message shape (handlers/send_messages.lua), always the same bytes, so the canned
# answer can carry its MD5.
BODY='{"body":"Hello from Lambda! - 7","attributes":{"messageId":"0190d3f4-5c1e-7a6b-9c2d-3e4f5a6b7c8d","timestamp":1718200000123}}'
BODY_MD5=$(printf '%s' "$BODY" | md5sum | cut -d' ' -f1)
MESSAGE_ID=5fea7756-0ea4-451a-a703-a558b933e274 # the one canned_sqs answers with

# Dummy credentials with a session token, as on Lambda; no profile files, no metadata service.
export AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
    AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLETOKEN AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_MAX_ATTEMPTS AWS_RETRY_MODE

server_pid=
stop_server() {
    if [[ -n $server_pid ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap stop_server EXIT

declare -A R # R[client.field] = value from a result line
failed=0

# measure NAME EXPECTED_REQUESTS CMD...: starts a canned server, runs CMD with URL and ENDPOINT
# set in its environment, then checks the server saw exactly EXPECTED_REQUESTS SendMessage calls.
measure() {
    local name=$1 expected=$2 log=$BUILD_DIR/sqs-client-$1.log out=$BUILD_DIR/canned-sqs-$1.out
    local port='' line kv rc=0
    shift 2
    "${PIN_SERVER[@]}" "$BUILD_DIR/canned_sqs" --md5 "$BODY_MD5" >"$out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/^port=//p' "$out")
        [[ -n $port ]] && break
        sleep 0.05
    done
    if [[ -z $port ]]; then
        echo "sqs_client.sh: canned_sqs did not start; see $out" >&2
        failed=1
        stop_server
        return
    fi
    export ENDPOINT=http://127.0.0.1:$port
    export URL=$ENDPOINT/123456789012/test-queue AWS_ENDPOINT_URL_SQS=$ENDPOINT
    line=$("${PIN_CLIENT[@]}" "$@" 2>"$log" | tail -n 1) || rc=$?
    stop_server
    for kv in $line $(tail -n 1 "$out"); do R[$name.${kv%%=*}]=${kv#*=}; done
    if [[ $rc -ne 0 || $line != calls=* ]]; then
        echo "sqs_client.sh: $name failed (exit $rc); see $log" >&2
        failed=1
    elif [[ ${R[$name.requests]:-} != "$expected" || ${R[$name.bad]:-} != 0 ]]; then
        echo "sqs_client.sh: $name: the server saw ${R[$name.requests]:-?} requests" \
            "(${R[$name.bad]:-?} bad), expected $expected" >&2
        failed=1
        line=
    fi
    echo "  $name: ${line:-FAILED} connections=${R[$name.connections]:-?}"
}

echo "sqs client bench: clients on cpu $CPU, server on cpu $SERVER_CPU, body ${#BODY} bytes"
clients=()
if [[ -x $MOONRUN ]]; then
    # URL is expanded by the inner shell, from the environment measure sets.
    # shellcheck disable=SC2016
    measure moonrun $((N + WARMUP)) sh -c 'exec "$0" run "$1" "$URL" "$2" "$3" "$4" "$5"' \
        "$MOONRUN" "$BENCH/sqs_client_bench.lua" "$BODY" "$MESSAGE_ID" "$N" "$WARMUP"
    clients+=(moonrun)
else
    echo "  moonrun: $MOONRUN not found (build it, or set MOONRUN); measured boto3 only"
fi
# shellcheck disable=SC2016
measure boto3 $((N_BOTO3 + WARMUP_BOTO3)) sh -c 'exec "$0" "$1" "$ENDPOINT" "$URL" "$2" "$3" "$4" "$5"' \
    "$PYTHON" "$BENCH/sqs_client_boto3.py" "$BODY" "$MESSAGE_ID" "$N_BOTO3" "$WARMUP_BOTO3"
clients+=(boto3)

echo
printf '%-8s %8s %8s %12s %12s\n' client calls seconds calls/s connections
for c in "${clients[@]}"; do
    printf '%-8s %8s %8s %12s %12s\n' "$c" "${R[$c.calls]:-?}" "${R[$c.seconds]:-?}" \
        "${R[$c.rate]:-?}" "${R[$c.connections]:-?}"
done

missed=0
if [[ -x $MOONRUN ]]; then
    ratio=$(awk -v a="${R[moonrun.rate]:-}" -v b="${R[boto3.rate]:-}" \
        'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1f", a / b; else print "?" }')
    verdict=$(awk -v v="$ratio" -v g=$TARGET 'BEGIN { if (v !~ /^[0-9.]+$/) print "n/a";
        else if (v >= g) print "ok"; else print "MISSED" }')
    [[ $verdict == ok ]] || missed=1
    echo
    printf '%-44s %10s   goal >= %-4s %s\n' "send_message calls/s, moonrun/boto3" "$ratio" "$TARGET" "$verdict"
fi

[[ $failed -eq 0 ]] || exit 2
[[ ${STRICT:-0} != 1 || $missed -eq 0 ]] || exit 1
