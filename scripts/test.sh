#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (multi-rank ones under mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# Open MPI refuses root without these; the tests' own mpirun calls need them too.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600 || status=$?
# The libFuzzer targets (fuzz/), 10 s each on their corpora: parsers of token, text and
# results files and of flag values (scripts/fuzz.sh; builds only what they need).
bash scripts/fuzz.sh 10 || status=$?
# Say plainly whether the GPU tests ran: without a GPU they compile and link, then skip.
echo
if build/src/cli/tpbench devices --require-gpu >/tmp/tpbench-devices.$$ 2>&1; then
  echo "GPU tests: RAN on this machine's GPU ($(grep -m1 '  0:' /tmp/tpbench-devices.$$ | sed 's/^ *0: //'))."
else
  echo "GPU tests: DID NOT RUN here: $(grep '^cuda:' /tmp/tpbench-devices.$$ | sed 's/^cuda: //')."
  echo "  (test_kernels_cuda, test_comm_nccl and test_model_gpu were compiled and linked; their tests are"
  echo "   reported as Skipped above. On a GPU machine: bash scripts/gpu.sh run, see docs/gpu.md.)"
fi
rm -f /tmp/tpbench-devices.$$
exit "$status"
