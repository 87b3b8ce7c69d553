#include "comm/device_mesh.h"

#include <fmt/format.h>

#include <map>

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

namespace tpb {

std::string DeviceMesh::gather_report() {
  // Each rank reports its coordinates and the world ranks of its TP group.
  std::vector<int32_t> mine = {tp_rank(), tp_size(), dp_rank(), dp_size()};
  const auto& members = tp().world_ranks();
  mine.insert(mine.end(), members.begin(), members.end());
  const size_t per_rank = mine.size();
  std::vector<int32_t> all(per_rank * static_cast<size_t>(world_size()));
  world_.all_gather(mine.data(), all.data(), per_rank, DType::i32);
  if (rank() != 0) return "";
  std::map<int, std::vector<int>> groups_by_dp;
  std::string lines;
  for (int r = 0; r < world_size(); ++r) {
    const int32_t* v = all.data() + static_cast<size_t>(r) * per_rank;
    groups_by_dp[v[2]] = std::vector<int>(v + 4, v + per_rank);
    lines += fmt::format("[rank {}/{}] [tp:{}/{}][dp:{}/{}]\n", r, world_size(), v[0], v[1], v[2], v[3]);
  }
  std::vector<std::vector<int>> groups;
  for (auto& [dp_index, g] : groups_by_dp) groups.push_back(g);
  return format_groups(groups) + "\n" + lines;
}

}  // namespace tpb
