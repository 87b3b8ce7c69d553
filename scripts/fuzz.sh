#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang++ -fsanitize=fuzzer,address,undefined into
# build-fuzz/ and runs each for a bounded time on its corpus (fuzz/corpus/<target>/).
#   bash scripts/fuzz.sh [SECONDS]   # default 20 s a target; scripts/test.sh runs 10
# Each target compiles only the source files it needs (listed below), not the project. A
# finding (crash, sanitizer report, leak, timeout) fails the script; libFuzzer writes the
# input as build-fuzz/artifacts/<target>/crash-* : copy it into the corpus once fixed.
# New inputs found during a run go to build-fuzz/corpus/<target>/ (the committed seeds stay
# as they are). Needs clang and libclang-rt (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
out=build-fuzz
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (bash scripts/setup.sh installs clang)" >&2; exit 1; }

# target: the src/ files it compiles in.
declare -A sources=(
  [fuzz_token_file]="src/base/error.cpp src/data/data_file.cpp src/data/token_file_format.cpp src/data/token_file_source.cpp"
  [fuzz_cost_model]="src/base/error.cpp src/comm/comm_log.cpp src/comm/flight_dump.cpp src/comm/flight_recorder.cpp src/commbench/cost_model.cpp src/commbench/bench_op.cpp src/commbench/alpha_beta_fit.cpp src/report/atomic_file.cpp"
  [fuzz_flags]="src/base/error.cpp src/commbench/sizes.cpp src/commbench/bench_op.cpp src/comm/comm_log.cpp src/sweep/sweep_plan.cpp src/cli/flag_ranges.cpp"
)
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Isrc -isystem /usr/lib/x86_64-linux-gnu/openmpi/include
       -DFMT_SHARED -DOMPI_SKIP_MPICXX=1 -include fuzz/compat.h)
mkdir -p "$out"
status=0
for target in fuzz_token_file fuzz_cost_model fuzz_flags; do
  bin="$out/$target"
  # Rebuilt when the target, any of its sources or any header under src/ is newer.
  if [[ ! -x $bin || -n $(find "fuzz/$target.cpp" ${sources[$target]} -newer "$bin" -print -quit) ||
        -n $(find src fuzz -name '*.h' -newer "$bin" -print -quit) ]]; then
    t0=$SECONDS
    "$CXX" "${flags[@]}" "fuzz/$target.cpp" ${sources[$target]} -lfmt -o "$bin"
    echo "fuzz: built $target ($((SECONDS - t0)) s)"
  fi
  mkdir -p "$out/corpus/$target" "$out/artifacts/$target"
  corpus=("$out/corpus/$target")
  [[ -d fuzz/corpus/$target ]] && corpus+=("fuzz/corpus/$target")
  echo "fuzz: $target for ${seconds} s"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
              -print_final_stats=1 -artifact_prefix="$out/artifacts/$target/" "${corpus[@]}" \
              >"$out/$target.log" 2>&1; then
    echo "fuzz: $target FOUND A PROBLEM (log: $out/$target.log; input: $out/artifacts/$target/)" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$out/$target.log" | head -20 >&2 || true
    status=1
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$out/$target.log" | head -2 | sed "s/^/  /"  || true
  fi
done
exit "$status"
