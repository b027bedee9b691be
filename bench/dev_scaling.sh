#!/usr/bin/env bash
# `moonrun dev` scaling as Lambda does (bench/dev_scaling/): SQS messages consumed per second by a
# trivial consumer with one batch at a time (ReservedConcurrentExecutions 1) and with ten
# (ScalingConfig.MaximumConcurrency 10), on the embedded SQS, against the same one-poller flow on
# moto's server (--sqs-endpoint); and HTTP requests per second to a 10 ms handler with 1 and 10
# instances (--max-concurrency, as many keep-alive clients). Prints the figures and their
# ratios; no target: the issue asks for the figures.
#
# A second pair of runs gives the consumer 20 ms of work a batch, where more batches at once pay.
# moto's server is slow to receive from a long queue (seconds a batch with thousands waiting), so
# its run takes N_MOTO messages, and the embedded SQS's one-poller run the same number again for
# the ratio.
#
# Environment: MOONRUN (default build/moonrun), N (2000 messages), N_MOTO (200), SECONDS_HTTP (5).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-2000}
N_MOTO=${N_MOTO:-200}
SECONDS_HTTP=${SECONDS_HTTP:-5}
start_servers
use_dev_credentials

wait_for() { # wait_for FILE PATTERN
    for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "dev_scaling.sh: '$2' never appeared in $1:" >&2
    cat "$1" >&2
    exit 1
}

# dev NAME RESERVED MAXCONC [options...]: starts moonrun dev on the template; sets $dev_pid,
# $front, $sqs_url. A later --state or --parameter in the options wins.
dev() {
    local name=$1 reserved=$2 maxconc=$3 log=$work/$1.log
    shift 3
    front_port=$(free_port)
    "$MOONRUN" dev "$BENCH/dev_scaling/template.yaml" --port "$front_port" --state "$work/$name-state" \
        --parameter "CountFile=$work/$name.count" --parameter "Reserved=$reserved" \
        --parameter "MaxConcurrency=$maxconc" "$@" >"$log" 2>&1 &
    dev_pid=$!
    pids+=("$dev_pid")
    wait_for "$log" "trigger"
    front="http://127.0.0.1:$front_port"
    sqs_url=$(sed -n 's/.*  sqs      \(http[^ ]*\).*/\1/p' "$log" | head -1)
}
stop_dev() { kill -TERM "$dev_pid"; wait "$dev_pid" || true; }

# consume NAME N RESERVED MAXCONC [options...]: N messages sent with the trigger off, then dev
# started again with it on; the rate from the first batch to the last, messages per second.
consume() {
    local name=$1 n=$2 reserved=$3 maxconc=$4 count=$work/$1.count
    shift 4
    dev "$name-fill" "$reserved" "$maxconc" "$@" --parameter TriggerEnabled=false
    "$MOONRUN" run "$BENCH/dev_scaling_send.lua" "$sqs_url" scaling-work "$n" \
        || { tail -20 "$work/$name-fill.log" >&2; exit 1; }
    stop_dev
    : >"$count"
    dev "$name" "$reserved" "$maxconc" "$@"
    local total=0
    for _ in $(seq 6000); do
        total=$(awk '{ n += $2 } END { print n + 0 }' "$count")
        [[ $total -ge $n ]] && break
        sleep 0.05
    done
    stop_dev
    [[ $total -ge $n ]] || { echo "dev_scaling.sh: $name consumed $total of $n" >&2; tail -20 "$work/$name.log" >&2; exit 1; }
    awk -v n="$n" 'NR == 1 { first = $1 - 0 } { last = $1 } END {
        # from the end of the first batch to the end of the last
        if (last > first) printf "%.0f", (n - 10) * 1000 / (last - first); else print "?" }' "$count"
}

# The embedded SQS keeps the messages across the two starts when they share the state folder.
embedded_consume() {
    local name=$1
    mkdir -p "$work/$name-shared"
    consume "$@" --sqs-port "$(free_port)" --state "$work/$name-shared"
}

one=$(embedded_consume embedded-1 "$N" 1 2)
ten=$(embedded_consume embedded-10 "$N" 10 10)
one_small=$(embedded_consume embedded-1-small "$N_MOTO" 1 2)
slow_one=$(embedded_consume slow-1 "$N" 1 2 --parameter SleepMs=20)
slow_ten=$(embedded_consume slow-10 "$N" 10 10 --parameter SleepMs=20)
moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto-server.log" 2>&1 &
pids+=($!)
wait_port "$moto_port"
moto=$(consume moto-1 "$N_MOTO" 1 2 --sqs-endpoint "http://127.0.0.1:$moto_port")

printf 'SQS messages consumed per second (batches of 10)\n'
printf '%-52s %10s\n' "trivial consumer, embedded SQS, 1 batch at a time" "$one"
printf '%-52s %10s\n' "trivial consumer, embedded SQS, MaximumConcurrency 10" "$ten"
printf '%-52s %10s\n' "  10 / 1" "$(ratio "$ten" "$one")"
printf '%-52s %10s\n' "20 ms consumer, embedded SQS, 1 batch at a time" "$slow_one"
printf '%-52s %10s\n' "20 ms consumer, embedded SQS, MaximumConcurrency 10" "$slow_ten"
printf '%-52s %10s\n' "  10 / 1" "$(ratio "$slow_ten" "$slow_one")"
printf '%-52s %10s\n' "trivial consumer, embedded SQS, 1 at a time, N_MOTO" "$one_small"
printf '%-52s %10s\n' "trivial consumer, moto, 1 poller, N_MOTO" "$moto"
printf '%-52s %10s\n' "  embedded / moto" "$(ratio "$one_small" "$moto")"
printf '(N=%d, N_MOTO=%d)\n' "$N" "$N_MOTO"

http_rate() { # http_rate INSTANCES: requests per second with as many clients
    dev "http-$1" 1 2 --sqs-port "$(free_port)" --max-concurrency "$1"
    python3 "$BENCH/dev_scaling_http.py" "$front" "$1" 0.5 >/dev/null # every instance warm
    python3 "$BENCH/dev_scaling_http.py" "$front" "$1" "$SECONDS_HTTP"
    stop_dev
}
h1=$(http_rate 1)
h10=$(http_rate 10)
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
printf '\nHTTP requests per second to a 10 ms handler (%s s, keep-alive clients = instances)\n' "$SECONDS_HTTP"
printf '%-44s %10s   %s\n' "1 instance" "$(field rps "$h1")" "${h1#* }"
printf '%-44s %10s   %s\n' "10 instances" "$(field rps "$h10")" "${h10#* }"
printf '%-44s %10s\n' "10 / 1" "$(ratio "$(field rps "$h10")" "$(field rps "$h1")")"
