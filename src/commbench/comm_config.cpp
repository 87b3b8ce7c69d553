#include "commbench/comm_config.h"

#include <climits>

#include "base/error.h"
#include "comm/parallel_dims.h"
#include "commbench/check_values.h"
#include "commbench/sizes.h"

namespace tpb {

int GroupLayout::group_of(int world_rank) const {
  for (size_t g = 0; g < groups.size(); ++g)
    for (int r : groups[g])
      if (r == world_rank) return static_cast<int>(g);
  TPB_CHECK(false, "rank {} is in no {} group", world_rank, name);
}

GroupLayout comm_group_layout(const CommBenchConfig& c, int world_size) {
  GroupLayout l;
  if (!c.tp) {
    l.name = "world";
    l.groups = {std::vector<int>(static_cast<size_t>(world_size))};
    for (int r = 0; r < world_size; ++r) l.groups[0][static_cast<size_t>(r)] = r;
  } else {
    l.name = c.group;
    const ParallelDims dims(world_size, *c.tp);
    l.groups = c.group == "tp" ? dims.tp_groups() : dims.dp_groups();
  }
  l.size = static_cast<int>(l.groups.front().size());
  return l;
}

void validate_comm_config(const CommBenchConfig& c, int world_size) {
  if (c.ops.empty()) usage_error("--op names no collective");
  if (c.min_bytes == 0) usage_error("-b/--min-bytes must be > 0, got 0");
  if (c.min_bytes > c.max_bytes)
    usage_error("-b/--min-bytes {} is larger than -e/--max-bytes {}", format_size(c.min_bytes),
                format_size(c.max_bytes));
  // One call moves at most INT_MAX elements (MPI's int counts).
  const size_t max_count = c.max_bytes / dtype_size(c.dtype);
  if (max_count > static_cast<size_t>(INT_MAX))
    usage_error("-e/--max-bytes {} is {} elements of {}, more than the {} one call can move",
                format_size(c.max_bytes), max_count, dtype_name(c.dtype), INT_MAX);
  if (c.step_factor < 2) usage_error("-f/--step-factor must be >= 2, got {}", c.step_factor);
  if (c.iters < 1) usage_error("-n/--iters must be >= 1, got {}", c.iters);
  if (c.warmup < 0) usage_error("-w/--warmup must be >= 0, got {}", c.warmup);
  if (c.check < 0) usage_error("-c/--check must be >= 0, got {}", c.check);
  if (c.group != "tp" && c.group != "dp") usage_error("--group {} is not one of tp|dp", c.group);
  if (!c.tp && c.group != "tp") usage_error("--group {} needs --tp (without it the world is one group)", c.group);
  const GroupLayout l = comm_group_layout(c, world_size);
  if (c.root < 0 || c.root >= l.size)
    usage_error("--root {} is outside a {} group of {} ranks", c.root, l.name, l.size);
  if (c.check > 0 && c.dtype == DType::bf16 && l.size > kMaxExactBf16Ranks)
    usage_error("-c with --dtype bf16 needs groups of at most {} ranks (sums exact in bf16), got {}",
                kMaxExactBf16Ranks, l.size);
}

}  // namespace tpb
