#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a working moonrun:
#   bootstrap/setup.sh dev      install what building and running need, build, run the seed's service
#   bootstrap/setup.sh run      install what building and running need, build, invoke the example handler
#   bootstrap/setup.sh package  also install the packaging tools (arm64 cross compiler, curl's
#                               source), build, and make the Debian package in dist/
#   bootstrap/setup.sh test     install everything the tests use, build it all, run the whole suite
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case "$mode" in dev | run | package | test) ;; *) echo "usage: bootstrap/setup.sh dev|run|package|test" >&2; exit 2 ;; esac

# Building and running: the compiler, Lua, the headers of what moonrun loads at run time, those
# libraries themselves, busted for `moonrun test`, and luarocks for a project's dependencies
# (`moonrun deps`, which dev, invoke, test and repl run when the rockspec changed).
packages=(gcc make cmake pkg-config liblua5.4-dev libssl-dev libcurl4-openssl-dev libedit2 lua-busted
  libmicrohttpd-dev libmicrohttpd12 libyaml-dev libyaml-0-2 luarocks)
command -v python3 >/dev/null || packages+=(python3)
# The tests: valgrind, clang for the fuzz targets, openssl for certificates, a Debian Lua
# C module that handlers must not see (lua-filesystem), luacheck for the scaffold of `moonrun
# init` (tests/test_project.py) and, with clang-format, for the lint test (tests/lint.sh), the AWS
# SDK for JavaScript (npm), headless Chromium for the browser's side of moonrun dev's CORS
# (tests/test_dev_cors.py), and groff and man-db, which render docs/moonrun.1 (tests/test_docs.py
# checks it renders without warnings).
if [ "$mode" = test ]; then
  packages+=(valgrind openssl clang libclang-rt-14-dev lua-filesystem lua-check clang-format chromium groff-base man-db)
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
update=0
# Packaging (bootstrap/package.sh, the .deb, and their tests) builds libcurl from Debian's
# source package, cross-builds for arm64 against Debian's arm64 libraries and runs the result
# under qemu-user in a debootstrap root file system: Debian's archive only.
if [ "$mode" = package ] || [ "$mode" = test ]; then
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
    packages+=(dpkg-dev)
  fi
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

# build DIR TARGET CMAKE_OPTION...: configures DIR and builds TARGET (all: everything), showing
# progress in steps of 10% instead of every compiler line; the whole output goes to
# DIR/build.log, whose end is shown on failure.
build() {
  local dir=$1 target=$2 started=$SECONDS
  shift 2
  mkdir -p "$dir"
  local log=$dir/build.log
  echo "setup.sh: building $target in $dir (the compiler's output: $log)"
  if ! cmake -S . -B "$dir" "$@" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "setup.sh: configuring the build failed; see $log" >&2
    exit 1
  fi
  if ! cmake --build "$dir" -j"$(nproc)" --target "$target" 2>&1 | tee -a "$log" |
    awk 'match($0, /^\[ *[0-9]+%\]/) { p = substr($0, 2, RLENGTH - 3) + 0
           if (p >= shown + 10 || (p == 100 && shown < 100)) { shown = p - p % 10; printf "  %d%%", p; fflush() } }
         END { print "" }'; then
    tail -n 30 "$log" >&2
    echo "setup.sh: the build failed; see $log" >&2
    exit 1
  fi
  echo "setup.sh: built in $((SECONDS - started)) s"
}

build_dir=${BUILD_DIR:-build}
case "$mode" in
test)
  # Everything: the sanitized variants, the fuzz targets, the tests.
  build "$build_dir" all -DMOONRUN_WERROR=ON -DMOONRUN_TESTING=ON -DMOONRUN_SANITIZERS=ON ;;
run | dev)
  # moonrun alone. A build directory made by `setup.sh test` keeps its tests: only the
  # target differs.
  testing=()
  [ -f "$build_dir/CMakeCache.txt" ] || testing=(-DMOONRUN_TESTING=OFF)
  build "$build_dir" moonrun -DMOONRUN_WERROR=ON "${testing[@]}" ;;
package)
  # A release build of its own, without tests, which is what the .deb holds.
  build "$build_dir/release" moonrun -DMOONRUN_WERROR=ON -DMOONRUN_TESTING=OFF -DCMAKE_BUILD_TYPE=Release ;;
esac

if [ "$mode" = dev ]; then
  exec "$build_dir/moonrun" dev bootstrap/template.yaml
elif [ "$mode" = run ]; then
  LAMBDA_TASK_ROOT=. "$build_dir/moonrun" invoke handlers/hello.handler --event handlers/events/hello.json
elif [ "$mode" = package ]; then
  # CPack stages its files beside the package: it works in the build, and the .deb is copied out.
  release=$build_dir/release
  cpack --config "$release/CPackConfig.cmake" -B "$release/deb" >"$release/cpack.log" 2>&1 ||
    { tail -n 20 "$release/cpack.log" >&2; echo "setup.sh: making the .deb failed; see $release/cpack.log" >&2; exit 1; }
  mkdir -p dist
  deb=$(cd "$release/deb" && ls -t moonrun_*.deb | head -n 1)
  cp "$release/deb/$deb" dist/
  echo "setup.sh: dist/$deb; install it with: sudo apt-get install ./dist/$deb"
  echo "setup.sh: the Lambda zips: bootstrap/package.sh --handlers DIR [--arch all]"
else
  ctest --test-dir "$build_dir" --output-on-failure
fi
