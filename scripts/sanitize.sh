#!/usr/bin/env bash
# The CPU test suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), and
# the tests that run a communication thread (overlapped DP) under ThreadSanitizer (build-tsan/).
#   bash scripts/sanitize.sh            # both
#   bash scripts/sanitize.sh asan|tsan  # one
# Environment: JOBS (build parallelism, default nproc); ASAN_TARGETS (build only these test
# targets and run only their tests, e.g. "test_data test_dp_deferred"; default: everything);
# CTEST_ARGS (extra ctest arguments). -O1 -g: the sanitizers' usual level (readable stacks,
# a third of -O2's compile time).
# Not part of scripts/test.sh / .ci/run: on 2 shared cores the instrumented build alone ran
# past 30 minutes (73 of 132 objects in ~25 min at -O1), beyond the CI budget.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
which=${1:-all}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
preload0=${LD_PRELOAD:-}

# Open MPI dlclose's its plugins (mca_*.so) at MPI_Finalize, after which their frames read
# "<unknown module>" (no LSan suppression matches them) and TSan aborts on an unloaded
# library it had matched a suppression against: a preloaded dlclose that keeps every shared
# object mapped (scripts/sanitizers/keep_plugins.c) leaves them loaded and named.
keep_plugins() {  # keep_plugins <build dir>: build the preload there and use it
  mkdir -p "$1"
  cc -shared -fPIC -O1 -o "$1/keep_plugins.so" scripts/sanitizers/keep_plugins.c
  export LD_PRELOAD="$root/$1/keep_plugins.so${preload0:+:$preload0}"
}

configure() {  # configure <dir> <sanitizer flags>
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" \
    -DTPB_WITH_CUDA=OFF -DTPB_BUILD_BENCH=OFF \
    "-DCMAKE_C_FLAGS=$2" "-DCMAKE_CXX_FLAGS=$2" \
    "-DCMAKE_EXE_LINKER_FLAGS=$2" "-DCMAKE_SHARED_LINKER_FLAGS=$2" >/dev/null
}

if [[ $which == all || $which == asan ]]; then
  echo "sanitize: ASan+UBSan build (build-asan/)"
  configure build-asan "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  targets=() ctest_filter=()
  if [[ -n ${ASAN_TARGETS:-} ]]; then
    read -r -a targets <<<"$ASAN_TARGETS"
    targets=(--target "${targets[@]}")
  fi
  cmake --build build-asan --parallel "$jobs" "${targets[@]}"
  if [[ -n ${ASAN_TARGETS:-} ]]; then  # the tests whose program is one of those targets
    ctest_filter=(-R "$(ctest --test-dir build-asan --show-only=json-v1 | python3 -c '
import json, os, re, sys
want = set(sys.argv[1].split())
names = [t["name"] for t in json.load(sys.stdin)["tests"]
         if any(os.path.basename(c) in want for c in t.get("command", []))]
print("|".join("^" + re.escape(n) + "$" for n in names) or "^$")' "$ASAN_TARGETS")")
  fi
  # Open MPI allocates at MPI_Init and never frees (its own components, hwloc, libevent):
  # LeakSanitizer would fail every MPI test on exit. Those leaks are suppressed by library
  # (scripts/sanitizers/lsan.supp), so leaks in tpbench's own code still fail a test.
  keep_plugins build-asan
  # verify_asan_link_order=0: the preloaded object comes before the ASan runtime, on purpose.
  export ASAN_OPTIONS="abort_on_error=0:detect_stack_use_after_return=0:strict_string_checks=1:verify_asan_link_order=0"
  export LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  ctest --test-dir build-asan --output-on-failure --parallel "$jobs" --timeout 1200 "${ctest_filter[@]}" \
    ${CTEST_ARGS:-} || status=1
fi

if [[ $which == all || $which == tsan ]]; then
  echo "sanitize: TSan build of the communication-thread tests (build-tsan/)"
  configure build-tsan "-fsanitize=thread -fno-omit-frame-pointer"
  cmake --build build-tsan --parallel "$jobs" --target test_dp_deferred test_model_parallel test_shm_concurrency
  # Open MPI is not instrumented: reports with a frame inside it (its libraries and plugins)
  # are suppressed (scripts/sanitizers/tsan.supp); a race between tpbench's own threads on
  # tpbench's own data still fails the test (halt_on_error, exit 66).
  keep_plugins build-tsan
  export TSAN_OPTIONS="suppressions=$root/scripts/sanitizers/tsan.supp:halt_on_error=1:exitcode=66:second_deadlock_stack=1"
  ctest --test-dir build-tsan --output-on-failure --timeout 1200 -R '^(test_dp_deferred|test_model_parallel|test_shm_concurrency)_np' ${CTEST_ARGS:-} || status=1
fi
exit "$status"
