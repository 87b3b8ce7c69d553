// DeviceMesh: the 2-D arrangement world = dp x tp, row-major with TP innermost, so the
// ranks of one TP group are contiguous (TP traffic is the heaviest and stays on the
// nearest devices): with 4 ranks and tp 2 the TP groups are [[0, 1], [2, 3]] and the DP
// groups [[0, 2], [1, 3]].
//
//   tp_rank = rank % tp,  dp_rank = rank / tp
//
// The mesh owns one sub-communicator per dimension, split from the world communicator.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace tpb {

// Throws UsageError naming the values when (world_size, tp) cannot form a mesh. Pure, so
// the launcher can check a command line before any rank starts.
void validate_mesh(int world_size, int tp);

// Rank lists of every TP group and every DP group, from sizes alone.
std::vector<std::vector<int>> mesh_tp_groups(int world_size, int tp);
std::vector<std::vector<int>> mesh_dp_groups(int world_size, int tp);
// "[[0, 1], [2, 3]]"
std::string format_groups(const std::vector<std::vector<int>>& groups);

class DeviceMesh {
 public:
  // Collective over `world`: every rank must call it with the same tp.
  DeviceMesh(Communicator& world, int tp);

  Communicator& world() const { return world_; }
  Communicator& tp() const { return *tp_; }
  Communicator& dp() const { return *dp_; }
  int rank() const { return world_.rank(); }
  int world_size() const { return world_.size(); }
  int tp_rank() const { return tp_->rank(); }
  int tp_size() const { return tp_->size(); }
  int dp_rank() const { return dp_->rank(); }
  int dp_size() const { return dp_->size(); }
  // "[rank 1/4] [tp:1/2][dp:0/2]"
  std::string coordinates() const;
  // Collective. On rank 0: the TP groups as every rank's communicator holds them (gathered,
  // not recomputed), "[[0, 1], [2, 3]]", then one coordinates line per rank; "" elsewhere.
  std::string gather_report();

 private:
  Communicator& world_;
  std::unique_ptr<Communicator> tp_;
  std::unique_ptr<Communicator> dp_;
};

}  // namespace tpb
