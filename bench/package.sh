#!/usr/bin/env bash
# The packaged runtime's start-up: builds the function zip (bootstrap/package.sh, with the
# handlers of bench/package_handlers), unpacks it, and measures, next to the floor client in the
# same run: cold start (exec to the first complete GET /next, handler loaded; median of
# COLD_RUNS), the bytes read from disk before that GET, and the zip sizes. Two handlers:
# plain.lua (nothing but moonrun's C modules at init) and sqs_init.lua (requires moonrun.sqs
# and makes a first call at init, which loads libcurl and OpenSSL). See bench/README.md.
# Then `moonrun package`: a moonrun init project whose rockspec declares the test rocks
# (tests/rocks, from a local server), packaged for this machine's architecture; the time of
# repackaging it unchanged (median of INCREMENTAL_RUNS), and the cold start of rocks_init.handler
# (requires a pure-Lua rock, one depending on it and a C rock at init) against plain.handler.
#
# Environment: BUILD_DIR (default bench/build), COLD_RUNS (20), INCREMENTAL_RUNS (10), CPU (0),
# CC, CFLAGS, MOONRUN (build/moonrun), STRICT=1 to exit 1 when a target is missed.
set -euo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COLD_RUNS=${COLD_RUNS:-20}
INCREMENTAL_RUNS=${INCREMENTAL_RUNS:-10}
ARCH=$(uname -m | sed 's/aarch64/arm64/')

build_tools fake_runtime_api floor_client tls_load
FAKE=$BUILD_DIR/fake_runtime_api

dist=$BUILD_DIR/package-dist
"$REPO/bootstrap/package.sh" --handlers "$BENCH/package_handlers" --out "$dist" \
    --work "$REPO/build/package" | sed 's/^/  /'
task=$BUILD_DIR/package-task
rm -rf "$task"
unzip -q "$dist/moonrun-function-$ARCH.zip" -d "$task"

# shellcheck disable=SC2016 # "$LATEST" is literal, as Lambda spells it
export LAMBDA_TASK_ROOT=$task AWS_REGION=us-east-1 AWS_LAMBDA_FUNCTION_NAME=bench \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128

# The project for moonrun package, and a task root with its handlers and its dependencies layer's
# modules beside the function zip's (the task root is searched as /opt/lua is: ?.lua and ?.so).
project=$BUILD_DIR/package-project
rm -rf "$project" "$BUILD_DIR/package-rocks"
"$MOONRUN" init "$project" >/dev/null
sed -i 's/^  "lua >= 5.4",$/  "lua >= 5.4", "mrtest-cmod", "mrtest-dependent",/' "$project"/*.rockspec
cat >"$project/src/rocks_init.lua" <<'LUA'
-- bench/package.sh: a handler that requires a pure-Lua rock, one depending on it and a C rock at init
local pure, dependent, cmod = require "mrtest_pure", require "mrtest_dependent", require "mrtest_cmod"
return {handler = function(event) return event end, loaded = {pure, dependent, cmod}}
LUA
server=$(python3 "$REPO/tests/rocks_server.py" "$BUILD_DIR/package-rocks")
(cd "$project" && MOONRUN_PACKAGE_WORK=$REPO/build/package "$MOONRUN" package --arch "$ARCH" --server "$server") |
    sed 's/^/  /'
INCREMENTAL=()
for _ in $(seq "$INCREMENTAL_RUNS"); do
    start=$(date +%s%N)
    (cd "$project" && "$MOONRUN" package --arch "$ARCH" --server "$server") >"$BUILD_DIR/package-incremental.log"
    INCREMENTAL+=("$(awk -v ns="$(($(date +%s%N) - start))" 'BEGIN { printf "%.1f", ns / 1e6 }')")
done
grep -c unchanged "$BUILD_DIR/package-incremental.log" | grep -qx 3 ||
    { echo "package.sh: the second moonrun package was not all unchanged:" >&2; cat "$BUILD_DIR/package-incremental.log" >&2; exit 2; }
rocks_task=$BUILD_DIR/package-task-rocks
rm -rf "$rocks_task"
cp -a "$task" "$rocks_task"
unzip -q -o "$project/dist/handlers-src.zip" -d "$rocks_task"
unzip -q -o "$project/dist/deps-layer-$ARCH.zip" 'lua/*' -d "$rocks_task/deps"
mv "$rocks_task"/deps/lua/* "$rocks_task/"
rm -rf "$rocks_task/deps"

declare -A COLD BYTES ZIPBYTES RUNS TLS
# cold_once NAME HANDLER CMD...: one one-invocation run; its cold_start_ms joins RUNS[NAME].
cold_once() {
    local name=$1 line c
    line=$(_HANDLER=$2 "$FAKE" --cpu "$CPU" --event "$BENCH/events/small.json" --count 1 \
        --warmup 0 --log "$BUILD_DIR/package-$name.log" -- "${@:3}") ||
        { echo "package.sh: $name failed; see $BUILD_DIR/package-$name.log" >&2; exit 2; }
    c=${line#cold_start_ms=}
    RUNS[$name]+="${c%% *} "
}
median() {
    tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR] = $1} END {
        printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# bytes NAME HANDLER CMD...: bench/startup_bytes.py's figures.
bytes() {
    local name=$1 out line
    out=$(python3 "$BENCH/startup_bytes.py" --env "_HANDLER=$2" -- "${@:3}")
    echo "$out" >"$BUILD_DIR/package-$name-files.txt" # the mapped files, one a line
    line=${out%%$'\n'*}
    BYTES[$name]=$(grep -o 'total_bytes=[0-9]*' <<<"$line" | cut -d= -f2)
    ZIPBYTES[$name]=$(grep -o 'zip_mapped_bytes=[0-9]*' <<<"$line" | cut -d= -f2)
    echo "  $name: $line"
}

echo "bench: cpu $CPU, $COLD_RUNS cold starts each, $ARCH zip unpacked in $task"
# Interleaved, so that a change in the machine's load touches all three alike.
for _ in $(seq "$COLD_RUNS"); do
    cold_once floor none "$BUILD_DIR/floor_client"
    cold_once plain plain.handler "$task/bootstrap"
    cold_once sqs_init sqs_init.handler "$task/bootstrap"
    LAMBDA_TASK_ROOT=$rocks_task cold_once rocks_init rocks_init.handler "$rocks_task/bootstrap"
    # sqs_init's first request loads these; their cost alone, step by step, in a fresh process
    tls=$("$BUILD_DIR/tls_load" "$task/lib") || { echo "package.sh: tls_load failed" >&2; exit 2; }
    for part in crypto ssl curl global_init total; do
        v=${tls#*"${part}_ms="}
        TLS[$part]+="${v%% *} "
    done
done
for rt in floor plain sqs_init rocks_init; do COLD[$rt]=$(median "${RUNS[$rt]}"); done
bytes floor none "$BUILD_DIR/floor_client"
bytes plain plain.handler "$task/bootstrap"
bytes sqs_init sqs_init.handler "$task/bootstrap"
LAMBDA_TASK_ROOT=$rocks_task bytes rocks_init rocks_init.handler "$rocks_task/bootstrap"

echo
printf '%-10s %9s %8s %14s %16s\n' runtime cold_ms ratio startup_bytes of_them_zip
for rt in floor plain sqs_init rocks_init; do
    printf '%-10s %9s %8s %14s %16s\n' "$rt" "${COLD[$rt]}" "$(ratio "${COLD[$rt]}" "${COLD[floor]}")" \
        "${BYTES[$rt]}" "${ZIPBYTES[$rt]}"
done

echo
printf 'loading TLS at the first request (bench/tls_load.c, medians, ms): libcrypto %s, libssl %s, libcurl %s, curl_global_init %s; total %s = %s x the floor\n' \
    "$(median "${TLS[crypto]}")" "$(median "${TLS[ssl]}")" "$(median "${TLS[curl]}")" \
    "$(median "${TLS[global_init]}")" "$(median "${TLS[total]}")" "$(ratio "$(median "${TLS[total]}")" "${COLD[floor]}")"

echo
check "cold start plain/floor (medians)" "$(ratio "${COLD[plain]}" "${COLD[floor]}")" "<=" 3
check "cold start sqs_init/floor (medians)" "$(ratio "${COLD[sqs_init]}" "${COLD[floor]}")" "<=" 2
check "cold start rocks_init/plain (medians)" "$(ratio "${COLD[rocks_init]}" "${COLD[plain]}")" "<=" 1.5
incremental_ms=$(median "${INCREMENTAL[*]}")
check "moonrun package, unchanged project (ms, median)" "$incremental_ms" "<=" 1000
check "bytes read at start-up, plain" "${BYTES[plain]}" "<=" 3145728
check "bytes read at start-up, sqs_init" "${BYTES[sqs_init]}" "<=" 3145728
check "function zip bytes ($ARCH)" "$(stat -c %s "$dist/moonrun-function-$ARCH.zip")" "<=" 3145728
check "layer zip bytes ($ARCH)" "$(stat -c %s "$dist/moonrun-layer-$ARCH.zip")" "<=" 3145728
[[ ${STRICT:-0} != 1 || $missed -eq 0 ]] || exit 1
