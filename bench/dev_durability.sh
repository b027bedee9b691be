#!/usr/bin/env bash
# The cost of each --durability mode of moonrun dev's embedded SQS: SendMessage, ReceiveMessage
# and DeleteMessage operations per second with the same client (bench/dev_sqs_bench.lua), the
# same N and the same messages, against `moonrun dev --sqs-only --durability MODE` for write
# (the default), sync (fdatasync before each answer) and interval (fdatasync every second), in
# one run. Prints each rate and its ratio to write's. The state folder is on the disk that holds
# $TMPDIR (a tmpfs there makes fdatasync free and the figures meaningless: the script says so).
#
# Environment: MOONRUN (default build/moonrun), N (1000 messages), CPU.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-1000}
start_servers
use_dev_credentials
if [[ $(stat -f -c %T "$work") == tmpfs ]]; then
    echo "note: $work is on a tmpfs: fdatasync costs nothing there; set TMPDIR to a real disk" >&2
fi

PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c "$CPU"); fi
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

declare -A rate
for mode in write sync interval; do
    port=$(free_port)
    "${PIN[@]}" "$MOONRUN" dev --sqs-only --sqs-port "$port" --state "$work/$mode" --durability "$mode" \
        >"$work/$mode.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_port "$port"
    result=$(AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$port "${PIN[@]}" "$MOONRUN" run "$BENCH/dev_sqs_bench.lua" "bench-$RANDOM" "$N")
    for op in send receive delete; do rate[$mode.$op]=$(field "$op" "$result"); done
    kill -TERM "$pid"
done

printf 'N=%d messages, one moonrun.sqs client, operations per second by --durability\n' "$N"
printf '%-10s %10s %10s %10s %12s %14s\n' operation write sync interval sync/write interval/write
for op in send receive delete; do
    w=${rate[write.$op]} s=${rate[sync.$op]} i=${rate[interval.$op]}
    printf '%-10s %10s %10s %10s %12s %14s\n' "$op" "$w" "$s" "$i" "$(ratio "$s" "$w")" "$(ratio "$i" "$w")"
done
