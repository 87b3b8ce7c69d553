#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (multi-rank ones under mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# Open MPI refuses root without these; the tests' own mpirun calls need them too.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600
