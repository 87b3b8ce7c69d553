#!/usr/bin/env bash
# Launch a PyTorch script on N local ranks with fair threads:
#   bench/torch/run_torch.sh [--nproc N] SCRIPT [script args...]
#
# * Uses /usr/bin/python3 (Debian's python3-torch); override with PYTHON=...
# * Exports OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = max(1, cores // N) unless already set:
#   Debian's torch sends fp32 matmuls to OpenBLAS, which ignores torch.set_num_threads
#   and reads OPENBLAS_NUM_THREADS when it is loaded.
# * Exports OPENBLAS_CORETYPE from the CPU flags when unset, as tpbench's launcher does.
# * Runs torch.distributed.run (torchrun) in-process after a guarded fix for a torch < 2.0
#   bug under Python 3.11: Std.from_str("0") returns None (3.11's enum iteration skips the
#   NONE and ALL flags), so Debian's /usr/bin/torchrun and `python3 -m torch.distributed.run`
#   crash with "AttributeError: 'NoneType' object has no attribute 'get'" in to_map before
#   starting any worker. On a torch without the bug the fix is skipped.
set -euo pipefail

nproc=2
if [[ $# -ge 2 && $1 == --nproc ]]; then nproc=$2; shift 2
elif [[ $# -ge 1 && $1 == --nproc=* ]]; then nproc=${1#--nproc=}; shift
fi
if [[ $# -lt 1 ]]; then
  echo "usage: $0 [--nproc N] SCRIPT [args...]" >&2
  exit 2
fi
if ! [[ $nproc =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: --nproc must be a positive integer, got '$nproc'" >&2
  exit 2
fi

cores=$(nproc)
per_rank=$(( cores / nproc ))
(( per_rank >= 1 )) || per_rank=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$per_rank}
# The same OpenBLAS kernel choice as tpbench's launcher (src/cli/launcher.cpp): on a VM that
# masks the CPU model OpenBLAS falls back to generic Prescott kernels; pick them from the
# CPU flags instead, so both tools run the same GEMMs.
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if [[ $flags == *avx512f* && $flags == *avx512bw* && $flags == *avx512vl* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $flags == *avx2* && $flags == *" fma"* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$per_rank}

exec "${PYTHON:-/usr/bin/python3}" -c '
import re, sys
from torch.distributed.elastic.multiprocessing import api
Std = api.Std
if Std.from_str("0") is None:  # torch < 2.0 on Python >= 3.11
    def _from_str(vm):
        if re.match(api._VALUE_REGEX, vm):
            return Std(int(vm))
        if re.match(api._MAPPING_REGEX, vm):
            return {int(i): Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError("{} does not match {} or {}".format(vm, api._VALUE_REGEX, api._MAPPING_REGEX))
    Std.from_str = staticmethod(_from_str)
from torch.distributed.run import main
sys.argv[0] = "torchrun"
main()
' --nproc_per_node "$nproc" "$@"
