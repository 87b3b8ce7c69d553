#include "comm/parallel_dims.h"

#include <fmt/format.h>

#include "base/error.h"

namespace tpb {

ParallelDims::ParallelDims(int world, int tp, bool sp) {
  if (world < 1) usage_error("world size must be >= 1, got {}", world);
  if (tp < 1) usage_error("--tp must be >= 1, got {}", tp);
  if (tp > world) usage_error("--tp {} is larger than the world size {}", tp, world);
  if (world % tp != 0) usage_error("--tp {} does not divide the world size {} (world = dp x tp)", tp, world);
  world_ = world;
  tp_ = tp;
  dp_ = world / tp;  // the only place dp is derived
  sp_ = sp;
}

std::vector<std::vector<int>> ParallelDims::tp_groups() const {
  std::vector<std::vector<int>> groups(static_cast<size_t>(dp_));
  for (int r = 0; r < world_; ++r) groups[static_cast<size_t>(dp_rank(r))].push_back(r);
  return groups;
}

std::vector<std::vector<int>> ParallelDims::dp_groups() const {
  std::vector<std::vector<int>> groups(static_cast<size_t>(tp_));
  for (int r = 0; r < world_; ++r) groups[static_cast<size_t>(tp_rank(r))].push_back(r);
  return groups;
}

std::string ParallelDims::describe() const {
  return fmt::format("tp {}{} x dp {} ({} ranks)", tp_, sp_ ? " (sp)" : "", dp_, world_);
}

std::string format_groups(const std::vector<std::vector<int>>& groups) {
  std::vector<std::string> parts;
  for (const auto& g : groups) parts.push_back(fmt::format("[{}]", fmt::join(g, ", ")));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

}  // namespace tpb
