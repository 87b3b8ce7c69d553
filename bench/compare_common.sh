# Shared by bench/compare_linear.sh and bench/compare_train.sh (sourced, not run): the
# checks, the environment both tools run in, and one run of one tool with its log.
# The sourcing script sets: me (its name for messages), nproc, rounds, tpbench, outdir,
# device and dtype (each empty unless given: --device / --dtype).

compare_require_positive() {  # compare_require_positive VAR...
  local v
  for v in "$@"; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
      echo "$me: --$v must be a positive integer, got '${!v}'" >&2; exit 2
    fi
  done
}

# Checks --device cpu|cuda and --dtype fp32|bf16 (bf16 only on cuda) and sets devflags to
# the ones given, for both tools; none given: nothing is passed, so each tool's default
# (cpu, fp32) holds. Also sets device and dtype to what will run.
compare_device_flags() {
  devflags=()
  if [[ -n $device ]]; then
    if [[ $device != cpu && $device != cuda ]]; then
      echo "$me: --device must be cpu or cuda, got '$device'" >&2; exit 2
    fi
    devflags+=(--device "$device")
  fi
  if [[ -n $dtype ]]; then
    if [[ $dtype != fp32 && $dtype != bf16 ]]; then
      echo "$me: --dtype must be fp32 or bf16, got '$dtype'" >&2; exit 2
    fi
    if [[ $dtype == bf16 && $device != cuda ]]; then
      echo "$me: --dtype bf16 needs --device cuda" >&2; exit 2
    fi
    devflags+=(--dtype "$dtype")
  fi
  device=${device:-cpu} dtype=${dtype:-fp32}
}

# Checks tpbench, makes $tmp (kept under --out DIR, else removed on exit), and exports the
# same threads per rank to both tools: k = max(1, cores // N) for OpenBLAS and OpenMP
# (Debian's torch does fp32 matmuls in OpenBLAS, which ignores torch.set_num_threads).
compare_setup() {
  if [[ ! -x $tpbench ]]; then
    echo "$me: tpbench not found at $tpbench (build it, or set TPBENCH)" >&2; exit 2
  fi
  if [[ -n $outdir ]]; then
    mkdir -p "$outdir"; tmp=$(cd "$outdir" && pwd)
  else
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  fi
  local k=$(( $(nproc) / nproc )); (( k >= 1 )) || k=1
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$k}
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$k}
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
}

# compare_run TOOL ROUND JSON CMD...: runs CMD with its output in $tmp/TOOL.ROUND.log; a
# failure, or no JSON written, ends the comparison with the log's tail.
compare_run() {
  local tool=$1 round=$2 json=$3; shift 3
  local log="$tmp/$tool.$round.log"
  rm -f "$json"
  if ! "$@" >"$log" 2>&1 || [[ ! -s $json ]]; then
    echo "$me: $tool run $round failed: $*" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}
