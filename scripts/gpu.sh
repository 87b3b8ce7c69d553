#!/usr/bin/env bash
# Builds, checks and times tpbench's CUDA backend on a GPU machine that lacks Open MPI and
# the other Debian packages tpbench needs (the device tool's machine: Ubuntu-like, CUDA 13,
# PyTorch, no network, no apt), in one call. Three modes:
#
#   bash scripts/gpu.sh pack            HERE (Debian 12, network to Debian's mirrors):
#                                       apt-get download every .deb the build and the runs
#                                       need into .gpu-deps/ (git-ignored; ~21 MiB)
#   bash scripts/gpu.sh run [OUTDIR]    THERE, from the repo root, with .gpu-deps carried:
#                                       unpack into a private prefix, configure + build
#                                       build-gpu/, run the GPU tests and the benchmarks;
#                                       log + JSON into OUTDIR (default $OUT, else ./gpu-results)
#   bash scripts/gpu.sh selftest [DIR]  HERE: the parts that need no GPU, against the
#                                       unpacked prefix only (system copies hidden)
#
# The device tool call: run with carry [".gpu-deps"] and command `bash scripts/gpu.sh run`.
# Every step's exit status is recorded; a failed step does not stop the later ones; the
# summary at the end lists each step as PASS / FAIL / SKIP and the script exits 1 if any
# failed. `run` keeps inside a time budget (TPB_GPU_BUDGET_S, default 560 s: the device
# tool kills a command at 600 s) and skips what no longer fits, so the summary always prints.
# Docs: docs/gpu.md.
set -u

self=$(readlink -f "${BASH_SOURCE[0]}")
root=$(cd "$(dirname "$self")/.." && pwd)
cd "$root" || exit 2
deps_dir=$root/.gpu-deps
arch=x86_64-linux-gnu

# ---------------------------------------------------------------------------------------
# The packages. CORE: always taken from the prefix at run time (LD_LIBRARY_PATH shim).
# Anything else (found by ldd below) is a generic library the machine may already have in
# a newer version: the prefix's copy is used only when the machine's ld.so cache lacks it.
# ---------------------------------------------------------------------------------------
core_packages=(
  # Open MPI: headers + wrapper (dev), libraries + MCA plugins, mpirun/orted, help files
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common
  # its own runtime libraries (version-coupled to this Open MPI build)
  libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libpmix2
  # CBLAS: OpenBLAS, the pthread variant (library + cblas.h + the libopenblas.so link)
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0
  # header/config-only and small libraries
  libfmt-dev libfmt9 libcli11-dev nlohmann-json3-dev
  # GoogleTest: GTestTargets.cmake also defines the gmock targets and checks their files
  libgtest-dev libgmock-dev
)
# What ldd found on Debian 12 (Open MPI 4.1.4, OpenBLAS 0.3.21) for libmpi, orted, mpirun,
# the MCA plugins and libopenblas; pack recomputes it with ldd when those are installed.
known_runtime_packages=(
  libgfortran5 libquadmath0 libnuma1 libudev1 libuuid1 libatomic1 libmunge2
  libucx0 libfabric1 libibverbs1 librdmacm1 ibverbs-providers libnl-3-200 libnl-route-3-200
  libpsm2-2 libpsm-infinipath1
)
# Always on the target (and newer there): never shipped.
base_packages_re='^(libc6|libgcc-s1|libstdc\+\+6|zlib1g)$'
core_re="^($(IFS='|'; echo "${core_packages[*]}" | sed 's/+/\\+/g'))$"

say() { printf '%s\n' "$*"; }
show() { printf '+'; printf ' %q' "$@"; printf '\n'; }
doit() { show "$@"; "$@"; }

# =======================================================================================
# pack
# =======================================================================================
pack() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
    { say "gpu.sh pack: needs apt-get and dpkg (run it on Debian 12)"; return 2; }
  local L=/usr/lib/$arch
  local -a scan=()
  local f
  for f in "$L/libmpi.so.40" /usr/bin/orted /usr/bin/orterun /usr/bin/opal_wrapper /usr/bin/ompi_info \
           "$L"/openmpi/lib/openmpi3/*.so "$L"/pmix2/lib/pmix/*.so "$L/openblas-pthread/libopenblas.so.0" \
           "$L/libfmt.so.9" "$L/libhwloc.so.15" "$L/libpmix.so.2"; do
    [[ -e $f ]] && scan+=("$f")
  done
  local -A want=()
  local p
  for p in "${core_packages[@]}" "${known_runtime_packages[@]}"; do want[$p]=1; done
  if ((${#scan[@]} < 10)); then
    say "gpu.sh pack: Open MPI / OpenBLAS are not installed here (bash scripts/setup.sh installs them);"
    say "             using the built-in list of their runtime dependencies instead of ldd"
  else
    say "gpu.sh pack: ldd over ${#scan[@]} files (libmpi, orted, mpirun, MCA plugins, OpenBLAS, fmt, PMIx)"
    local lib real c pkg
    while read -r lib; do
      real=$(readlink -f "$lib"); pkg=
      for c in "$lib" "$real" "${lib#/usr}" "${real#/usr}" "/usr$lib" "/usr$real"; do
        pkg=$(dpkg -S "$c" 2>/dev/null | head -n1 | cut -d: -f1) && [[ -n $pkg ]] && break
      done
      if [[ -z $pkg ]]; then say "  warning: no package owns $lib"; continue; fi
      [[ $pkg =~ $base_packages_re ]] && continue
      if [[ -z ${want[$pkg]:-} ]]; then say "  + $pkg (for $lib)"; want[$pkg]=1; fi
    done < <(for f in "${scan[@]}"; do ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}'; done | sort -u)
  fi
  local -a pkgs
  mapfile -t pkgs < <(printf '%s\n' "${!want[@]}" | sort)

  doit mkdir -p "$deps_dir" || return 1
  grep -qxF '/.gpu-deps/' .gitignore 2>/dev/null || { show echo /.gpu-deps/ '>>' .gitignore; echo /.gpu-deps/ >> .gitignore; }
  show rm -f "$deps_dir/*.deb"; rm -f "$deps_dir"/*.deb
  local -a get=(apt-get -q -o APT::Sandbox::User=root download "${pkgs[@]}")
  show cd "$deps_dir" '&&' "${get[@]}"
  if ! (cd "$deps_dir" && "${get[@]}"); then
    say "gpu.sh pack: apt-get download failed; refreshing the package lists once"
    doit apt-get -q update || return 1
    show cd "$deps_dir" '&&' "${get[@]}"
    (cd "$deps_dir" && "${get[@]}") || { say "gpu.sh pack: apt-get download failed"; return 1; }
  fi
  # The list that travels with them (read by run/selftest for the core/other split too).
  local deb
  for deb in "$deps_dir"/*.deb; do
    printf '%s\t%s\t%s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" "$(stat -c %s "$deb")"
  done > "$deps_dir/MANIFEST"
  say
  say "gpu.sh pack: ${#pkgs[@]} packages in $deps_dir:"
  awk -F'\t' '{printf "  %-28s %-28s %8.1f KiB\n", $1, $2, $3/1024}' "$deps_dir/MANIFEST"
  local total
  total=$(du -sb "$deps_dir" | cut -f1)
  say "total: $(du -sh "$deps_dir" | cut -f1) ($total bytes; the device tool carries at most 64 MiB of working tree)"
  if ((total > 50 * 1024 * 1024)); then say "gpu.sh pack: over the 50 MiB budget"; return 1; fi
}

# =======================================================================================
# Shared by run and selftest: unpack, environment, configure
# =======================================================================================
deb_extract() {  # deb_extract DEB DIR
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$1" "$2"
  else  # ar + tar, for an image without dpkg
    local member
    member=$(ar t "$1" | grep '^data\.tar') || return 1
    case $member in
      *.xz) ar p "$1" "$member" | tar -xJ -C "$2" ;;
      *.zst) ar p "$1" "$member" | tar --zstd -x -C "$2" ;;
      *.gz) ar p "$1" "$member" | tar -xz -C "$2" ;;
      *) ar p "$1" "$member" | tar -x -C "$2" ;;
    esac
  fi
}
deb_package() {  # the Package field
  if command -v dpkg-deb >/dev/null; then dpkg-deb -f "$1" Package
  else basename "$1" | cut -d_ -f1; fi
}
deb_files() {  # paths in the archive, without the leading ./
  if command -v dpkg-deb >/dev/null; then dpkg-deb -c "$1"
  else
    local member; member=$(ar t "$1" | grep '^data\.tar')
    case $member in
      *.xz) ar p "$1" "$member" | tar -tvJ ;; *.zst) ar p "$1" "$member" | tar --zstd -tv ;;
      *.gz) ar p "$1" "$member" | tar -tvz ;; *) ar p "$1" "$member" | tar -tv ;;
    esac
  fi | awk '{print $6}' | sed 's|^\./||' | grep -v '^$'
}

# unpack_deps PREFIX: every .deb of .gpu-deps unpacked with dpkg -x into PREFIX (never /),
# the alternatives symlinks dpkg's maintainer scripts would have made (mpirun, mpicc), and
# PREFIX/ldlib: the shared libraries ld.so must find there (CORE always; others only when the
# machine's ld.so cache lacks them). PREFIX/.files lists "package<TAB>path" for each file.
unpack_deps() {
  local prefix=$1 deb pkg stamp
  compgen -G "$deps_dir/*.deb" >/dev/null || { say "no .deb in $deps_dir: run 'bash scripts/gpu.sh pack' here first"; return 1; }
  stamp=$(cd "$deps_dir" && ls -l -- *.deb | md5sum | cut -d' ' -f1)
  if [[ -f $prefix/.stamp && $(cat "$prefix/.stamp") == "$stamp" ]]; then
    say "deps already unpacked in $prefix (same .debs)"
  else
    doit rm -rf "$prefix" && doit mkdir -p "$prefix" || return 1
    : > "$prefix/.files"
    for deb in "$deps_dir"/*.deb; do
      pkg=$(deb_package "$deb")
      show dpkg-deb -x "$deb" "$prefix"
      deb_extract "$deb" "$prefix" || { say "cannot unpack $deb"; return 1; }
      deb_files "$deb" | sed "s|^|$pkg\t|" >> "$prefix/.files"
    done
    echo "$stamp" > "$prefix/.stamp"
  fi
  # Alternatives (update-alternatives runs from postinst, which dpkg -x does not run).
  local n
  for n in mpirun mpiexec mpicc mpicxx mpic++ mpiCC orterun; do
    [[ -e $prefix/usr/bin/$n.openmpi && ! -e $prefix/usr/bin/$n ]] && ln -s "$n.openmpi" "$prefix/usr/bin/$n"
  done
  # The library shim.
  rm -rf "$prefix/ldlib"; mkdir -p "$prefix/ldlib"
  local cache; cache=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk '{print $1}' | sort -u)
  local path name own=0 sys=0
  local -a from_system=()
  while IFS=$'\t' read -r pkg path; do
    name=${path##*/}
    case $path in
      usr/lib/$arch/lib*.so.*|lib/$arch/lib*.so.*|usr/lib/$arch/openblas-pthread/lib*.so.*) ;;
      *) continue ;;
    esac
    [[ -e $prefix/$path && ! -e $prefix/ldlib/$name ]] || continue
    [[ $(readlink -f "$prefix/$path") == "$prefix"/* ]] || continue  # an absolute link out of the prefix
    if [[ ! $pkg =~ $core_re && ${TPB_DEPS_SHIM_ALL:-0} != 1 ]] && grep -qxF "$name" <<<"$cache"; then
      from_system+=("$name"); ((sys++)); continue
    fi
    ln -s "$prefix/$path" "$prefix/ldlib/$name"; ((own++))
  done < "$prefix/.files"
  say "library shim $prefix/ldlib: $own libraries from the prefix; $sys the machine already has, left to it${from_system[*]:+: ${from_system[*]}}"
}

# tpb_env PREFIX: exports what the build and the runs need to use the prefix.
tpb_env() {
  local prefix=$1 U=$1/usr
  ORIG_PATH=$PATH ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
  export PATH=$U/bin:$PATH
  export LD_LIBRARY_PATH=$prefix/ldlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export CMAKE_PREFIX_PATH=$U${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  # Open MPI relocation: Debian configured it with prefix /usr; OPAL_PREFIX re-bases its
  # bin, lib, plugin and help-file directories; sysconfdir (/etc/openmpi) is absolute.
  export OPAL_PREFIX=$U OPAL_SYSCONFDIR=$prefix/etc/openmpi
  # PMIx (external to Open MPI here) keeps its plugins, help files and parameter file
  # under its own directories, which its prefix variable does not move: name each.
  local X=$U/lib/$arch/pmix2
  export PMIX_PREFIX=$X PMIX_PKGLIBDIR=$X/lib/pmix PMIX_PKGDATADIR=$X/share/pmix PMIX_SYSCONFDIR=$X/share
  export GTEST_COLOR=no
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  # Containers often forbid the cross-memory attach vader uses for large messages.
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  say "environment for the build and the tpbench runs:"
  local v
  for v in PATH LD_LIBRARY_PATH CMAKE_PREFIX_PATH OPAL_PREFIX OPAL_SYSCONFDIR PMIX_PREFIX PMIX_PKGLIBDIR \
           PMIX_PKGDATADIR PMIX_SYSCONFDIR GTEST_COLOR \
           OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe \
           OMPI_MCA_btl_vader_single_copy_mechanism; do
    say "  export $v=${!v}"
  done
}

# configure_args PREFIX: the cmake hints into the prefix (echoed one a line).
configure_args() {
  local U=$1/usr
  local blas=$U/lib/$arch/openblas-pthread/libopenblas.so
  printf '%s\n' -G Ninja -DCMAKE_BUILD_TYPE=Release -DTPB_NATIVE=OFF \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    "-DCMAKE_PREFIX_PATH=$U" \
    "-DMPI_C_COMPILER=$U/bin/mpicc" "-DMPIEXEC_EXECUTABLE=$U/bin/mpirun" \
    -DBLA_VENDOR=OpenBLAS "-DBLAS_openblas_LIBRARY=$blas" \
    "-DTPB_CBLAS_INCLUDE_DIR=$U/include/$arch/openblas-pthread"
  # The test CMakeLists look for /usr/bin/python3 at configure time (tests not run here).
  if [[ ! -x /usr/bin/python3 ]]; then
    local py; py=$(PATH=${ORIG_PATH:-$PATH} command -v python3 || true)
    [[ -n $py ]] && printf '%s\n' "-DTPB_SYSTEM_PYTHON3=$py" "-DTPB_PYTHON3=$py"
  fi
}

# ---------------------------------------------------------------------------------------
# Steps: each prints its command, runs it under a time limit, and records its outcome.
# ---------------------------------------------------------------------------------------
S_NAMES=() S_RESULTS=() S_NOTES=() result_files=()
t0=$SECONDS budget=${TPB_GPU_BUDGET_S:-560} reserve=20
steplog=$(mktemp /tmp/tpb-gpu-step.XXXXXX)
trap 'rm -f "$steplog"' EXIT

record() {  # record NAME PASS|FAIL|SKIP NOTE
  S_NAMES+=("$1") S_RESULTS+=("$2") S_NOTES+=("$3")
  say ">>> [$1] $2${3:+: $3}"
}
left_s() { echo $(( budget - (SECONDS - t0) - reserve )); }

# step NAME LIMIT_S CMD...: PASS when CMD exits 0. Its output also lands in $steplog.
step() {
  local name=$1 limit=$2; shift 2
  local left; left=$(left_s)
  if ((left < 10)); then record "$name" SKIP "no time left in the ${budget}s budget"; : > "$steplog"; LAST_RC=125; return 125; fi
  ((limit > left)) && limit=$left
  say; say "=== [$name]  (limit ${limit}s, $((SECONDS - t0))s elapsed)"
  show "$@"
  local t=$SECONDS rc
  timeout -k 10 "$limit" "$@" < /dev/null 2>&1 | tee "$steplog"
  rc=${PIPESTATUS[0]}
  LAST_RC=$rc
  local note="rc $rc, $((SECONDS - t))s"
  ((rc == 124 || rc == 137)) && note="timed out after ${limit}s (rc $rc)"
  if grep -q 'component_repository_open: unable to open' "$steplog"; then note+="; MCA plugin load errors (see log)"; fi
  if grep -q 'GPU_SH_SELFTEST_POISON' "$steplog"; then  # selftest: a hidden system copy was reached
    record "$name" FAIL "$note; a hidden system file was used (see log)"; return 1
  fi
  if ((rc == 0)); then record "$name" PASS "$note"; else record "$name" FAIL "$note"; fi
  return "$rc"
}
# amend the last step's result (e.g. a test that "passed" by skipping on a GPU machine)
amend() { local i=$((${#S_NAMES[@]} - 1)); S_RESULTS[i]=$1; S_NOTES[i]="${S_NOTES[i]}; $2"; say ">>> [${S_NAMES[i]}] now $1: $2"; }

# check_gtest: counts of a gtest step's output; FAIL when the GPU was not used.
check_gtest() {
  local out passed skipped failed
  out=$(sed 's/\x1b\[[0-9;]*m//g' "$steplog")
  GTEST_NO_GPU=0
  passed=$(grep -m1 -o '^\[  PASSED  \] [0-9]*' <<<"$out" | grep -o '[0-9]*$')
  skipped=$(grep -m1 -o '^\[  SKIPPED \] [0-9]* test' <<<"$out" | grep -o '[0-9]*')
  failed=$(grep -m1 -o '^\[  FAILED  \] [0-9]* test' <<<"$out" | grep -o '[0-9]*')
  local counts="gtest: ${passed:-?} passed, ${skipped:-0} skipped, ${failed:-0} failed (rank 0)"
  if grep -q 'no CUDA device' <<<"$out"; then
    GTEST_NO_GPU=1
    amend FAIL "$counts; the tests saw no CUDA device"
  else
    S_NOTES[-1]="${S_NOTES[-1]}; $counts"
  fi
}
check_json() {  # check_json FILE: the step wrote its JSON
  if [[ ${S_RESULTS[-1]} == PASS && ! -s $1 ]]; then amend FAIL "no JSON written to $1"; fi
}

summary() {
  say; say "=== summary ($((SECONDS - t0))s)"
  local i fails=0
  for i in "${!S_NAMES[@]}"; do
    printf '  %-4s  %-28s %s\n' "${S_RESULTS[i]}" "${S_NAMES[i]}" "${S_NOTES[i]}"
    [[ ${S_RESULTS[i]} == FAIL ]] && ((fails++))
  done
  say "passed $(printf '%s\n' "${S_RESULTS[@]}" | grep -c PASS), failed $fails, skipped $(printf '%s\n' "${S_RESULTS[@]}" | grep -c SKIP)"
  if [[ -n ${summary_json:-} ]]; then
    local py=${torch_python:-python3}
    {
      for i in "${!S_NAMES[@]}"; do printf '%s\t%s\t%s\n' "${S_NAMES[i]}" "${S_RESULTS[i]}" "${S_NOTES[i]}"; done
    } | PATH=${ORIG_PATH:-$PATH} LD_LIBRARY_PATH=${ORIG_LD_LIBRARY_PATH:-} "$py" -c '
import json, os, sys
steps = [dict(zip(("step", "result", "note"), l.rstrip("\n").split("\t", 2))) for l in sys.stdin if l.strip()]
results = {}
for p in sys.argv[3:]:
    if os.path.basename(p) == os.path.basename(sys.argv[1]):
        continue
    try:
        with open(p) as f:
            results[os.path.basename(p)] = json.load(f)
    except (OSError, ValueError):
        pass
with open(sys.argv[1], "w") as f:
    json.dump({"schema": "tpbench.gpu_sh/1", "mode": sys.argv[2], "steps": steps, "results": results}, f, indent=1)
' "$summary_json" "$mode" "${result_files[@]}" 2>/dev/null || say "(could not write $summary_json)"
    say "steps and every run's JSON: $summary_json"
  fi
  ((fails == 0))
}

# The side-by-side table. Args: label tpbench.json torch.json ... (triples).
compare_table() {
  PATH=${ORIG_PATH:-$PATH} LD_LIBRARY_PATH=${ORIG_LD_LIBRARY_PATH:-} "${torch_python:-python3}" - "$@" <<'EOF'
import json, math, sys

def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def num(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d if isinstance(d, (int, float)) and math.isfinite(d) else None

def f(v, fmt):
    return "-" if v is None else fmt % v

args = sys.argv[1:]
rows = []
for i in range(0, len(args), 3):
    label, tp, tq = args[i], load(args[i + 1]), load(args[i + 2])
    a = num(tp, "summary", "step_ms", "median")
    b = num(tq, "summary", "step_ms", "median")
    flops = num(tp, "summary", "flops_per_step")
    peak = num(tp, "summary", "dense_peak_flops")
    mfu_t = num(tp, "summary", "mfu_dense_peak")
    mfu_g = num(tp, "summary", "mfu")
    # The same model and tokens a step: torch's MFU from tpbench's FLOPs and peak.
    mfu_q = flops / (b / 1e3) / peak if (flops and peak and b) else None
    lt = tp.get("losses") if tp else None
    lq = tq.get("losses") if tq else None
    rows.append((label, a, b, a / b if (a and b) else None,
                 num(tp, "summary", "tokens_per_s"), num(tq, "summary", "tokens_per_s"),
                 mfu_t, mfu_g, mfu_q,
                 "%.3f->%.3f" % (lt[0], lt[-1]) if lt else "-", "%.3f->%.3f" % (lq[0], lq[-1]) if lq else "-"))
hdr = ("run", "tpbench ms", "torch ms", "tpb/torch", "tpb tok/s", "torch tok/s",
       "MFU tpb", "(GEMM pk)", "MFU torch", "loss tpb", "loss torch")
w = (16, 11, 10, 10, 11, 12, 8, 10, 10, 16, 16)
print("  ".join(h.rjust(n) if j else h.ljust(n) for j, (h, n) in enumerate(zip(hdr, w))))
for r in rows:
    cells = (r[0], f(r[1], "%.2f"), f(r[2], "%.2f"), f(r[3], "%.3f"), f(r[4], "%.0f"), f(r[5], "%.0f"),
             f(r[6] and r[6] * 100, "%.1f%%"), f(r[7] and r[7] * 100, "%.1f%%"), f(r[8] and r[8] * 100, "%.1f%%"),
             r[9], r[10])
    print("  ".join(c.rjust(n) if j else c.ljust(n) for j, (c, n) in enumerate(zip(cells, w))))
print("step = median over timed iterations of the slowest rank's step; tpb/torch < 1: tpbench faster.")
print("MFU = model FLOPs / step / the device's dense peak (tpbench's flops_per_step and dense_peak_flops "
      "for both tools); (GEMM pk) = tpbench's MFU against its measured GEMM peak.")
EOF
}

# torch_model_args TPBENCH_JSON: train.py flags for the model and batch tpbench ran
# (train.py has no --preset), from the config tpbench wrote.
torch_model_args() {
  PATH=${ORIG_PATH:-$PATH} LD_LIBRARY_PATH=${ORIG_LD_LIBRARY_PATH:-} "${torch_python:-python3}" - "$1" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
m, t = c["model"], c["training"]
print(" ".join(("%.6g" % x) if isinstance(x, float) else str(x) for x in (
    "--dim", m["dim"], "--layers", m["n_layers"], "--heads", m["n_heads"], "--kv-heads", m["n_kv_heads"],
    "--ffn-hidden", m["ffn_hidden"], "--vocab", m["vocab"], "--seq", m["seq"],
    "--batch", t["batch_per_dp_rank"], "--lr", t["lr"], "--weight-decay", t["weight_decay"],
    "--grad-clip", t["grad_clip"], "--seed", t["seed"])))
EOF
}

find_torch_python() {
  local c
  for c in "$(command -v python3 2>/dev/null)" /opt/torch/.venv/bin/python3 /usr/bin/python3; do
    [[ -n $c && -x $c ]] && "$c" -c 'import torch' 2>/dev/null && { echo "$c"; return 0; }
  done
  return 1
}

# torch_bench LABEL DEVICE DTYPE TPB_JSON TORCH_JSON: bench/torch/train.py on one rank on
# the model and batch tpbench ran (read from TPB_JSON), called as bench/compare_train.sh
# calls it (through run_torch.sh), in the machine's own environment (not the prefix's).
torch_bench() {
  local label=$1 device=$2 dtype=$3 tj=$4 qj=$5
  rm -f "$qj"
  if [[ -z ${torch_python:-} ]]; then record "torch $label" SKIP "no python3 with torch"; return; fi
  local -a dflag=(--dtype "$dtype")
  if ! grep -q -- '"--dtype"' bench/torch/train.py; then
    if [[ $dtype != fp32 ]]; then record "torch $label" SKIP "bench/torch/train.py has no --dtype"; return; fi
    dflag=()
  fi
  local model
  if [[ -s $tj ]]; then model=$(torch_model_args "$tj")
  else model=${TPB_TORCH_FALLBACK_ARGS:-}; say "(no tpbench JSON: torch gets the fallback model flags: $model)"; fi
  # shellcheck disable=SC2086
  step "torch $label" "${TPB_BENCH_LIMIT_S:-200}" env PATH="$ORIG_PATH" LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" \
       PYTHON="$torch_python" PYTHONUNBUFFERED=1 bash bench/torch/run_torch.sh --nproc 1 bench/torch/train.py \
       --tp 1 --json "$qj" --device "$device" "${dflag[@]}" $model "${torch_iter_args[@]}"
  check_json "$qj"
}

# =======================================================================================
# run (on the GPU machine)
# =======================================================================================
run_mode() {
  outdir=${1:-${OUT:-$root/gpu-results}}
  mkdir -p "$outdir" && outdir=$(cd "$outdir" && pwd) || { say "cannot make $outdir"; return 2; }
  summary_json=$outdir/gpu-summary.json
  exec > >(tee "$outdir/gpu.log") 2>&1
  say "gpu.sh run: $(date -u '+%F %T') UTC on ${HOSTNAME:-?}, repo $root, results in $outdir"
  say "  (files there: gpu.log, gpu-summary.json, up to 5 JSON results; budget ${budget}s)"

  local prefix=${TPB_DEPS_PREFIX:-/opt/tpb-deps}
  if ! { mkdir -p "$prefix" 2>/dev/null && [[ -w $prefix ]]; }; then prefix=${TMPDIR:-/tmp}/tpb-deps; fi
  local build=${TPB_GPU_BUILD_DIR:-$root/build-gpu}
  runs_dir=${TMPDIR:-/tmp}/tpb-gpu-runs
  tpbench=$build/src/cli/tpbench
  torch_python=$(find_torch_python || true)
  local nvcc=${CUDACXX:-}
  [[ -z $nvcc ]] && nvcc=$(command -v nvcc || true)
  [[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc

  step "nvidia-smi" 30 nvidia-smi
  say; uname -a; grep -m1 'model name' /proc/cpuinfo; say "cores: $(nproc)"; grep -m1 MemTotal /proc/meminfo
  say "nvcc: ${nvcc:-none} $( [[ -n $nvcc ]] && "$nvcc" --version | tail -n1)"
  say "cmake: $(cmake --version | head -n1); ninja $(ninja --version 2>/dev/null); c++: $(c++ --version 2>/dev/null | head -n1)"
  say "python with torch: ${torch_python:-none} $( [[ -n $torch_python ]] && "$torch_python" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>/dev/null)"

  say; say "=== [unpack deps]"
  if unpack_deps "$prefix"; then record "unpack deps" PASS "$prefix"; else record "unpack deps" FAIL "see above"; summary; return 1; fi
  tpb_env "$prefix"

  # NCCL: the toolkit's, the system's, or PyTorch's wheel (nvidia-nccl-cu13).
  local nccl_lib=${TPB_NCCL_LIBRARY:-} nccl_inc=${TPB_NCCL_INCLUDE_DIR:-} d
  if [[ -z $nccl_lib ]]; then
    local -a dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib "/usr/lib/$arch")
    if [[ -n $torch_python ]]; then
      local w
      w=$(PATH=$ORIG_PATH LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH "$torch_python" -c \
          'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
      [[ -n $w ]] && dirs+=("$w/lib" "$w")
      w=$(PATH=$ORIG_PATH "$torch_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
      [[ -d $w/nvidia ]] && mapfile -t -O "${#dirs[@]}" dirs < <(find "$w/nvidia" -name 'libnccl.so*' -printf '%h\n' 2>/dev/null | sort -u)
    fi
    for d in "${dirs[@]}"; do
      for f in "$d/libnccl.so" "$d/libnccl.so.2"; do [[ -e $f ]] && { nccl_lib=$f; break 2; }; done
    done
    if [[ -z $nccl_lib ]]; then
      show timeout 60 find / -xdev -name 'libnccl.so*'
      nccl_lib=$(timeout 60 find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'libnccl.so*' -print 2>/dev/null | head -n1)
    fi
  fi
  if [[ -z $nccl_inc && -n $nccl_lib ]]; then
    d=$(dirname "$nccl_lib")
    for f in "$d/../include" "$d/../../include" /usr/local/cuda/include /usr/include; do
      [[ -f $f/nccl.h ]] && { nccl_inc=$(cd "$f" && pwd); break; }
    done
    [[ -z $nccl_inc ]] && nccl_inc=$(timeout 60 find / -xdev \( -path /proc -o -path /sys \) -prune -o -name nccl.h -print 2>/dev/null | head -n1 | xargs -r dirname)
  fi
  say "NCCL: library ${nccl_lib:-NOT FOUND}, nccl.h in ${nccl_inc:-NOT FOUND}"
  [[ -n $nccl_lib ]] && LD_LIBRARY_PATH=$LD_LIBRARY_PATH:${nccl_lib%/*}
  local cublas; cublas=$(ls /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/targets/x86_64-linux/lib/libcublas.so* 2>/dev/null | head -n1)
  say "cuBLAS: ${cublas:-not in /usr/local/cuda (FindCUDAToolkit will look further)}"

  local -a cfg
  mapfile -t cfg < <(configure_args "$prefix")
  cfg+=(-DTPB_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
  [[ -n $nvcc ]] && cfg+=("-DCMAKE_CUDA_COMPILER=$nvcc")
  [[ -n $nccl_lib ]] && cfg+=("-DTPB_NCCL_LIBRARY=$nccl_lib")
  [[ -n $nccl_inc ]] && cfg+=("-DTPB_NCCL_INCLUDE_DIR=$nccl_inc")
  step "configure" 180 cmake -S . -B "$build" "${cfg[@]}"
  local configured=$LAST_RC cuda=1
  if ((configured == 0)) && ! grep -q 'tpbench CUDA backend: ON' "$steplog"; then
    cuda=0; amend FAIL "configured WITHOUT the CUDA backend (no nvcc or CUDA toolkit found); building the rest anyway"
  fi
  # Only what this script runs (TPB_GPU_BUILD_ALL=1: everything); all cores.
  local -a targets=(--target tpbench test_kernels_cuda test_model_gpu)
  ((cuda)) && targets+=(test_comm_nccl)  # defined only in a CUDA configuration
  [[ ${TPB_GPU_BUILD_ALL:-0} == 1 ]] && targets=()
  if ((configured == 0)); then
    step "build" 420 cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"
  else record "build" SKIP "configure failed"; fi
  if [[ ! -x $tpbench ]]; then
    record "GPU tests and benchmarks" SKIP "no tpbench built"; summary; return 1
  fi
  say; show ldd "$tpbench"; ldd "$tpbench" | grep -E 'mpi|open-|blas|fmt|nccl|cublas|hwloc|pmix|event|not found'

  step "test_kernels_cuda" 180 "$build/tests/kernels/test_kernels_cuda"; check_gtest
  if [[ -x $build/tests/comm/test_comm_nccl ]]; then
    step "test_comm_nccl np2" 180 mpirun -np 2 --oversubscribe "$build/tests/comm/test_comm_nccl"; check_gtest
  else record "test_comm_nccl np2" FAIL "not built (it exists only in a CUDA configuration)"; fi
  step "test_model_gpu np2" 240 mpirun -np 2 --oversubscribe "$build/tests/model/test_model_gpu"; check_gtest
  step "mesh --device cuda" 60 "$tpbench" --nproc 2 mesh --tp 2 --device cuda

  run_benchmarks
  summary
}

# run_benchmarks: tpbench on one GPU (bf16, fp32), on 2 ranks sharing it, PyTorch eager on
# the same model, and the table. Uses outdir, tpbench, runs_dir.
run_benchmarks() {
  torch_iter_args=(--iters 30 --warmup-iters 5)
  TPB_TORCH_FALLBACK_ARGS="--dim 256 --layers 8 --heads 32 --kv-heads 4 --ffn-hidden 720 --vocab 32000 --seq 2048 --batch 24 --lr 0.003"
  local ezpz=(--preset ezpz-fsdp-tp --iters 30 --warmup-iters 5)
  # tpbench first, both dtypes; torch after (an OOM there must not cost tpbench's numbers).
  rm -f "$outdir"/tpb_ezpz_*.json "$outdir"/torch_ezpz_*.json "$outdir/tpb_small_tp2.json"
  for dt in bf16 fp32; do
    step "tpbench ezpz $dt" "${TPB_BENCH_LIMIT_S:-200}" "$tpbench" train --device cuda --dtype "$dt" "${ezpz[@]}" \
         --out "$runs_dir" --json "$outdir/tpb_ezpz_$dt.json"
    check_json "$outdir/tpb_ezpz_$dt.json"
  done
  step "tpbench 2 ranks tp2 small" 180 "$tpbench" --nproc 2 train --device cuda --tp 2 --preset small --iters 10 \
       --out "$runs_dir" --json "$outdir/tpb_small_tp2.json"
  check_json "$outdir/tpb_small_tp2.json"
  step "tpbench 2 ranks tp2 --sp small" 180 "$tpbench" --nproc 2 train --device cuda --tp 2 --sp --preset small \
       --iters 10 --out "$runs_dir"
  # PyTorch eager at the preset's batch may not fit in GPU memory (train.py writes attention
  # out, B x H x T x T scores per layer): then both tools again at a batch that fits, so
  # the table still has a like-for-like row. Those JSONs go into gpu-summary.json only
  # (the device tool returns at most 8 files).
  local fb=${TPB_GPU_FALLBACK_BATCH:-4} work=${TMPDIR:-/tmp}/tpb-gpu-json
  mkdir -p "$work" && rm -f "$work"/*.json
  local -a rows=()
  for dt in bf16 fp32; do
    torch_bench "ezpz $dt" cuda "$dt" "$outdir/tpb_ezpz_$dt.json" "$outdir/torch_ezpz_$dt.json"
    rows+=("ezpz $dt" "$outdir/tpb_ezpz_$dt.json" "$outdir/torch_ezpz_$dt.json")
    if [[ ${S_RESULTS[-1]} == FAIL ]] && grep -qi 'out of memory' "$steplog"; then
      amend FAIL "PyTorch ran out of GPU memory at the preset's batch; both tools again at --batch $fb"
      step "tpbench ezpz $dt batch $fb" "${TPB_BENCH_LIMIT_S:-200}" "$tpbench" train --device cuda --dtype "$dt" \
           "${ezpz[@]}" --batch "$fb" --out "$runs_dir" --json "$work/tpb_ezpz_${dt}_b$fb.json"
      check_json "$work/tpb_ezpz_${dt}_b$fb.json"
      if [[ -s $work/tpb_ezpz_${dt}_b$fb.json ]]; then
        torch_bench "ezpz $dt batch $fb" cuda "$dt" "$work/tpb_ezpz_${dt}_b$fb.json" "$work/torch_ezpz_${dt}_b$fb.json"
      else record "torch ezpz $dt batch $fb" SKIP "no tpbench run at --batch $fb to match"; fi
      rows+=("ezpz $dt b$fb" "$work/tpb_ezpz_${dt}_b$fb.json" "$work/torch_ezpz_${dt}_b$fb.json")
    fi
  done
  rows+=("small tp2 (2 rk)" "$outdir/tpb_small_tp2.json" /nonexistent)
  result_files=("$outdir"/*.json "$work"/*.json)

  say; say "=== tpbench vs PyTorch eager, one GPU, preset ezpz-fsdp-tp (30 iterations, 5 untimed)"
  compare_table "${rows[@]}"
}

# =======================================================================================
# selftest (here, no GPU)
# =======================================================================================
# hide_system_copies PREFIX: inside a private mount namespace, bind a poison file over the
# system's copy of every file the CORE packages ship, so that anything that still reaches
# /usr (a header, a CMake config, a library, mpirun, orted, a plugin) fails loudly. Files
# the host's own programs load (Debian's python3-torch links libopenblas and libfmt) are
# left, and ldd shows where tpbench takes them from instead.
hide_system_copies() {
  local prefix=$1 P=$1/poison
  mkdir -p "$P"
  # One token in each, which step() looks for in every step's output.
  printf '#error "GPU_SH_SELFTEST_POISON: a system header was used instead of the prefix copy"\n' > "$P/header"
  printf 'message(FATAL_ERROR "GPU_SH_SELFTEST_POISON: system CMake file ${CMAKE_CURRENT_LIST_FILE} used")\n' > "$P/cmake"
  printf '#!/bin/sh\necho "GPU_SH_SELFTEST_POISON: system program $0 used" >&2\nexit 99\n' > "$P/program"
  chmod +x "$P/program"
  printf 'GPU_SH_SELFTEST_POISON\n' > "$P/data"
  local -A keep=()
  local f torchlib
  torchlib=$(/usr/bin/python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))' 2>/dev/null || true)
  for f in /usr/bin/python3 ${torchlib:+"$torchlib"}; do
    [[ -e $f ]] || continue
    while read -r f; do keep[$(readlink -f "$f")]=1; done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
  done
  local pkg path real kind n=0 kept=0
  local -A done_=()
  while IFS=$'\t' read -r pkg path; do
    [[ $pkg =~ $core_re ]] || continue
    [[ -f $prefix/$path || -L $prefix/$path ]] || continue
    real=$(readlink -f "/$path" 2>/dev/null) || continue
    [[ -f $real && -z ${done_[$real]:-} ]] || continue
    done_[$real]=1
    if [[ -n ${keep[$real]:-} ]]; then ((kept++)); continue; fi
    case $real in
      *.cmake) kind=cmake ;;
      */bin/*) kind=program ;;
      */include/*|*.h|*.hpp) kind=header ;;
      *) kind=data ;;
    esac
    mount --bind "$P/$kind" "$real" && ((n++))
  done < "$prefix/.files"
  say "hid $n system files of the core packages behind poison files; left $kept the host's python3/torch load"
}

selftest_mode() {
  local dir=${1:-}
  if [[ ${TPB_SELFTEST_NS:-0} != 1 ]]; then
    if ((EUID == 0)) && command -v unshare >/dev/null && unshare -m --propagation private true 2>/dev/null; then
      show unshare -m --propagation private bash "$self" selftest ${dir:+"$dir"}
      TPB_SELFTEST_NS=1 exec unshare -m --propagation private bash "$self" selftest ${dir:+"$dir"}
    fi
    say "WARNING: no private mount namespace (needs root and unshare): system copies stay visible"
  fi
  budget=${TPB_GPU_BUDGET_S:-3600}
  [[ -z $dir ]] && dir=$(mktemp -d /tmp/tpb-gpu-selftest.XXXXXX)
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  local prefix=$dir/deps build=$dir/build outdir=$dir/out
  runs_dir=$dir/runs
  mkdir -p "$outdir"
  summary_json=$outdir/gpu-summary.json
  exec > >(tee -a "$outdir/gpu.log") 2>&1
  say "gpu.sh selftest: $(date -u '+%F %T') UTC, in $dir (CPU-only build; GPU steps are not run)"
  torch_python=$(find_torch_python || true)

  say; say "=== [unpack deps]"
  if unpack_deps "$prefix"; then record "unpack deps" PASS "$prefix"; else record "unpack deps" FAIL ""; summary; return 1; fi
  if [[ ${TPB_SELFTEST_NS:-0} == 1 ]]; then
    hide_system_copies "$prefix"; record "hide system copies" PASS "private mount namespace"
  else
    record "hide system copies" SKIP "no mount namespace"
  fi
  tpb_env "$prefix"
  tpbench=$build/src/cli/tpbench

  step "ompi_info relocated" 60 ompi_info --path all
  if [[ ${S_RESULTS[-1]} == PASS ]] && ! grep -q "Prefix: $prefix/usr\$" "$steplog"; then amend FAIL "Prefix is not $prefix/usr"; fi
  step "mpicc -showme" 30 mpicc -showme
  step "mpirun -np 2 hostname" 60 mpirun -np 2 hostname

  local -a cfg
  mapfile -t cfg < <(configure_args "$prefix")
  step "configure (CPU only)" 300 cmake -S . -B "$build" "${cfg[@]}" -DTPB_WITH_CUDA=OFF
  if [[ ${S_RESULTS[-1]} == PASS ]]; then
    say; grep -E '^(MPI_C_COMPILER|MPI_mpi_LIBRARY|MPI_C_HEADER_DIR|MPIEXEC_EXECUTABLE|BLAS_openblas_LIBRARY|TPB_CBLAS_INCLUDE_DIR|fmt_DIR|CLI11_DIR|nlohmann_json_DIR|GTest_DIR):' "$build/CMakeCache.txt"
    local bad; bad=$(grep -E '^(MPI_C_COMPILER|MPI_mpi_LIBRARY|MPIEXEC_EXECUTABLE|BLAS_openblas_LIBRARY|TPB_CBLAS_INCLUDE_DIR|fmt_DIR|CLI11_DIR|nlohmann_json_DIR|GTest_DIR):' \
                 "$build/CMakeCache.txt" | grep -v "=$prefix/" || true)
    [[ -n $bad ]] && amend FAIL "found outside the prefix: $bad"
    step "build (CPU only)" 3000 cmake --build "$build" --parallel "$(nproc)" \
         --target tpbench test_comm test_mesh_layout test_kernels_cuda test_model_gpu
  else record "build (CPU only)" SKIP "configure failed"; fi
  if [[ ! -x $tpbench ]]; then summary; return 1; fi

  say; show ldd "$tpbench"; ldd "$tpbench" | tee "$steplog"
  local lib miss=()
  for lib in libmpi.so.40 libopen-rte.so.40 libopen-pal.so.40 libopenblas.so.0 libfmt.so.9 libhwloc.so.15 libevent_core-2.1.so.7; do
    grep -q "$lib => $prefix/" "$steplog" || miss+=("$lib")
  done
  if grep -q 'not found' "$steplog"; then record "ldd tpbench" FAIL "a library is not found"
  elif ((${#miss[@]})); then record "ldd tpbench" FAIL "not from the prefix: ${miss[*]}"
  else record "ldd tpbench" PASS "libmpi, libopen-rte/pal, OpenBLAS, fmt, hwloc, libevent from $prefix/ldlib"; fi

  step "mpirun -np 2 tpbench mesh --tp 2" 60 mpirun -np 2 "$tpbench" mesh --tp 2
  step "tpbench --nproc 2 mesh --tp 2" 60 "$tpbench" --nproc 2 mesh --tp 2
  step "tpbench mesh (singleton)" 60 "$tpbench" mesh
  step "test_mesh_layout" 120 "$build/tests/comm/test_mesh_layout"
  step "mpirun -np 2 test_comm" 300 mpirun -np 2 "$build/tests/comm/test_comm"
  step "test_kernels_cuda (skips)" 120 "$build/tests/kernels/test_kernels_cuda"; check_gtest
  ((LAST_RC == 0 && GTEST_NO_GPU)) && amend PASS "all skipped as expected here (the same check FAILs it on a GPU machine)"
  step "mpirun -np 2 test_model_gpu (skips)" 300 mpirun -np 2 "$build/tests/model/test_model_gpu"; check_gtest
  ((LAST_RC == 0 && GTEST_NO_GPU)) && amend PASS "all skipped as expected here"
  step "mesh --device cuda (no GPU)" 60 "$tpbench" --nproc 2 mesh --tp 2 --device cuda
  ((LAST_RC != 0 && LAST_RC != 124)) && amend PASS "failing without a GPU is expected here; its message is above"

  # The benchmark half of `run`, on the CPU with the tiny preset: tpbench, torch from the
  # JSON tpbench wrote, the table.
  torch_iter_args=(--iters 6 --warmup-iters 2)
  TPB_TORCH_FALLBACK_ARGS="--dim 32 --layers 2 --heads 4 --kv-heads 4 --ffn-hidden 48 --vocab 64 --seq 16 --batch 2"
  step "tpbench tiny cpu fp32" 300 "$tpbench" train --preset tiny --iters 6 --warmup-iters 2 --out "$runs_dir" \
       --json "$outdir/tpb_tiny.json"
  check_json "$outdir/tpb_tiny.json"
  torch_bench "tiny cpu fp32" cpu fp32 "$outdir/tpb_tiny.json" "$outdir/torch_tiny.json"
  step "tpbench --nproc 2 train --tp 2 tiny" 300 "$tpbench" --nproc 2 train --tp 2 --preset tiny --iters 4 \
       --warmup-iters 1 --out "$runs_dir" --json "$outdir/tpb_tiny_tp2.json"
  check_json "$outdir/tpb_tiny_tp2.json"
  result_files=("$outdir"/*.json)
  say; say "=== the comparison table (CPU, tiny preset)"
  compare_table "tiny cpu fp32" "$outdir/tpb_tiny.json" "$outdir/torch_tiny.json" \
                "tiny tp2 (2 rk)" "$outdir/tpb_tiny_tp2.json" /nonexistent
  summary
}

# Sourced (by a test harness): define the functions only.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

mode=${1:-}
shift || true
case $mode in
  pack) pack "$@" ;;
  run) run_mode "$@" ;;
  selftest) selftest_mode "$@" ;;
  *) sed -n '2,17p' "$self" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
