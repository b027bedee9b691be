#!/usr/bin/env bash
# Builds moonrun's Lambda deployment packages from this source tree and a folder of handlers:
#
#   bootstrap/package.sh --handlers DIR [--arch x86_64|arm64|all]... [--out DIR] [--work DIR]
#   bootstrap/package.sh --layers-only [--arch ...]... [--out DIR] [--work DIR]
#
# For each architecture (default: the host's), OUT (default dist/) receives
#   moonrun-function-ARCH.zip  bootstrap (the moonrun executable), lua/, lib/ and the handlers
#   moonrun-layer-ARCH.zip     bootstrap, lua/ and lib/, for a layer (Lambda unpacks it in /opt)
# and, once, moonrun-handlers.zip: the handlers alone, for a function that uses the layer.
# --layers-only writes the layers alone (what `moonrun package` takes from a source tree).
# Every ELF file zipped is checked with bootstrap/check_elf.py (glibc 2.34, no library that
# provided.al2023 lacks).
# WORK (default build/package) keeps the builds (libcurl, moonrun) so that a second run is quick.
set -euo pipefail

usage() {
    echo "usage: bootstrap/package.sh --handlers DIR [--arch x86_64|arm64|all]... [--out DIR] [--work DIR]" >&2
    echo "       bootstrap/package.sh --layers-only [--arch x86_64|arm64|all]... [--out DIR] [--work DIR]" >&2
    exit 2
}
die() {
    echo "package.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
host_arch=$(uname -m | sed 's/aarch64/arm64/')
handlers="" layers_only="" out=$repo/dist work=$repo/build/package archs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --handlers | --arch | --out | --work) [ $# -ge 2 ] || { echo "package.sh: $1 needs a value" >&2; usage; } ;;&
    --handlers) handlers=$2; shift 2 ;;
    --arch)
        case "$2" in
        x86_64 | arm64) archs+=("$2") ;;
        all) archs+=(x86_64 arm64) ;;
        *) echo "package.sh: unknown architecture '$2' (x86_64, arm64 or all)" >&2; exit 2 ;;
        esac
        shift 2 ;;
    --layers-only) layers_only=1; shift ;;
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown option '$1'" >&2; usage ;;
    esac
done
if [ -n "$layers_only" ]; then
    [ -z "$handlers" ] || { echo "package.sh: --layers-only takes no --handlers" >&2; usage; }
else
    [ -n "$handlers" ] || { echo "package.sh: --handlers DIR is required" >&2; usage; }
    [ -d "$handlers" ] || die "handler folder '$handlers' does not exist"
    handlers=$(cd "$handlers" && pwd)
    [ -n "$(find "$handlers" -name '*.lua' -print -quit)" ] || die "handler folder '$handlers' has no .lua file"
    for reserved in bootstrap lib lua/moonrun; do
        [ ! -e "$handlers/$reserved" ] ||
            die "handler folder '$handlers' has '$reserved', which would replace moonrun's own"
    done
fi
[ ${#archs[@]} -gt 0 ] || archs=("$host_arch")
mkdir -p "$out" "$work"
out=$(cd "$out" && pwd)
work=$(cd "$work" && pwd)

# build_moonrun ARCH: a release build of moonrun for ARCH, stripped, in $work/moonrun-ARCH.
build_moonrun() {
    local arch=$1 triplet=$2 build=$work/moonrun-$1 pcdir=$work/pkgconfig-$1 cross=()
    mkdir -p "$pcdir"
    # moonrun compiles against the headers of the libcurl it is shipped with.
    printf 'Name: libcurl\nDescription: bundled libcurl (headers only)\nVersion: 7.88.1\nCflags: -I%s\nLibs:\n' \
        "$work/curl-$arch/include" >"$pcdir/libcurl.pc"
    # libmicrohttpd and libyaml (moonrun dev) are loaded with dlopen and never shipped: only
    # their headers are needed, which hold nothing architecture-specific, so the host's serve a
    # cross build too (copied alone, so no other host header is on the include path).
    mkdir -p "$work/dev-headers"
    cp /usr/include/microhttpd.h /usr/include/yaml.h "$work/dev-headers/"
    printf 'Name: libmicrohttpd\nDescription: headers only\nVersion: 0.9.75\nCflags: -I%s\nLibs:\n' \
        "$work/dev-headers" >"$pcdir/libmicrohttpd.pc"
    printf 'Name: yaml-0.1\nDescription: headers only\nVersion: 0.2.5\nCflags: -I%s\nLibs:\n' \
        "$work/dev-headers" >"$pcdir/yaml-0.1.pc"
    if [ "$arch" != "$host_arch" ]; then
        cross=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="${triplet%%-*}"
            -DCMAKE_C_COMPILER="$triplet-gcc")
    fi
    [ -f "/usr/lib/$triplet/liblua5.4.a" ] ||
        die "/usr/lib/$triplet/liblua5.4.a not found (apt-get install liblua5.4-dev:${arch/x86_64/amd64})"
    # Only this architecture's .pc files, so a cross build cannot pick the host's Lua.
    PKG_CONFIG_LIBDIR=$pcdir:/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig \
        cmake -S "$repo" -B "$build" "${cross[@]}" -DCMAKE_BUILD_TYPE=Release -DMOONRUN_WERROR=ON \
        -DMOONRUN_TESTING=OFF \
        -DCMAKE_C_FLAGS="-ffile-prefix-map=$repo=moonrun -ffile-prefix-map=$build=moonrun" \
        -DCMAKE_EXE_LINKER_FLAGS="-Wl,--enable-new-dtags -Wl,-rpath,'\$ORIGIN/lib'" \
        -DCMAKE_SKIP_BUILD_RPATH=ON >"$build.log" 2>&1 ||
        die "configuring moonrun for $arch failed; see $build.log"
    cmake --build "$build" -j"$(nproc)" --target moonrun >>"$build.log" 2>&1 ||
        die "building moonrun for $arch failed; see $build.log"
}

# stage_runtime ARCH TRIPLET DIR: bootstrap, lua/ and lib/ as both zips hold them.
stage_runtime() {
    local arch=$1 triplet=$2 dir=$3 strip="strip" lib
    [ "$arch" = "$host_arch" ] || strip=$triplet-strip
    rm -rf "$dir"
    mkdir -p "$dir/lib"
    "$strip" -o "$dir/bootstrap" "$work/moonrun-$arch/moonrun"
    chmod 0755 "$dir/bootstrap"
    # The modules of the commands that run on a developer's machine, never on Lambda, are left
    # out: dev, package, deps, init (project_init, scaffold), test (testing, template_function,
    # sample_events), the REPL's completion. test_packaging checks that what is shipped requires
    # nothing left out.
    local module local_only=()
    for module in dev package deps project_init scaffold testing template_function \
        sample_events sample_sources event_text repl_complete pretty; do
        local_only+=(! -path "lua/moonrun/$module.lua" ! -path "lua/moonrun/$module/*")
    done
    (cd "$repo" && find lua -name '*.lua' "${local_only[@]}" -exec install -D -m 0644 {} "$dir/{}" \;)
    # Bytecode is the same on x86_64 and arm64 (both 64-bit little-endian), so the host's
    # moonrun compiles for both.
    (cd "$dir" && find lua -name '*.lua' -print0 | sort -z |
        xargs -0 "$work/moonrun-$host_arch/moonrun" run "$repo/bootstrap/precompile.lua") ||
        die "precompiling moonrun's Lua library failed"
    install -m 0644 "$work/curl-$arch/lib/libcurl.so.4" "$dir/lib/"
    # Debian's OpenSSL 3, as installed (libssl3): moonrun loads libcrypto.so.3 itself, and the
    # bundled libcurl needs both. glibc is the base image's and is never bundled.
    for lib in libssl.so.3 libcrypto.so.3; do
        [ -f "/usr/lib/$triplet/$lib" ] || die "/usr/lib/$triplet/$lib not found (apt-get install libssl3:${arch/x86_64/amd64})"
        install -m 0644 "$(readlink -f "/usr/lib/$triplet/$lib")" "$dir/lib/$lib"
    done
}

report() { printf '  %-32s %9d bytes\n' "$(basename "$1")" "$(stat -c %s "$1")"; }

# check_zipped DIR: the glibc and library check of what DIR holds, or the problems named.
check_zipped() {
    local problems
    problems=$(python3 "$repo/bootstrap/check_elf.py" "$1") ||
        die "$(basename "$1") cannot run on provided.al2023:"$'\n'"$problems"
    echo "package.sh: checked $(basename "$1") (glibc <= 2.34, libraries bundled or glibc's)"
}

stage=$work/stage
if [ -z "$layers_only" ]; then
    rm -rf "$stage/handlers"
    mkdir -p "$stage/handlers"
    # The handlers as they are, without hidden files or Python caches.
    (cd "$handlers" && find . -type f ! -path '*/.*' ! -path '*/__pycache__/*' -exec install -D -m 0644 {} "$stage/handlers/{}" \;)
    find "$handlers" -type f -perm -u+x ! -path '*/.*' -printf '%P\n' | while read -r f; do chmod 0755 "$stage/handlers/$f"; done
    echo "package.sh: handlers from $handlers"
    python3 "$repo/bootstrap/make_zip.py" "$out/moonrun-handlers.zip" "$stage/handlers"
    report "$out/moonrun-handlers.zip"
fi

triplet_of() { case "$1" in x86_64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; esac; }
# The host's build also precompiles the Lua library, whichever architectures are asked for.
"$repo/bootstrap/build_curl.sh" "$host_arch" "$work"
build_moonrun "$host_arch" "$(triplet_of "$host_arch")"
for arch in "${archs[@]}"; do
    triplet=$(triplet_of "$arch")
    echo "package.sh: building for $arch"
    "$repo/bootstrap/build_curl.sh" "$arch" "$work"
    [ "$arch" = "$host_arch" ] || build_moonrun "$arch" "$triplet"
    stage_runtime "$arch" "$triplet" "$stage/layer-$arch"
    check_zipped "$stage/layer-$arch"
    python3 "$repo/bootstrap/make_zip.py" "$out/moonrun-layer-$arch.zip" "$stage/layer-$arch"
    if [ -n "$layers_only" ]; then
        report "$out/moonrun-layer-$arch.zip"
        continue
    fi
    rm -rf "$stage/function-$arch"
    cp -a "$stage/layer-$arch" "$stage/function-$arch"
    cp -a "$stage/handlers/." "$stage/function-$arch/"
    check_zipped "$stage/function-$arch"
    python3 "$repo/bootstrap/make_zip.py" "$out/moonrun-function-$arch.zip" "$stage/function-$arch"
    report "$out/moonrun-function-$arch.zip"
    report "$out/moonrun-layer-$arch.zip"
done
