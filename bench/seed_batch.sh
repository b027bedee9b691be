#!/usr/bin/env bash
# The seed's second example, looped against batched: the wall time of ten sqs.send_message
# calls (handlers/send_messages.lua's loop) and of one queue:send_messages of the same ten
# messages (one SendMessageBatch round trip), each the median of RUNS runs, against moto's
# server, which this script starts on a free port and stops. Prints both medians and their
# ratio. See bench/README.md.
#
# Environment: MOONRUN (default build/moonrun, relative to the repository root), BUILD_DIR
# (default bench/build), RUNS (20), CPU (0: moonrun), SERVER_CPU (default CPU: moto_server),
# MOTO_SERVER (moto_server), PYTHON (python3).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUNS=${RUNS:-20}
SERVER_CPU=${SERVER_CPU:-$CPU}
MOTO_SERVER=${MOTO_SERVER:-moto_server}
PYTHON=${PYTHON:-python3}

if [[ ! -x $MOONRUN ]]; then
    echo "seed_batch.sh: $MOONRUN not found (build it, or set MOONRUN)" >&2
    exit 2
fi
LOG=$BUILD_DIR/seed-batch-moto.log

PIN_CLIENT=() PIN_SERVER=()
if command -v taskset >/dev/null; then PIN_CLIENT=(taskset -c "$CPU") PIN_SERVER=(taskset -c "$SERVER_CPU"); fi

# A port nobody listens on now (another process could take it before moto does: then moto
# fails to start and this script says so).
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

"${PIN_SERVER[@]}" "$MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$LOG" 2>&1 &
moto_pid=$!
stop_moto() {
    kill -TERM "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
}
trap stop_moto EXIT

for _ in $(seq 200); do
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "seed_batch.sh: moto_server exited; see $LOG" >&2
        exit 2
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

# Dummy credentials, as moto takes any; no profile files, no metadata service.
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing \
    AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN

echo "seed batch bench: moonrun on cpu $CPU, moto_server on cpu $SERVER_CPU (port $port), $RUNS runs"
rc=0
out=$("${PIN_CLIENT[@]}" "$MOONRUN" run "$BENCH/seed_batch_bench.lua" "$RUNS" 2>&1) || rc=$?
if [[ $rc -ne 0 || $out != runs=* ]]; then
    echo "seed_batch.sh: the run failed (exit $rc): $out" >&2
    exit 2
fi
declare -A R
for kv in $(head -n 1 <<<"$out"); do R[${kv%%=*}]=${kv#*=}; done
while IFS= read -r l; do echo "  $l"; done <<<"$out"
echo
printf '%-44s %10s ms\n' "seed loop, 10 x send_message (median)" "${R[loop_ms]}"
printf '%-44s %10s ms\n' "queue:send_messages, 1 batch of 10 (median)" "${R[batch_ms]}"
printf '%-44s %10s\n' "ratio loop/batch" "${R[ratio]}"
