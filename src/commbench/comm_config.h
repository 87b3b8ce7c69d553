// What `tpbench comm` measures, and the checks on it that need only the command line and
// the world size (run before any rank starts).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "comm/comm_log.h"

namespace tpb {

struct CommBenchConfig {
  std::vector<CommOp> ops = {CommOp::all_reduce};
  size_t min_bytes = 8;
  size_t max_bytes = size_t{64} << 20;
  int64_t step_factor = 2;
  int iters = 20;   // timed calls per size and variant
  int warmup = 5;   // untimed calls before them
  int check = 1;    // > 0: one extra call per size and variant, checked to the bit
  DType dtype = DType::f32;
  int root = 0;     // broadcast's root, as a rank of the group
  std::optional<int> tp;     // unset: the whole world is one group; T: the mesh's groups
  std::string group = "tp";  // with tp: "tp" or "dp"
  bool per_rank = false;
  std::string device = "cpu";  // cpu | cuda: where the buffers live
};

// The groups the benchmark runs on, all at once: their name, size and members (world ranks).
struct GroupLayout {
  std::string name;  // "world", "tp" or "dp"
  int size = 0;
  std::vector<std::vector<int>> groups;
  // Index into `groups` of the group holding world rank r.
  int group_of(int world_rank) const;
};

// Pure: from the config and the world size alone (ParallelDims: the mesh layout, TP innermost).
GroupLayout comm_group_layout(const CommBenchConfig& c, int world_size);

// Throws UsageError naming the flag and the value for the first thing wrong.
void validate_comm_config(const CommBenchConfig& c, int world_size);

}  // namespace tpb
