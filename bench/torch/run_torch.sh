#!/usr/bin/env bash
# Launch a PyTorch script on N local ranks with fair threads:
#   bench/torch/run_torch.sh [--nproc N] SCRIPT [script args...]
#
# * Python: $PYTHON when set; otherwise the first python3 that has PyTorch, trying
#   /usr/bin/python3 (Debian's python3-torch) first for CPU runs and `python3` on PATH
#   first when the script's arguments say --device cuda (e.g. a PyTorch 2.x venv with CUDA,
#   such as /opt/torch/.venv/bin/python3).
# * --device cuda: before any rank starts, checks that this PyTorch has CUDA and sees a GPU,
#   and stops with one line saying why not (no launcher traceback).
# * Exports OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = max(1, cores // N) unless already set:
#   Debian's torch sends fp32 matmuls to OpenBLAS, which ignores torch.set_num_threads
#   and reads OPENBLAS_NUM_THREADS when it is loaded.
# * Exports OPENBLAS_CORETYPE from the CPU flags when unset, as tpbench's launcher does.
# * N = 1 runs SCRIPT directly (it makes itself a one-rank job). N > 1 runs
#   torch.distributed.run (torchrun) in-process, after a guarded fix for a torch < 2.0 bug
#   under Python 3.11: Std.from_str("0") returns None (3.11's enum iteration skips the NONE
#   and ALL flags), so Debian's /usr/bin/torchrun and `python3 -m torch.distributed.run`
#   crash with "AttributeError: 'NoneType' object has no attribute 'get'" in to_map before
#   starting any worker. On a torch without the bug (2.x) the fix is skipped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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

# The device the script is asked for (its --device flag; the last one wins, as argparse).
device=cpu
args=("$@")
for (( i = 1; i < ${#args[@]}; i++ )); do
  case ${args[i]} in
    --device)   (( i + 1 < ${#args[@]} )) && device=${args[i + 1]} ;;
    --device=*) device=${args[i]#--device=} ;;
  esac
done

has_torch() {  # has_torch PYTHON: whether it can import torch (without importing it)
  "$1" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' \
    >/dev/null 2>&1
}
if [[ -n ${PYTHON:-} ]]; then
  python=$PYTHON
else
  if [[ $device == cuda ]]; then candidates=(python3 /usr/bin/python3)
  else candidates=(/usr/bin/python3 python3)
  fi
  python=
  for c in "${candidates[@]}"; do
    p=$(command -v "$c" 2>/dev/null) || continue
    if has_torch "$p"; then python=$p; break; fi
  done
  if [[ -z $python ]]; then
    echo "$0: no python3 with PyTorch found (tried ${candidates[*]}); set PYTHON=/path/to/python3" >&2
    exit 2
  fi
fi

if [[ $device == cuda ]]; then
  rc=0
  why=$("$python" -c '
import sys
sys.path.insert(0, sys.argv[1])
from common import cuda_problem
why = cuda_problem()
if why:
    print(why)
    sys.exit(3)
' "$here" 2>&1) || rc=$?
  if (( rc == 3 )); then
    echo "$0: --device cuda: $why" >&2; exit 2
  elif (( rc != 0 )); then  # no torch at all, or a broken one: its last line
    echo "$0: --device cuda: cannot import torch with $python: ${why##*$'\n'}" >&2; exit 2
  fi
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

if (( nproc == 1 )); then
  exec "$python" "$@"
fi

exec "$python" -c '
import re, sys
try:
    from torch.distributed.elastic.multiprocessing import api
    broken = api.Std.from_str("0") is None  # torch < 2.0 on Python >= 3.11
except (ImportError, AttributeError):
    broken = False
if broken:
    Std = api.Std
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
