#!/usr/bin/env bash
# The embedded SQS endpoint of `moonrun dev` against moto's server: SendMessage, ReceiveMessage
# and DeleteMessage operations per second, with the same client (bench/dev_sqs_bench.lua, one
# moonrun.sqs client on one keep-alive connection), the same N and the same messages, in one
# run. Prints each rate, the ratio embedded/moto per operation, and the target (>= 20x moto).
#
# Both servers and the client are pinned to one CPU (CPU, default 0), as in sqs_client.sh: on a
# VM, waking the idle second vCPU at every round trip costs more than either side's work.
#
# Environment: MOONRUN (default build/moonrun), N (1000 messages), CPU, STRICT=1 to exit 1 when
# a target is missed.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-1000}
TARGET=20
start_servers
use_dev_credentials

PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c "$CPU"); fi

embedded_port=$(free_port)
"${PIN[@]}" "$MOONRUN" dev --sqs-only --sqs-port "$embedded_port" --state "$work/state" >"$work/dev.log" 2>&1 &
pids+=($!)
moto_port=$(free_port)
"${PIN[@]}" moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$embedded_port"
wait_port "$moto_port"

run_client() {
    AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$1 "${PIN[@]}" "$MOONRUN" run "$BENCH/dev_sqs_bench.lua" "bench-$RANDOM" "$N"
}
embedded=$(run_client "$embedded_port")
moto=$(run_client "$moto_port")
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

printf 'N=%d messages, one moonrun.sqs client, operations per second\n' "$N"
printf '%-10s %12s %12s %8s\n' operation embedded moto ratio
for op in send receive delete; do
    e=$(field "$op" "$embedded") m=$(field "$op" "$moto")
    printf '%-10s %12s %12s %8s\n' "$op" "$e" "$m" "$(ratio "$e" "$m")"
done
for op in send receive delete; do
    check "$op: embedded / moto" "$(ratio "$(field "$op" "$embedded")" "$(field "$op" "$moto")")" ">=" "$TARGET"
done
[[ ${STRICT:-0} != 1 || $missed == 0 ]]
