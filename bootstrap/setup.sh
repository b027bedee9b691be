#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a working moonrun:
#   bootstrap/setup.sh dev    install what is missing, build, run the seed's service (moonrun dev)
#   bootstrap/setup.sh run    install what is missing, build, invoke the example handler
#   bootstrap/setup.sh test   install what is missing, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case "$mode" in dev | run | test) ;; *) echo "usage: bootstrap/setup.sh dev|run|test" >&2; exit 2 ;; esac

packages=(gcc make cmake pkg-config liblua5.4-dev libssl-dev libcurl4-openssl-dev libedit2 lua-busted valgrind openssl clang libclang-rt-14-dev libmicrohttpd-dev libmicrohttpd12 libyaml-dev libyaml-0-2)
command -v python3 >/dev/null || packages+=(python3)
# The embedded SQS endpoint's tests use the AWS SDK for JavaScript as a third client.
[ "$mode" != test ] || command -v npm >/dev/null || packages+=(nodejs npm)
# The scaffold of `moonrun init` is checked with luacheck (tests/test_project.py).
[ "$mode" != test ] || packages+=(lua-check)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
update=0
# Packaging (bootstrap/package.sh and its tests) builds libcurl from Debian's source package,
# cross-builds for arm64 against Debian's arm64 libraries and runs the result under qemu-user
# in a debootstrap root file system: Debian's archive only.
if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
  packages+=(binutils unzip debootstrap dpkg-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    qemu-user-static liblua5.4-dev:arm64 libssl-dev:arm64)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    update=1
  fi
  if ! grep -rqsE '^(deb-src |Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$codename" | $sudo tee /etc/apt/sources.list.d/moonrun-deb-src.sources >/dev/null
    update=1
  fi
else
  echo "setup.sh: not Debian: the packaging tools (bootstrap/package.sh) are not set up" >&2
fi
# With a foreign architecture added, a bare name can be ambiguous to dpkg: ask for the native one.
native=$(dpkg --print-architecture)
installed() { dpkg -s "$1" >/dev/null 2>&1 || { [[ $1 != *:* ]] && dpkg -s "$1:$native" >/dev/null 2>&1; }; }
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
[ $update -eq 0 ] || $sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  [ $update -eq 1 ] || $sudo apt-get update -qq
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
  if [ -f tests/npm/package-lock.json ]; then
    npm ci --prefix tests/npm --no-audit --no-fund --loglevel=error
  fi
fi

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DMOONRUN_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

if [ "$mode" = dev ]; then
  exec "$build/moonrun" dev bootstrap/template.yaml
elif [ "$mode" = run ]; then
  LAMBDA_TASK_ROOT=. "$build/moonrun" invoke handlers/hello.handler --event handlers/events/hello.json
else
  ctest --test-dir "$build" --output-on-failure
fi
