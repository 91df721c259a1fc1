#!/bin/sh
# Checks that every library quill builds against is installed (pkg-config),
# and installs what is missing with apt-get when run as root or with sudo;
# otherwise prints the exact apt-get line and fails.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   also what the tests need (archivers, tmux)
#   scripts/deps.sh --bench  also what `make bench` compares against (PyTorch
#                            with OpenBLAS-openmp, numpy, wrk, node)
#   --check (first)          only report what is missing, never install
#                            (what make runs: building never installs)
set -u
check_only=0
[ "${1:-}" = "--check" ] && { check_only=1; shift; }

# pkg-config module : Debian package
LIBS="sqlite3:libsqlite3-dev libzstd:libzstd-dev libarchive:libarchive-dev
yaml-0.1:libyaml-dev jansson:libjansson-dev libutf8proc:libutf8proc-dev
libxxhash:libxxhash-dev libcurl:libcurl4-openssl-dev libcrypto:libssl-dev libmicrohttpd:libmicrohttpd-dev
ompi-c:libopenmpi-dev"
# command : Debian package, needed to build
BUILD_TOOLS="gcc:gcc make:make"
# command : Debian package, needed only by the tests
TEST_TOOLS="zstd:zstd xz:xz-utils bzip2:bzip2 zip:zip tmux:tmux sqlite3:sqlite3 python3:python3
bc:bc mpirun:openmpi-bin curl:curl chromium:chromium node:nodejs npm:npm
openssl:openssl"
# file : Debian package, needed only by the benchmarks (bench/)
BENCH_FILES="/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3:libopenblas0-openmp
/usr/lib/python3/dist-packages/torch/__init__.py:python3-torch
/usr/lib/python3/dist-packages/numpy/__init__.py:python3-numpy
/usr/bin/wrk:wrk /usr/bin/node:nodejs /usr/bin/npm:npm"

missing=""
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config"
for pair in $LIBS; do
    mod=${pair%%:*}; pkg=${pair#*:}
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$mod"; then
        missing="$missing $pkg"
    fi
done
TOOLS=$BUILD_TOOLS
[ "${1:-}" = "--test" ] && TOOLS="$TOOLS $TEST_TOOLS"
if [ "${1:-}" = "--bench" ]; then
    for pair in $BENCH_FILES; do
        [ -e "${pair%%:*}" ] || missing="$missing ${pair#*:}"
    done
fi
for pair in $TOOLS; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
missing=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/^ *//; s/ *$//')
[ -z "$missing" ] && exit 0
if [ "$check_only" = 1 ]; then
    echo "quill: missing Debian packages: $missing" >&2
    echo "  scripts/deps.sh${1:+ $1} installs them (apt-get, as root or with sudo)" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"
else
    echo "quill: missing Debian packages; install them with:" >&2
    echo "  sudo apt-get install -y $missing" >&2
    exit 1
fi
echo "quill: installing missing Debian packages: $missing" >&2
$SUDO apt-get update -qq >&2 || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2 || {
    echo "quill: apt-get install failed; run: apt-get install -y $missing" >&2
    exit 1
}
