#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default benchmark: the seed's row-wise vs
# column-wise linear layer on 2 ranks, verified against the serial layer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec build/src/cli/tpbench --nproc 2 linear --mode both --verify "$@"
