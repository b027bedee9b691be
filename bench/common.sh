# Sourced by the bench scripts: where things are, the settings they share (MOONRUN, BUILD_DIR,
# CPU, CC, CFLAGS), and build_tools, which compiles the C tools they use.
BENCH=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
REPO=$(dirname "$BENCH")
BUILD_DIR=${BUILD_DIR:-$BENCH/build}
MOONRUN=${MOONRUN:-build/moonrun}
[[ $MOONRUN == /* ]] || MOONRUN=$REPO/$MOONRUN
CPU=${CPU:-0}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2}
mkdir -p "$BUILD_DIR"

# build_tools NAME...: bench/NAME.c into $BUILD_DIR/NAME (fake_runtime_api runs threads).
build_tools() {
    local prog
    for prog in "$@"; do
        # shellcheck disable=SC2086 # CFLAGS may hold several flags
        $CC -std=c11 $CFLAGS -pthread -Wall -Wextra -o "$BUILD_DIR/$prog" "$BENCH/$prog.c"
    done
}
