#!/usr/bin/env bash
# The packaged runtime's start-up: builds the function zip (bootstrap/package.sh, with the
# handlers of bench/package_handlers), unpacks it, and measures, next to the floor client in the
# same run: cold start (exec to the first complete GET /next, handler loaded; median of
# COLD_RUNS), the bytes read from disk before that GET, and the zip sizes. Two handlers:
# plain.lua (nothing but moonrun's C modules at init) and sqs_init.lua (requires moonrun.sqs
# and makes a first call at init, which loads libcurl and OpenSSL). See bench/README.md.
#
# Environment: BUILD_DIR (default bench/build), COLD_RUNS (20), CPU (0), CC, CFLAGS,
# STRICT=1 to exit 1 when a target is missed.
set -euo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COLD_RUNS=${COLD_RUNS:-20}
ARCH=$(uname -m | sed 's/aarch64/arm64/')

build_tools fake_runtime_api floor_client
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

declare -A COLD BYTES ZIPBYTES RUNS
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
done
for rt in floor plain sqs_init; do COLD[$rt]=$(median "${RUNS[$rt]}"); done
bytes floor none "$BUILD_DIR/floor_client"
bytes plain plain.handler "$task/bootstrap"
bytes sqs_init sqs_init.handler "$task/bootstrap"

echo
printf '%-10s %9s %8s %14s %16s\n' runtime cold_ms ratio startup_bytes of_them_zip
for rt in floor plain sqs_init; do
    printf '%-10s %9s %8s %14s %16s\n' "$rt" "${COLD[$rt]}" "$(ratio "${COLD[$rt]}" "${COLD[floor]}")" \
        "${BYTES[$rt]}" "${ZIPBYTES[$rt]}"
done

echo
check "cold start plain/floor (medians)" "$(ratio "${COLD[plain]}" "${COLD[floor]}")" "<=" 3
check "cold start sqs_init/floor (medians)" "$(ratio "${COLD[sqs_init]}" "${COLD[floor]}")" "<=" 3
check "bytes read at start-up, plain" "${BYTES[plain]}" "<=" 3145728
check "bytes read at start-up, sqs_init" "${BYTES[sqs_init]}" "<=" 3145728
check "function zip bytes ($ARCH)" "$(stat -c %s "$dist/moonrun-function-$ARCH.zip")" "<=" 3145728
check "layer zip bytes ($ARCH)" "$(stat -c %s "$dist/moonrun-layer-$ARCH.zip")" "<=" 3145728
[[ ${STRICT:-0} != 1 || $missed -eq 0 ]] || exit 1
