// The collective benchmark harness (nccl-tests' method), for any op on any group.
//
// For each size of the sweep and each variant (out-of-place, then in-place), on every
// group at once:
//   1. write the check values into the inputs (so the timed calls move defined data);
//   2. `warmup` untimed calls;
//   3. barrier over the world (every group starts together, as in training);
//   4. `iters` back-to-back calls timed as one block on each rank: time = block / iters;
//   5. with check: rewrite the inputs, one more call, count wrong outputs (check_values.h).
// The reported time is the slowest rank's (a collective is done when its last rank is),
// over all groups; each group's own slowest rank is kept too. #wrong is summed over every
// rank of every group. With per_rank, the CommLog records of the timed calls are split
// into wait (until the last rank of the group entered) and transfer (arrival.h), and each
// rank's median per call is kept. Nothing is printed, written or allocated inside step 4;
// the records are exchanged after it and the log is cleared after every size.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "comm/communicator.h"
#include "commbench/alpha_beta_fit.h"
#include "commbench/comm_config.h"

namespace tpb {

struct VariantResult {
  double time_s = 0;   // per call, the slowest rank of all groups
  int64_t wrong = 0;   // summed over every rank (0 when not checked)
  std::vector<double> group_time_s;  // per group: its slowest rank
};

// One rank's medians over the timed calls of one size and variant.
struct RankSplit {
  double time_s = 0;
  double wait_s = 0;
  double transfer_s = 0;
};

struct RankView {
  int rank = 0;   // world rank
  int group = 0;  // index into GroupLayout::groups
  RankSplit out_of_place, in_place;
};

struct SizeResult {
  size_t requested_bytes = 0;  // the sweep's size
  size_t bytes = 0;            // count * sizeof(dtype): what the calls moved
  size_t count = 0;            // elements of the full buffer
  CollRoute route = CollRoute::mpi;  // that moved the timed calls (rank 0's; the same on every rank)
  VariantResult out_of_place, in_place;
  std::vector<RankView> ranks;  // by world rank; only with per_rank
};

struct OpResult {
  CommOp op = CommOp::all_reduce;
  std::vector<SizeResult> sizes;
};

// Collective over `world`: every rank calls it with the same arguments. `group` is this
// rank's group of `layout` (the world itself when the layout has one group). Every rank
// returns the same result.
OpResult run_comm_op(CommOp op, const CommBenchConfig& c, const GroupLayout& layout,
                     Communicator& world, Communicator& group);

// The alpha-beta fit of the out-of-place times (sizes with a time > 0), or nothing when
// the sweep has fewer than two distinct sizes.
std::optional<AlphaBetaFit> fit_op(const OpResult& r);

}  // namespace tpb
