#include "parallel/conjugate.h"

#include <numeric>

#include "base/error.h"
#include "kernels/ops.h"

namespace tpb {

void all_reduce_tp(Tensor& x, Communicator& tp, ReduceOp op) {
  if (tp.size() == 1) return;  // a sum, max or average over one rank is the value itself
  tp.all_reduce(x.raw(), x.raw(), static_cast<size_t>(x.numel()), x.dtype(), op);
}

void gather_from_tp_forward(Tensor& out, Tensor& staging, const Tensor& local,
                            std::span<const int64_t> features, Communicator& tp) {
  const int n = tp.size();
  TPB_CHECK(features.size() == static_cast<size_t>(n), "gather_from_tp: {} feature counts for {} ranks",
            features.size(), n);
  const int64_t total = std::accumulate(features.begin(), features.end(), int64_t{0});
  const int64_t rows = local.shape().rows();
  TPB_CHECK(local.shape().last() == features[static_cast<size_t>(tp.rank())],
            "gather_from_tp: local {} but this rank's share is {} features", local.shape().str(),
            features[static_cast<size_t>(tp.rank())]);
  TPB_CHECK(out.shape().rows() == rows && out.shape().last() == total,
            "gather_from_tp: output {} for {} rows of {} features", out.shape().str(), rows, total);
  TPB_CHECK(staging.numel() == rows * total, "gather_from_tp: staging of {} elements, needs {}",
            staging.numel(), rows * total);
  if (n == 1) {
    out.copy_from(local);
    return;
  }
  std::vector<int64_t> counts(features.begin(), features.end());
  for (auto& c : counts) c *= rows;
  tp.all_gather_v(local.raw(), staging.raw(), counts, local.dtype());
  // Rank-major blocks (rows, features[r]) -> rows of concatenated features.
  ops::interleave_blocks(out, staging, features);
}

void take_feature_slice(Tensor& out, const Tensor& full, int64_t offset) {
  ops::take_columns(out, full, offset);
}

}  // namespace tpb
