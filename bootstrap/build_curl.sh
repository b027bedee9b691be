#!/usr/bin/env bash
# Builds the libcurl that the deployment packages bundle: Debian's curl source package (its
# security patches applied by dpkg-source), HTTP and HTTPS only, OpenSSL 3 for TLS, and no other
# dependency. Debian's own libcurl4 pulls about 35 shared objects (nghttp2, ssh2, rtmp, ldap,
# gssapi, psl, idn2, brotli, zstd...), several megabytes that moonrun never uses.
#
#   bootstrap/build_curl.sh ARCH WORK_DIR      ARCH: x86_64 or arm64
#
# Leaves WORK_DIR/curl-ARCH/lib/libcurl.so.4 (RUNPATH $ORIGIN, so the libssl.so.3 and
# libcrypto.so.3 beside it are found) and WORK_DIR/curl-ARCH/include. A finished build is kept:
# a second call returns at once.
set -euo pipefail

arch=${1:?usage: build_curl.sh x86_64|arm64 WORK_DIR}
work=${2:?usage: build_curl.sh x86_64|arm64 WORK_DIR}
case "$arch" in
x86_64) triplet=x86_64-linux-gnu ;;
arm64) triplet=aarch64-linux-gnu ;;
*) echo "build_curl.sh: unknown architecture '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
mkdir -p "$work"
work=$(cd "$work" && pwd)
out=$work/curl-$arch
[ -f "$out/lib/libcurl.so.4" ] && exit 0

# The source package, fetched once for both architectures (needs a deb-src line; setup.sh adds it).
src=$work/curl-src
if [ ! -f "$src/CMakeLists.txt" ]; then
    rm -rf "$work/curl-download" "$src"
    mkdir -p "$work/curl-download"
    (cd "$work/curl-download" && apt-get source -qq curl >"$work/curl-download.log" 2>&1) || {
        echo "build_curl.sh: 'apt-get source curl' failed: is a deb-src line for Debian in" \
            "/etc/apt/sources.list.d (bootstrap/setup.sh adds one) and has apt-get update run?" >&2
        exit 1
    }
    mv "$(find "$work/curl-download" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -1)" "$src"
    rm -rf "$work/curl-download"
fi

cross=()
if [ "$arch" != "$(uname -m | sed 's/aarch64/arm64/')" ]; then
    command -v "$triplet-gcc" >/dev/null || {
        echo "build_curl.sh: $triplet-gcc not found (apt-get install gcc-$triplet)" >&2
        exit 1
    }
    cross=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="${triplet%%-*}"
        -DCMAKE_C_COMPILER="$triplet-gcc" -DCMAKE_FIND_ROOT_PATH=/usr/"$triplet"
        -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER)
fi
[ -f "/usr/lib/$triplet/libssl.so" ] || {
    echo "build_curl.sh: /usr/lib/$triplet/libssl.so not found (apt-get install libssl-dev:${arch/x86_64/amd64})" >&2
    exit 1
}

build=$work/curl-build-$arch
rm -rf "$build" "$out"
# The file prefix maps keep the build machine's paths out of the library's strings.
cmake -S "$src" -B "$build" "${cross[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="-ffile-prefix-map=$src=curl -ffile-prefix-map=$build=curl" \
    -DBUILD_SHARED_LIBS=ON -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_MANUAL=OFF \
    -DCURL_ENABLE_EXPORT_TARGET=OFF -DPICKY_COMPILER=OFF -DHTTP_ONLY=ON \
    -DCURL_USE_OPENSSL=ON -DOPENSSL_INCLUDE_DIR=/usr/include \
    -DOPENSSL_SSL_LIBRARY="/usr/lib/$triplet/libssl.so" \
    -DOPENSSL_CRYPTO_LIBRARY="/usr/lib/$triplet/libcrypto.so" \
    -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_NGHTTP2=OFF -DCURL_USE_LIBPSL=OFF \
    -DCURL_USE_LIBSSH2=OFF -DUSE_LIBIDN2=OFF -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON \
    -DCURL_USE_GSSAPI=OFF -DENABLE_THREADED_RESOLVER=ON -DENABLE_UNIX_SOCKETS=OFF \
    -DCURL_DISABLE_NTLM=ON -DCURL_DISABLE_NETRC=ON -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_HSTS=ON \
    -DCURL_CA_BUNDLE=/etc/pki/tls/certs/ca-bundle.crt -DCURL_CA_PATH=none \
    -DCMAKE_SHARED_LINKER_FLAGS="-Wl,--enable-new-dtags -Wl,-rpath,'\$ORIGIN'" \
    -DCMAKE_SKIP_BUILD_RPATH=ON >"$build.log" 2>&1 ||
    { echo "build_curl.sh: configuring curl failed; see $build.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" >>"$build.log" 2>&1 ||
    { echo "build_curl.sh: building curl failed; see $build.log" >&2; exit 1; }

mkdir -p "$out/lib"
strip="strip"
[ ${#cross[@]} -eq 0 ] || strip=$triplet-strip
"$strip" --strip-unneeded -o "$out/lib/libcurl.so.4" "$(readlink -f "$build/lib/libcurl.so")"
cp -r "$src/include" "$out/include"
