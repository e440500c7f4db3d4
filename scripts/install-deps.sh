#!/usr/bin/env bash
# Installs the Debian packages cbnn needs to build, and only those that are missing:
#   cmake, ninja-build, g++, libgtest-dev, libbenchmark-dev, libstb-dev, nlohmann-json3-dev,
#   libcli11-dev, and ccache (optional: it only speeds up rebuilds).
# Presence is checked by commands and header/library files, not by dpkg, so headers installed
# some other way count too. `apt-get update` runs only when something is missing; sudo is used
# only when not root. The CUDA toolkit is never installed here: it comes with the machine, and
# without nvcc the build is CPU-only.
#
# Usage: scripts/install-deps.sh    (no arguments; -h or --help prints this text and installs
#                                    nothing)
#
# Environment:
#   CBNN_SKIP_DEPS=1        check nothing, install nothing (for machines managed some other way)
#   CBNN_INSTALL_BROWSER=1  also install chromium-headless-shell (optional, off by default), the
#                           headless browser of scripts/check-report.sh's render check. Off because
#                           it is about 100 MB to download and 300 MB installed, 19 packages, and
#                           scripts/test.sh (what CI runs) does not use it.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cbnn_no_args "${BASH_SOURCE[0]}" "$@"

if [[ ${CBNN_SKIP_DEPS:-0} == 1 ]]; then
    cbnn_log "install-deps: skipped (CBNN_SKIP_DEPS=1)"
    exit 0
fi

include_dirs=(/usr/include /usr/local/include)
lib_dirs=(/usr/lib /usr/lib64 /usr/local/lib /usr/local/lib64)
multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
[[ -n $multiarch ]] && lib_dirs+=("/usr/lib/$multiarch")

have_header() {
    local dir
    for dir in "${include_dirs[@]}"; do
        [[ -f $dir/$1 ]] && return 0
    done
    return 1
}

# have_lib NAME: libNAME.a or libNAME.so in a standard library folder.
have_lib() {
    local dir
    for dir in "${lib_dirs[@]}"; do
        [[ -f $dir/lib$1.a || -e $dir/lib$1.so ]] && return 0
    done
    return 1
}

missing=()   # required Debian packages that are not there
optional=()  # optional ones that are not there

command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
{ have_header gtest/gtest.h && have_lib gtest; } || missing+=(libgtest-dev)
{ have_header benchmark/benchmark.h && have_lib benchmark; } || missing+=(libbenchmark-dev)
have_header stb/stb_image.h || missing+=(libstb-dev)
have_header nlohmann/json.hpp || missing+=(nlohmann-json3-dev)
have_header CLI/CLI.hpp || missing+=(libcli11-dev)
command -v ccache >/dev/null 2>&1 || optional+=(ccache)
if [[ ${CBNN_INSTALL_BROWSER:-0} == 1 ]] && ! command -v chromium-headless-shell >/dev/null 2>&1 &&
    ! command -v chromium >/dev/null 2>&1; then
    optional+=(chromium-headless-shell)
fi

have_apt=0
command -v apt-get >/dev/null 2>&1 && have_apt=1

to_install=()
if ((${#missing[@]} > 0)); then
    if ((have_apt == 0)); then
        echo "install-deps: missing ${missing[*]} and apt-get is not available;" \
            "install these Debian packages (or their equivalents) by hand." >&2
        exit 1
    fi
    to_install=("${missing[@]}" "${optional[@]}")
elif ((${#optional[@]} > 0)); then
    if ((have_apt == 1)); then
        to_install=("${optional[@]}")
    else
        cbnn_log "install-deps: no apt-get; optional ${optional[*]} not installed"
    fi
fi

as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-deps: need root (or sudo) to install: ${to_install[*]}" >&2
        exit 1
    fi
}

if ((${#to_install[@]} > 0)); then
    cbnn_log "install-deps: installing ${to_install[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${to_install[@]}"
else
    cbnn_log "install-deps: all build dependencies are present"
fi

# CMakeLists.txt needs CMake >= 3.25 (Debian 12 ships 3.25.1); apt cannot fix an older release.
cmake_version=$(cmake --version | sed -n '1s/^cmake version \([0-9][0-9.]*\).*/\1/p')
IFS=. read -r cmake_major cmake_minor _ <<<"$cmake_version"
if ((cmake_major < 3 || (cmake_major == 3 && cmake_minor < 25))); then
    echo "install-deps: CMake ${cmake_version} is too old; cbnn needs 3.25 or newer" >&2
    exit 1
fi
