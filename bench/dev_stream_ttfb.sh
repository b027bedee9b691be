#!/usr/bin/env bash
# Time to first byte of a streamed response through `moonrun dev`'s function URLs: the same
# handler (bench/dev_stream/stream.lua, a stream.http response of CHUNKS pieces with PAUSE
# seconds between them) behind a RESPONSE_STREAM function URL and behind its BUFFERED twin.
# Prints p50 and p99 of the first body byte and of the whole response for each, and the ratio
# buffered / streamed. Two shapes: a handler that works between its pieces (CHUNKS=10,
# PAUSE=0.1: the first byte should come ~1 s earlier streamed), and one that writes 1 MiB at
# once in 64 KiB pieces (PAUSE=0: what relaying chunk by chunk costs against buffering).
#
# Environment: MOONRUN (default build/moonrun), N (20 requests per shape and mode).
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

N=${N:-20}
start_servers

port=$(free_port)
log=$work/dev.log
"$MOONRUN" dev "$BENCH/dev_stream/template.yaml" --port "$port" --sqs-port 0 --function-url-port 0 \
    --state "$work/state" >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q -- "-> Streamed" "$log" && grep -q -- "-> Buffered" "$log" && break; sleep 0.05; done
streamed=$(sed -n 's|.*url *\(http://[0-9.:]*\)/ *-> Streamed.*|\1|p' "$log")
buffered=$(sed -n 's|.*url *\(http://[0-9.:]*\)/ *-> Buffered.*|\1|p' "$log")
[[ -n $streamed && -n $buffered ]] || { echo "dev_stream_ttfb.sh: no function URLs in moonrun dev's banner:" >&2; cat "$log" >&2; exit 1; }

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
shape() { # shape LABEL QUERY
    local s b
    s=$(python3 "$BENCH/dev_stream_ttfb.py" "$streamed/?$2" "$N")
    b=$(python3 "$BENCH/dev_stream_ttfb.py" "$buffered/?$2" "$N")
    printf '%s (%s bytes answered), N=%d, milliseconds\n' "$1" "$(field bytes "$s")" "$N"
    printf '  %-26s %10s %10s %10s %10s\n' "" "ttfb p50" "ttfb p99" "total p50" "total p99"
    printf '  %-26s %10s %10s %10s %10s\n' "RESPONSE_STREAM" "$(field ttfb_p50_ms "$s")" "$(field ttfb_p99_ms "$s")" \
        "$(field total_p50_ms "$s")" "$(field total_p99_ms "$s")"
    printf '  %-26s %10s %10s %10s %10s\n' "BUFFERED (twin)" "$(field ttfb_p50_ms "$b")" "$(field ttfb_p99_ms "$b")" \
        "$(field total_p50_ms "$b")" "$(field total_p99_ms "$b")"
    printf '  %-26s %10s %10s %10s %10s\n' "buffered / streamed" \
        "$(ratio "$(field ttfb_p50_ms "$b")" "$(field ttfb_p50_ms "$s")")" \
        "$(ratio "$(field ttfb_p99_ms "$b")" "$(field ttfb_p99_ms "$s")")" \
        "$(ratio "$(field total_p50_ms "$b")" "$(field total_p50_ms "$s")")" \
        "$(ratio "$(field total_p99_ms "$b")" "$(field total_p99_ms "$s")")"
}

shape "10 pieces of 1 KiB, 0.1 s apart" "chunks=10&size=1024&pause=0.1"
shape "16 pieces of 64 KiB at once" "chunks=16&size=65536&pause=0"
