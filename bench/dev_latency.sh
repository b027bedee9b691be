#!/usr/bin/env bash
# Latency from an HTTP request to the consumer's invocation through `moonrun dev`: POST /ping ->
# the Ping function sends a message -> the SQS trigger -> the Pong function (bench/dev_latency/).
# Measured with the embedded SQS endpoint, and with the same stack on moto's server
# (--sqs-endpoint) as the peer. Prints p50 and p99 of each and their ratio. No target: the
# issue asks for the figures.
#
# Environment: MOONRUN (default build/moonrun), N (200 pings).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-200}
start_servers
use_dev_credentials

wait_for() { # wait_for FILE PATTERN
    for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "dev_latency.sh: '$2' never appeared in $1:" >&2
    cat "$1" >&2
    exit 1
}

# measure NAME [moonrun dev options...]: prints the client's result line.
measure() {
    local name=$1 port log=$work/$1.log
    shift
    port=$(free_port)
    "$MOONRUN" dev "$BENCH/dev_latency/template.yaml" --port "$port" --state "$work/$name-state" "$@" \
        >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_for "$log" "trigger"
    sleep 1 # the trigger's first long poll is open
    "$MOONRUN" run "$BENCH/dev_latency_bench.lua" "http://127.0.0.1:$port" "$log" "$N" ||
        { echo "dev_latency.sh: the $name run failed; the end of moonrun dev's output:" >&2; tail -15 "$log" >&2; }
    kill -TERM "$pid"
    wait "$pid" || true
}

embedded=$(measure embedded --sqs-port "$(free_port)")
moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto-server.log" 2>&1 &
pids+=($!)
wait_port "$moto_port"
moto=$(measure moto --sqs-endpoint "http://127.0.0.1:$moto_port")
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

printf 'N=%d pings, HTTP request -> consumer invocation, milliseconds\n' "$N"
printf '%-22s %10s %10s\n' "" p50 p99
printf '%-22s %10s %10s\n' "embedded SQS" "$(field p50_ms "$embedded")" "$(field p99_ms "$embedded")"
printf '%-22s %10s %10s\n' "moto (--sqs-endpoint)" "$(field p50_ms "$moto")" "$(field p99_ms "$moto")"
printf '%-22s %10s %10s\n' "moto / embedded" "$(ratio "$(field p50_ms "$moto")" "$(field p50_ms "$embedded")")" \
    "$(ratio "$(field p99_ms "$moto")" "$(field p99_ms "$embedded")")"
