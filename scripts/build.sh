#!/usr/bin/env bash
# Configures and builds tpbench (Release, Ninja) into build/. Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DBLA_VENDOR=FLAME.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build --parallel "$(nproc)"
