#!/usr/bin/env bash
# Side-by-side: `tpbench linear` vs the same experiment in PyTorch (bench/torch/linear.py).
#
#   bench/compare_linear.sh [--nproc N] [--rounds R] [--out DIR] [--device cpu|cuda] [flags for both...]
#   e.g. bench/compare_linear.sh --nproc 2 --in-features 8192 --out-features 8192 --batch 512
#
# Method: both run the same config (--mode both plus the extra flags, passed verbatim to
# both; --device cuda too when given: one GPU per rank, PyTorch with NCCL then, else gloo on
# host copies; the layer is fp32 in both, TF32-free on CUDA, so --dtype takes only fp32)
# on the same number of local ranks N, with the same threads per rank
# k = max(1, cores // N): OPENBLAS_NUM_THREADS=k and OMP_NUM_THREADS=k are exported
# (unless already set) to both, since both do their fp32 matmuls in OpenBLAS, which ignores
# torch.set_num_threads. To reduce drift on a noisy shared machine the runs alternate:
# torch, tpbench, torch, tpbench, ... (R rounds, default 2), and each tool's figure per mode
# is the best (lowest) of its R median step times; every run's median is printed too.
# Step time = per-iteration max over ranks of forward + backward + optimizer, median over
# the timed iterations (both tools define it this way). Ratio = tpbench / torch: < 1 means
# tpbench is faster.
#
# Environment: TPBENCH (default build/src/cli/tpbench), PYTHON (default: run_torch.sh's
# choice, /usr/bin/python3 = Debian's python3-torch on CPU, python3 on PATH with --device
# cuda). PyTorch is launched by bench/torch/run_torch.sh, which works around Debian torch
# 1.13's torchrun crash under Python 3.11.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tpbench=${TPBENCH:-$root/build/src/cli/tpbench}
python=${PYTHON:-}  # empty: bench/torch/run_torch.sh picks it

usage() { sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

nproc=2
rounds=2
outdir=
device=
dtype=
args=()
while (( $# )); do
  case $1 in
    --nproc)    nproc=${2:?--nproc needs a value}; shift 2 ;;
    --nproc=*)  nproc=${1#*=}; shift ;;
    --rounds)   rounds=${2:?--rounds needs a value}; shift 2 ;;
    --rounds=*) rounds=${1#*=}; shift ;;
    --out)      outdir=${2:?--out needs a value}; shift 2 ;;
    --out=*)    outdir=${1#*=}; shift ;;
    --device)   device=${2:?--device needs a value}; shift 2 ;;
    --device=*) device=${1#*=}; shift ;;
    --dtype)    dtype=${2:?--dtype needs a value}; shift 2 ;;
    --dtype=*)  dtype=${1#*=}; shift ;;
    -h|--help)  usage; exit 0 ;;
    *)          args+=("$1"); shift ;;
  esac
done
me=compare_linear.sh
# shellcheck source=bench/compare_common.sh
source "$root/bench/compare_common.sh"
compare_require_positive nproc rounds
if [[ -n $dtype && $dtype != fp32 ]]; then
  echo "compare_linear.sh: the linear benchmark is fp32 in both tools; --dtype $dtype is not offered" >&2
  exit 2
fi
dtype=  # fp32: neither linear takes --dtype
compare_device_flags
compare_setup

echo "compare_linear: $nproc ranks, $device $dtype, OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS per rank," \
     "$rounds rounds (torch, tpbench alternating), flags: ${args[*]:-(defaults)}"

run_one() {  # run_one TOOL ROUND
  local tool=$1 round=$2 json="$tmp/$1.$2.json"
  local cmd
  if [[ $tool == tpbench ]]; then
    cmd=("$tpbench" --nproc "$nproc" linear --mode both --json "$json" "${devflags[@]}" "${args[@]}")
  else
    local envs=()
    [[ -z $python ]] || envs=(PYTHON="$python")
    cmd=(env "${envs[@]}" "$root/bench/torch/run_torch.sh" --nproc "$nproc"
         "$root/bench/torch/linear.py" --mode both --json "$json" "${devflags[@]}" "${args[@]}")
  fi
  compare_run "$tool" "$round" "$json" "${cmd[@]}"
}

for (( r = 1; r <= rounds; r++ )); do
  run_one torch "$r"
  run_one tpbench "$r"
done

"${python:-python3}" - "$tmp" "$rounds" <<'EOF'
import json, sys

tmp, rounds = sys.argv[1], int(sys.argv[2])

def medians(tool):
    """{mode: [median step ms of each round]} from modes.<mode>.summary.step_ms.median."""
    out = {}
    for r in range(1, rounds + 1):
        path = "%s/%s.%d.json" % (tmp, tool, r)
        with open(path) as f:
            doc = json.load(f)
        for mode, entry in doc.get("modes", {}).items():
            try:
                out.setdefault(mode, []).append(float(entry["summary"]["step_ms"]["median"]))
            except (KeyError, TypeError, ValueError):
                sys.exit("compare_linear.sh: %s has no modes.%s.summary.step_ms.median" % (path, mode))
    return out

tpb, tor = medians("tpbench"), medians("torch")
fmt = "%-8s %18s %18s %16s   %s"
print(fmt % ("mode", "tpbench median ms", "torch median ms", "tpbench/torch", "each run (tpbench | torch)"))
for mode in ("row", "column"):
    if mode not in tpb or mode not in tor:
        print(fmt % (mode, "-" if mode not in tpb else "%.4f" % min(tpb[mode]),
                     "-" if mode not in tor else "%.4f" % min(tor[mode]), "-", "missing"))
        continue
    a, b = min(tpb[mode]), min(tor[mode])
    ratio = "%.3f" % (a / b) if b > 0 else "inf"
    runs = "%s | %s" % (" ".join("%.3f" % v for v in tpb[mode]), " ".join("%.3f" % v for v in tor[mode]))
    print(fmt % (mode, "%.4f" % a, "%.4f" % b, ratio, runs))
print("(best of %d runs each; step = max over ranks per iteration, median over iterations)" % rounds)
with open("%s/torch.1.json" % tmp) as f:
    cfg = json.load(f).get("config", {})
if cfg.get("device") == "cuda":
    print("torch: fp32 on %s, TF32 %s, collectives %s" % (cfg.get("gpu_name"), cfg.get("tf32"),
                                                        cfg.get("comm_backend")))
EOF
