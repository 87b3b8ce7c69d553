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

namespace {

// (B, T, X) and (B, T/n, X) shapes of a sequence-split pair; returns B.
int64_t check_seq_pair(const Tensor& full, const Tensor& local, const Tensor& staging, int n, const char* what) {
  TPB_CHECK(full.ndim() == 3 && local.ndim() == 3 && full.dim(0) == local.dim(0) && full.dim(2) == local.dim(2) &&
                full.dim(1) == local.dim(1) * n && full.dtype() == local.dtype(),
            "{}: full {} and local {} are not (B, T, X) and (B, T/{}, X) of one dtype", what, full.shape().str(),
            local.shape().str(), n);
  const int64_t B = full.dim(0);
  TPB_CHECK(n == 1 || B == 1 || (staging.numel() == full.numel() && staging.dtype() == full.dtype()),
            "{}: staging of {} elements, needs {}", what, staging.numel(), full.numel());
  return B;
}

}  // namespace

void all_gather_seq(Tensor& out, Tensor& staging, const Tensor& local, Communicator& tp) {
  const int n = tp.size();
  const int64_t B = check_seq_pair(out, local, staging, n, "all_gather_seq");
  if (n == 1) {
    out.copy_from(local);
    return;
  }
  const size_t count = static_cast<size_t>(local.numel());
  if (B == 1) {  // the rank blocks are already the sequence order
    tp.all_gather(local.raw(), out.raw(), count, local.dtype());
    return;
  }
  // Rank-major blocks (B, T/n * X) -> rows of concatenated blocks: one row per sequence.
  const int64_t width = local.numel() / B;
  const std::vector<int64_t> widths(static_cast<size_t>(n), width);
  tp.all_gather(local.raw(), staging.raw(), count, local.dtype());
  Tensor rows = out.view({B, width * n});
  ops::interleave_blocks(rows, staging, widths);
}

void reduce_scatter_seq(Tensor& out, Tensor& staging, const Tensor& full, Communicator& tp) {
  const int n = tp.size();
  const int64_t B = check_seq_pair(full, out, staging, n, "reduce_scatter_seq");
  if (n == 1) {
    out.copy_from(full);
    return;
  }
  const size_t count = static_cast<size_t>(out.numel());
  if (B == 1) {
    tp.reduce_scatter(full.raw(), out.raw(), count, full.dtype(), ReduceOp::sum);
    return;
  }
  // Every sequence's rank-r positions into block r, the layout the collective splits.
  const int64_t width = out.numel() / B;
  const Tensor rows = full.view({B, width * n});
  const Tensor blocks = staging.view({n * B, width});
  for (int r = 0; r < n; ++r) {
    Tensor block = blocks.narrow0(r * B, B);
    ops::take_columns(block, rows, r * width);
  }
  tp.reduce_scatter(staging.raw(), out.raw(), count, full.dtype(), ReduceOp::sum);
}

const Tensor& tp_region_input(Tensor& full, const Tensor& mine, Tensor& staging, bool sp, Communicator& tp) {
  if (!sp) return mine;
  all_gather_seq(full, staging, mine, tp);
  return full;
}

const Tensor& tp_region_sum(Tensor& partial, Tensor& mine, Tensor& staging, bool sp, Communicator& tp) {
  if (!sp) {
    all_reduce_tp(partial, tp);
    return partial;
  }
  reduce_scatter_seq(mine, staging, partial, tp);
  return mine;
}

void take_feature_slice(Tensor& out, const Tensor& full, int64_t offset) {
  ops::take_columns(out, full, offset);
}

}  // namespace tpb
