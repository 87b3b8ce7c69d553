#!/usr/bin/env bash
# Side-by-side: `tpbench train` vs the same training in PyTorch (bench/torch/train.py).
#
#   bench/compare_train.sh [--nproc N] [--tp T] [--rounds R] [--out DIR]
#                          [--device cpu|cuda] [--dtype fp32|bf16] [train flags for both...]
#   e.g. bench/compare_train.sh --nproc 2 --tp 2 --iters 20 --seq 128
#
# Method: both tools train the same Llama-style model (Megatron TP x DP, world = dp x tp,
# TP innermost) on the same number of local ranks N and TP size T (default N 2, T 1), with
# the extra flags passed verbatim to both (--dim --layers --heads --kv-heads --ffn-hidden
# --vocab --seq --batch --iters --warmup-iters --lr --weight-decay --grad-clip --seed;
# defaults are tpbench's small preset in both). --device cuda (one GPU per rank; PyTorch
# uses NCCL then, else gloo on host copies) and --dtype bf16 (cuda only: tpbench's bf16
# compute with fp32 master weights vs PyTorch's bf16 autocast) go to both when given;
# without them both run their defaults, cpu and fp32 (fp32 on CUDA is TF32-free in both).
# Threads per rank
# k = max(1, cores // N): OPENBLAS_NUM_THREADS=k and OMP_NUM_THREADS=k are exported (unless
# already set) to both, since Debian's torch does fp32 matmuls in OpenBLAS, which ignores
# torch.set_num_threads. The runs alternate, torch, tpbench, torch, tpbench, ... (R rounds,
# default 2) to reduce drift on a noisy shared machine; each tool's figure is the best
# (lowest) of its R median step times, and every run's median is printed too.
# Step time = per-iteration max over ranks of forward + backward + optimizer, median over
# the timed iterations (read from summary.step_ms.median of each tool's --json).
# Ratio = tpbench / torch: < 1 means tpbench is faster. The models' initialisations are
# not bit-equal, so first losses agree only roughly (both near ln(vocab)).
#
# Environment: TPBENCH (default build/src/cli/tpbench), PYTHON (default: run_torch.sh's
# choice, /usr/bin/python3 = Debian's python3-torch on CPU, python3 on PATH with --device
# cuda). PyTorch is launched by bench/torch/run_torch.sh, which works around Debian torch
# 1.13's torchrun crash under Python 3.11.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tpbench=${TPBENCH:-$root/build/src/cli/tpbench}
python=${PYTHON:-}  # empty: bench/torch/run_torch.sh picks it

usage() { sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

nproc=2
tp=1
rounds=2
outdir=
device=
dtype=
args=()
while (( $# )); do
  case $1 in
    --nproc)    nproc=${2:?--nproc needs a value}; shift 2 ;;
    --nproc=*)  nproc=${1#*=}; shift ;;
    --tp)       tp=${2:?--tp needs a value}; shift 2 ;;
    --tp=*)     tp=${1#*=}; shift ;;
    --rounds)   rounds=${2:?--rounds needs a value}; shift 2 ;;
    --rounds=*) rounds=${1#*=}; shift ;;
    --out)      outdir=${2:?--out needs a value}; shift 2 ;;
    --out=*)    outdir=${1#*=}; shift ;;
    --device)   device=${2:?--device needs a value}; shift 2 ;;
    --device=*) device=${1#*=}; shift ;;
    --dtype)    dtype=${2:?--dtype needs a value}; shift 2 ;;
    --dtype=*)  dtype=${1#*=}; shift ;;
    --json|--json=*)
      echo "compare_train.sh: --json is set by this script (use --out DIR to keep the files)" >&2; exit 2 ;;
    -h|--help)  usage; exit 0 ;;
    *)          args+=("$1"); shift ;;
  esac
done
me=compare_train.sh
# shellcheck source=bench/compare_common.sh
source "$root/bench/compare_common.sh"
compare_require_positive nproc tp rounds
if (( nproc % tp )); then
  echo "compare_train.sh: --tp $tp does not divide --nproc $nproc" >&2; exit 2
fi
compare_device_flags
compare_setup

echo "compare_train: $nproc ranks (tp $tp, dp $(( nproc / tp ))), $device $dtype," \
     "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS per rank, $rounds rounds (torch, tpbench alternating)," \
     "flags: ${args[*]:-(defaults)}"

run_one() {  # run_one TOOL ROUND
  local tool=$1 round=$2 json="$tmp/$1.$2.json"
  local cmd
  if [[ $tool == tpbench ]]; then
    cmd=("$tpbench" --nproc "$nproc" train --tp "$tp" --json "$json" "${devflags[@]}" "${args[@]}")
  else
    local envs=()
    [[ -z $python ]] || envs=(PYTHON="$python")
    cmd=(env "${envs[@]}" "$root/bench/torch/run_torch.sh" --nproc "$nproc"
         "$root/bench/torch/train.py" --tp "$tp" --json "$json" "${devflags[@]}" "${args[@]}")
  fi
  compare_run "$tool" "$round" "$json" "${cmd[@]}"
}

for (( r = 1; r <= rounds; r++ )); do
  run_one torch "$r"
  run_one tpbench "$r"
done

"${python:-python3}" - "$tmp" "$rounds" <<'EOF'
import json, math, sys

tmp, rounds = sys.argv[1], int(sys.argv[2])

def runs(tool):
    """[(median step ms, first loss or None, last loss or None)] per round, from
    summary.step_ms.median (and "losses" when present)."""
    out = []
    for r in range(1, rounds + 1):
        path = "%s/%s.%d.json" % (tmp, tool, r)
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("compare_train.sh: cannot read %s: %s" % (path, e))
        try:
            med = float(doc["summary"]["step_ms"]["median"])
        except (KeyError, TypeError, ValueError):
            sys.exit("compare_train.sh: %s has no summary.step_ms.median" % path)
        if not (med > 0 and math.isfinite(med)):
            sys.exit("compare_train.sh: %s: summary.step_ms.median = %r" % (path, med))
        losses = doc.get("losses")
        ok = isinstance(losses, list) and losses and all(isinstance(v, (int, float)) for v in losses)
        out.append((med, float(losses[0]) if ok else None, float(losses[-1]) if ok else None))
    return out

tpb, tor = runs("tpbench"), runs("torch")
a, b = min(m for m, _, _ in tpb), min(m for m, _, _ in tor)
fmt = "%-8s %16s   %s"
print(fmt % ("tool", "median step ms", "each run"))
print(fmt % ("tpbench", "%.3f" % a, " ".join("%.3f" % m for m, _, _ in tpb)))
print(fmt % ("torch", "%.3f" % b, " ".join("%.3f" % m for m, _, _ in tor)))
print("tpbench/torch median step: %.3f   (< 1: tpbench faster; best of %d runs each;"
      " step = max over ranks per iteration, median over timed iterations)" % (a / b, rounds))
def loss_text(rs):
    if rs[0][1] is None:
        return "-"
    return "%.4f -> %.4f" % (rs[0][1], rs[0][2])
print("loss first -> last iteration (round 1): tpbench %s   torch %s" % (loss_text(tpb), loss_text(tor)))
with open("%s/torch.1.json" % tmp) as f:
    cfg = json.load(f).get("config", {})
if cfg.get("device") == "cuda":
    print("torch: %s on %s, TF32 %s, collectives %s" % (cfg.get("dtype"), cfg.get("gpu_name"),
                                                       cfg.get("tf32"), cfg.get("comm_backend")))
EOF
