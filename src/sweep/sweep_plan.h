// What a sweep runs: the cross product of the list-valued flags, one launch of
// `tpbench --nproc N train|linear ...` per configuration, in a fixed order.
//
// Lists are comma-separated ("1,2,4"). The product is taken outermost first in the order
// nproc, seq, batch, dp-shard, sp, tp, mode, so the configurations that differ only in tp (the
// usual study) sit next to each other and keep the order the user gave.
//
// With repeat = K > 1 every configuration is launched K times, round-robin (all of them
// once, then all again, ...), so a neighbour's burst of load or a slow drift of the machine
// falls on every configuration alike instead of on whichever ran at the time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tpb {

enum class SweepTarget { train, linear };

// Parsed flags of `tpbench sweep`. Empty lists mean "not swept: the command's default".
struct SweepSpec {
  SweepTarget target = SweepTarget::train;
  std::vector<int64_t> nproc;      // required, at least one
  std::vector<int64_t> tp;         // train only
  std::vector<std::string> dp_shard;  // train only: none, optimizer, full; passed as --dp-shard
  std::vector<std::string> sp;        // train only: off, on (on passes --sp)
  std::vector<int64_t> batch;
  std::vector<int64_t> seq;        // train only
  std::vector<std::string> mode;   // linear only: row, column, both
  std::vector<std::string> extra;  // passed unchanged to every configuration
  int repeat = 1;                  // launches of each configuration, round-robin
};

struct SweepConfig {
  int index = 0;       // of the configuration (the same for each of its repeats)
  std::string config;  // "cfg0", "cfg1", ...
  int repeat = 1;      // 1..K
  std::string name;    // the launch: "cfg0" (K = 1) or "cfg0-r2"; also its directory name
  SweepTarget target = SweepTarget::train;
  int64_t nproc = 1;
  std::optional<int64_t> tp, batch, seq;
  std::optional<std::string> dp_shard, mode;
  std::optional<bool> sp;
  std::vector<std::string> extra;
};

std::string sweep_target_name(SweepTarget t);

// "1,2,4" -> {1, 2, 4}. Throws UsageError naming the flag and the bad item (empty items,
// non-numbers, values below 1).
std::vector<int64_t> parse_int_list(const std::string& flag, const std::string& text);
// "row,column" -> {"row", "column"}; each item must be one of `allowed`.
std::vector<std::string> parse_word_list(const std::string& flag, const std::string& text,
                                         const std::vector<std::string>& allowed);

// Checks the flags fit the target (no --tp/--seq/--dp-shard for linear, no --mode for
// train, no --out/--run-name/--json among the passed-through flags). Throws UsageError.
void validate_sweep_spec(const SweepSpec& s);

// Every launch, in order: K rounds of every configuration.
std::vector<SweepConfig> plan_sweep(const SweepSpec& s);

// The tpbench arguments (after the executable) that run `c`, writing its results under
// run_root: train gets `--out RUN_ROOT --run-name NAME` (so its run directory is
// RUN_ROOT/NAME/<timestamp>/), linear gets `--out RUN_ROOT/NAME` (results.json there).
std::vector<std::string> launch_args(const SweepConfig& c, const std::string& run_root);

// The arguments as one shell-quoted line, for logs and reports.
std::string shell_join(const std::vector<std::string>& args);

}  // namespace tpb
