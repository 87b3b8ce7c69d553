// ParallelDims: the one description of the parallel layout, as torchtitan's ParallelDims.
// world = dp x tp, validated once when it is made; everything that needs a mesh size (the
// device mesh, the model's shard sizes, the memory model, the reports, `comm --tp`) reads
// it from here instead of dividing the world size again.
//
// Ranks are laid out row-major with TP innermost, so the ranks of one TP group are
// contiguous (TP traffic is the heaviest and stays on the nearest devices): with 4 ranks
// and tp 2 the TP groups are [[0, 1], [2, 3]] and the DP groups [[0, 2], [1, 3]].
//
//   tp_rank = rank % tp,  dp_rank = rank / tp
#pragma once

#include <string>
#include <vector>

namespace tpb {

class ParallelDims {
 public:
  // One rank: tp 1, dp 1.
  ParallelDims() = default;
  // Throws UsageError naming the values when (world, tp) cannot form a mesh. Pure, so the
  // launcher can check a command line before any rank starts. `sp`: sequence parallelism
  // over the TP group (model/block.h); it changes no group, only how activations are split.
  ParallelDims(int world, int tp, bool sp = false);

  int world() const { return world_; }
  int tp() const { return tp_; }
  int dp() const { return dp_; }
  bool sp() const { return sp_; }
  int tp_rank(int rank) const { return rank % tp_; }
  int dp_rank(int rank) const { return rank / tp_; }

  // Rank lists of every TP group (one per dp index) and every DP group (one per tp index).
  std::vector<std::vector<int>> tp_groups() const;
  std::vector<std::vector<int>> dp_groups() const;
  // "tp 2 x dp 2 (4 ranks)", "tp 2 (sp) x dp 2 (4 ranks)"
  std::string describe() const;

  bool operator==(const ParallelDims&) const = default;

 private:
  int world_ = 1, tp_ = 1, dp_ = 1;
  bool sp_ = false;
};

// "[[0, 1], [2, 3]]"
std::string format_groups(const std::vector<std::vector<int>>& groups);

}  // namespace tpb
