#include "comm/device_mesh.h"

#include <fmt/format.h>

#include "base/error.h"

namespace tpb {

void validate_mesh(int world_size, int tp) {
  if (world_size < 1) usage_error("world size must be >= 1, got {}", world_size);
  if (tp < 1) usage_error("--tp must be >= 1, got {}", tp);
  if (tp > world_size)
    usage_error("--tp {} is larger than the world size {}", tp, world_size);
  if (world_size % tp != 0)
    usage_error("--tp {} does not divide the world size {} (world = dp x tp)", tp, world_size);
}

std::vector<std::vector<int>> mesh_tp_groups(int world_size, int tp) {
  validate_mesh(world_size, tp);
  std::vector<std::vector<int>> groups(static_cast<size_t>(world_size / tp));
  for (int r = 0; r < world_size; ++r) groups[static_cast<size_t>(r / tp)].push_back(r);
  return groups;
}

std::vector<std::vector<int>> mesh_dp_groups(int world_size, int tp) {
  validate_mesh(world_size, tp);
  std::vector<std::vector<int>> groups(static_cast<size_t>(tp));
  for (int r = 0; r < world_size; ++r) groups[static_cast<size_t>(r % tp)].push_back(r);
  return groups;
}

std::string format_groups(const std::vector<std::vector<int>>& groups) {
  std::vector<std::string> parts;
  for (const auto& g : groups) parts.push_back(fmt::format("[{}]", fmt::join(g, ", ")));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

DeviceMesh::DeviceMesh(Communicator& world, int tp) : world_(world) {
  validate_mesh(world.size(), tp);
  const int tp_rank = world.rank() % tp;
  const int dp_rank = world.rank() / tp;
  tp_ = world.split(/*color=*/dp_rank, /*key=*/tp_rank, "tp");
  dp_ = world.split(/*color=*/tp_rank, /*key=*/dp_rank, "dp");
}

std::string DeviceMesh::coordinates() const {
  return fmt::format("[rank {}/{}] [tp:{}/{}][dp:{}/{}]", rank(), world_size(), tp_rank(),
                     tp_size(), dp_rank(), dp_size());
}

}  // namespace tpb
