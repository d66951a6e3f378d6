#!/usr/bin/env bash
# ./scripts/conda_headers.sh PREFIX: the C++ headers of xtensor, xsimd and xtl from conda-forge
# into PREFIX (a build then finds them with CMAKE_PREFIX_PATH=PREFIX), for the machines where
# wheels and the sdist are built: the manylinux images are AlmaLinux, whose packages lack them,
# and macOS runners have no Debian. A static micromamba fetches them; nothing else is installed.
set -euo pipefail
prefix=${1:?usage: conda_headers.sh PREFIX}
micromamba_version=2.3.3-0

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform=linux-64 ;;
    Linux-aarch64) platform=linux-aarch64 ;;
    Darwin-arm64) platform=osx-arm64 ;;
    Darwin-x86_64) platform=osx-64 ;;
    *) echo "conda_headers.sh: no micromamba for $(uname -sm)" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
releases=https://github.com/mamba-org/micromamba-releases/releases/download
curl -fsSL --retry 3 -o "$work/micromamba" "$releases/$micromamba_version/micromamba-$platform"
chmod +x "$work/micromamba"
# The versions the tests run against (Debian 12's). The core does not compile with xsimd 13
# yet (kernels/exp.hpp names bitwise_cast's target as a batch, as xsimd 8 does), and xtensor
# 0.25 and later need xsimd 13.
MAMBA_ROOT_PREFIX="$work/root" "$work/micromamba" create --yes --quiet --prefix "$prefix" \
    --channel conda-forge --override-channels "xtensor=0.24.3" "xsimd=8.1.0" "xtl>=0.7,<0.8"
