#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a running attnlab: installs the C++
# headers when missing, makes a virtual environment in .venv, builds and installs the package,
# then runs `python -m attnlab demo` (default) or the whole test suite (`test`).
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:-demo}
[[ $# -gt 0 ]] && shift

missing=()
for pkg in libxtensor-dev libxsimd-dev xtl-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "Install the C++ headers of xtensor, xsimd and xtl (conda-forge or Homebrew: xtensor xsimd xtl)" >&2
        exit 1
    fi
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The browser test of attnlab.viz's HTML views drives the system Chromium (Playwright's own
# browser download is not used); where none can be installed, that test skips.
if [[ $task == test ]] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; } ||
        echo "run.sh: could not install chromium; the browser test will skip" >&2
fi

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

case "$task" in
    demo)
        "${pip[@]}" .
        .venv/bin/python -m attnlab demo "$@"
        ;;
    bench)
        "${pip[@]}" ".[bench]" "torch==2.13.0"
        .venv/bin/python -m attnlab bench "$@"
        ;;
    test)
        # torch is the tests' oracle, pinned to the CPU build this machine kind carries.
        "${pip[@]}" ".[test]" "torch==2.13.0"
        .venv/bin/python -m pytest "$@"
        ;;
    *)
        echo "usage: ./scripts/run.sh [demo|bench|test] [args...]" >&2
        exit 2
        ;;
esac
