#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a working moonrun:
#   bootstrap/setup.sh run    install what is missing, build, invoke the example handler
#   bootstrap/setup.sh test   install what is missing, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case "$mode" in run | test) ;; *) echo "usage: bootstrap/setup.sh run|test" >&2; exit 2 ;; esac

packages=(gcc make cmake pkg-config liblua5.4-dev libssl-dev libcurl4-openssl-dev libedit2 lua-busted valgrind openssl clang libclang-rt-14-dev)
command -v python3 >/dev/null || packages+=(python3)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The AWS tests talk to real peers: moto's SQS server, the AWS CLI, boto3 and botocore. They
# come from pip, not Debian, so a machine without them is told so before anything runs.
if [ "$mode" = test ]; then
  for tool in moto_server aws; do
    command -v "$tool" >/dev/null || { echo "setup.sh: the tests need '$tool' (pip: moto[server], awscli)" >&2; exit 1; }
  done
  python3 -c "import boto3, botocore" 2>/dev/null ||
    { echo "setup.sh: the tests need Python's boto3 and botocore" >&2; exit 1; }
fi

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DMOONRUN_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

if [ "$mode" = run ]; then
  LAMBDA_TASK_ROOT=. "$build/moonrun" invoke handlers/hello.handler --event handlers/events/hello.json
else
  ctest --test-dir "$build" --output-on-failure
fi
