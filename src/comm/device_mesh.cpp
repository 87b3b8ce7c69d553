#include "comm/device_mesh.h"

#include <fmt/format.h>

#include <map>

#include "base/error.h"

namespace tpb {

DeviceMesh::DeviceMesh(Communicator& world, const ParallelDims& dims) : dims_(dims), world_(world) {
  TPB_CHECK(dims.world() == world.size(), "a mesh of {} on a communicator of {} ranks", dims.describe(),
            world.size());
  topology_ = gather_topology(world);
  placement_ = place_mesh(topology_, dims, allow_tp_across_hosts_);
  if (!placement_.refusal.empty()) throw AgreedUsageError(placement_.refusal);  // on every rank alike
  const int tp_rank = dims.tp_rank(world.rank());
  const int dp_rank = dims.dp_rank(world.rank());
  tp_ = world.split(/*color=*/dp_rank, /*key=*/tp_rank, "tp");
  dp_ = world.split(/*color=*/tp_rank, /*key=*/dp_rank, "dp");
}

namespace {
// "[rank 1/4] [tp:1/2][dp:0/2]", after "[host]" when the ranks are on several hosts.
std::string coordinates_of(const Topology& t, int rank, int world, int tp_rank, int tp, int dp_rank, int dp) {
  const std::string host = t.num_hosts() > 1 ? "[" + t.host_of_rank[static_cast<size_t>(rank)] + "]" : "";
  return fmt::format("{}[rank {}/{}] [tp:{}/{}][dp:{}/{}]", host, rank, world, tp_rank, tp, dp_rank, dp);
}
}  // namespace

std::string DeviceMesh::coordinates() const {
  return coordinates_of(topology_, rank(), world_size(), tp_rank(), tp_size(), dp_rank(), dp_size());
}

std::string DeviceMesh::topology_line() const {
  if (topology_.num_hosts() <= 1) return "";
  const auto groups = [](bool crosses, const char* kind) {
    return fmt::format("{} groups {}", kind, crosses ? "across hosts (their collectives cross the network)" : "within hosts");
  };
  return fmt::format("{}; {}; {}", topology_.describe(), groups(placement_.tp_crosses_hosts, "TP"),
                     groups(placement_.dp_crosses_hosts, "DP"));
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
    lines += coordinates_of(topology_, r, world_size(), v[0], v[1], v[2], v[3]) + "\n";
  }
  std::vector<std::vector<int>> groups;
  for (auto& [dp_index, g] : groups_by_dp) groups.push_back(g);
  const std::string topo = topology_line();
  return format_groups(groups) + "\n" + lines + (topo.empty() ? "" : "topology: " + topo + "\n");
}

}  // namespace tpb
