#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a running attnlab: installs the C++
# headers when missing, makes a virtual environment in .venv, builds and installs the package,
# then runs `python -m attnlab demo` (default) or the whole test suite (`test`). The checks
# `sanitize`, `fuzz` and `arm64` install their own tools and never touch .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:-demo}
[[ $# -gt 0 ]] && shift

# Installs the Debian packages given that are missing (apt-get update at most once a run).
apt_updated=""
need_debs() {
    local missing=() pkg sudo=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    if ! command -v apt-get >/dev/null; then
        echo "Install ${missing[*]} (Debian names; the C++ headers from conda-forge or Homebrew: xtensor xsimd xtl)" >&2
        exit 1
    fi
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    [[ -n $apt_updated ]] || $sudo apt-get update -qq
    apt_updated=1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
need_debs libxtensor-dev libxsimd-dev xtl-dev

# The browser test of attnlab.viz's HTML views drives the system Chromium (Playwright's own
# browser download is not used); where none can be installed, that test skips.
if [[ $task == test ]] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; } ||
        echo "run.sh: could not install chromium; the browser test will skip" >&2
fi

python=${PYTHON:-python3}
pip_flags=(--quiet --disable-pip-version-check)

# The extension with ASan, UBSan and libFuzzer's coverage hooks, built by clang (as atheris
# needs) in .venv-sanitize and build/sanitize, so the normal install stays as it is; `sanitize`
# and `fuzz` share it, one build for both.
sanitized_venv() {
    need_debs clang
    asan_runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
    if [[ ! -f $asan_runtime ]]; then
        echo "clang's ASan runtime is missing (Debian: apt-get install libclang-rt-dev)" >&2
        exit 1
    fi
    [[ -x .venv-sanitize/bin/python ]] || "$python" -m venv .venv-sanitize
    .venv-sanitize/bin/python -m pip install "${pip_flags[@]}" scikit-build-core pybind11 "atheris>=2.3,<4"
    CC=clang CXX=clang++ .venv-sanitize/bin/python -m pip install "${pip_flags[@]}" \
        --no-build-isolation -C build-dir=build/sanitize \
        -C cmake.define.ATTNLAB_SANITIZE=address,undefined,fuzzer-no-link ".[test]"
    # CPython keeps its interpreter-lifetime allocations until exit, which LeakSanitizer would
    # report as leaks; a failed giant allocation returns null as without ASan (MemoryError).
    export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    # Python objects through malloc, so that ASan sees them too.
    export PYTHONMALLOC=malloc
}

case "$task" in
    demo|bench|test)
        [[ -x .venv/bin/python ]] || "$python" -m venv .venv
        ;;&
    demo)
        .venv/bin/python -m pip install "${pip_flags[@]}" .
        .venv/bin/python -m attnlab demo "$@"
        ;;
    bench)
        .venv/bin/python -m pip install "${pip_flags[@]}" ".[bench]" "torch==2.13.0"
        .venv/bin/python -m attnlab bench "$@"
        ;;
    test)
        # torch is the tests' oracle, pinned to the CPU build this machine kind carries.
        .venv/bin/python -m pip install "${pip_flags[@]}" ".[test]" "torch==2.13.0"
        .venv/bin/python -m pytest "$@"
        ;;
    sanitize)
        # The kernel, argument and thread tests; without torch there, its comparisons skip
        # (the test task runs them).
        # --capture=sys: a sanitizer report goes to file descriptor 2 and ends the process
        # before pytest could show what it captured there.
        sanitized_venv
        LD_PRELOAD=$asan_runtime .venv-sanitize/bin/python -m pytest -p no:cacheprovider \
            --capture=sys tests/kernels tests/test_attention_arguments.py tests/test_threads.py "$@"
        ;;
    fuzz)
        # ./scripts/run.sh fuzz [seconds]: the atheris target for that long (default 60).
        sanitized_venv
        atheris_dir=$(.venv-sanitize/bin/python -c "import atheris; print(atheris.path())")
        mkdir -p build/fuzz/corpus
        # One allocation over 1 GiB fails (MemoryError), as on a small machine, instead of
        # paging in the output a broadcast giant asks for; findings go to build/fuzz/.
        ASAN_OPTIONS=$ASAN_OPTIONS:max_allocation_size_mb=1024 \
            LD_PRELOAD=$atheris_dir/asan_with_fuzzer.so .venv-sanitize/bin/python \
            fuzz/fuzz_functional.py -max_total_time="${1:-60}" -timeout=60 -rss_limit_mb=3072 \
            -artifact_prefix=build/fuzz/ build/fuzz/corpus
        ;;
    arm64)
        # The neon64 kernels cross-compiled with the whole core into cpp/tests/neon_check.cpp,
        # run under qemu-user; the optimizer updates and the layers' plumbing with their own
        # flags, as in CMake.
        need_debs g++-aarch64-linux-gnu qemu-user
        out=build/arm64
        rm -rf "$out"
        mkdir -p "$out"
        # The flags of cpp/CMakeLists.txt; the headers are arch-independent, so the host's do,
        # searched after the cross compiler's own.
        flags=(-std=c++17 -O3 -fno-math-errno -Wall -Wextra -pthread -DATTNLAB_HAVE_NEON64=1
               -Icpp/include -Icpp/src -idirafter /usr/include)
        pids=()
        for src in cpp/src/*.cpp cpp/src/layers/optimizer.cpp cpp/src/layers/encoder_layer.cpp \
                   cpp/src/arch/neon64.cpp cpp/tests/neon_check.cpp; do
            aarch64-linux-gnu-g++ "${flags[@]}" -c "$src" -o "$out/$(basename "$src" .cpp).o" &
            pids+=($!)
        done
        aarch64-linux-gnu-g++ "${flags[@]}" -DATTNLAB_ARCH_NS=neon64 -DXTENSOR_USE_XSIMD \
            -ffp-contract=off -c cpp/src/layers/optimizer_update.cpp -o "$out/optimizer_update.o" &
        pids+=($!)
        aarch64-linux-gnu-g++ "${flags[@]}" -DATTNLAB_ARCH_NS=neon64 -DXTENSOR_USE_XSIMD \
            -c cpp/src/layers/plumbing.cpp -o "$out/plumbing.o" &
        pids+=($!)
        for pid in "${pids[@]}"; do wait "$pid"; done
        aarch64-linux-gnu-g++ -pthread "$out"/*.o -o "$out/neon_check"
        qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/neon_check"
        ;;
    *)
        echo "usage: ./scripts/run.sh [demo|bench|test|sanitize|fuzz [seconds]|arm64] [args...]" >&2
        exit 2
        ;;
esac
