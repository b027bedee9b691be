# Sourced by the bench scripts: where things are, the settings they share (MOONRUN, BUILD_DIR,
# CPU, CC, CFLAGS), build_tools, which compiles the C tools they use, and ratio and check, which
# print the figures against their targets.
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

# ratio A B: A / B with two decimals, or ? when either is not a positive number.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "?" }'; }

# check LABEL VALUE OP GOAL: prints one target line (OP is ">=" or "<="); a miss sets missed=1.
missed=0
check() {
    local verdict
    verdict=$(awk -v v="$2" -v g="$4" -v op="$3" 'BEGIN {
        if (v !~ /^-?[0-9.]+$/) print "n/a"; else if (op == ">=" ? v >= g : v <= g) print "ok";
        else print "MISSED" }')
    [[ $verdict == ok ]] || missed=1
    printf '%-48s %10s   goal %s %-8s %s\n' "$1" "$2" "$3" "$4" "$verdict"
}

# For the scripts that start servers (dev_sqs.sh, dev_latency.sh): start_servers makes the
# scratch folder $work and the list $pids of background processes, both gone at exit; free_port
# prints a port nothing listens on; wait_port PORT waits (10 s) until something does.
start_servers() {
    work=$(mktemp -d)
    pids=()
    trap stop_servers EXIT
}
stop_servers() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "$(basename "$0"): nothing listens on port $1" >&2
    exit 1
}
# The credentials moonrun dev gives its functions, for the clients of its embedded SQS.
use_dev_credentials() {
    export AWS_ACCESS_KEY_ID=AKIAMOONRUNDEV000000 AWS_SECRET_ACCESS_KEY=moonrun-dev-secret \
        AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    unset AWS_PROFILE AWS_ENDPOINT_URL AWS_SESSION_TOKEN
}
