#include "comm/device_mesh.h"

#include <fmt/format.h>

#include <map>

#include "base/error.h"

namespace tpb {

DeviceMesh::DeviceMesh(Communicator& world, const ParallelDims& dims) : dims_(dims), world_(world) {
  TPB_CHECK(dims.world() == world.size(), "a mesh of {} on a communicator of {} ranks", dims.describe(),
            world.size());
  const int tp_rank = dims.tp_rank(world.rank());
  const int dp_rank = dims.dp_rank(world.rank());
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
