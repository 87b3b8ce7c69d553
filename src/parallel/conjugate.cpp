#include "parallel/conjugate.h"

#include <cstring>
#include <numeric>

#include "base/error.h"

namespace tpb {

void all_reduce_tp(Tensor& x, Communicator& tp) {
  x.raw();  // defined check
  tp.all_reduce(x.span_f32(), ReduceOp::sum);
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
  tp.all_gather_v(local.raw(), staging.raw(), counts, DType::f32);
  // Rank-major blocks (rows, features[r]) -> rows of concatenated features.
  const float* src = staging.f32();
  float* dst = out.f32();
  int64_t col = 0;
  for (int r = 0; r < n; ++r) {
    const int64_t fr = features[static_cast<size_t>(r)];
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(dst + i * total + col, src + i * fr, static_cast<size_t>(fr) * sizeof(float));
    src += rows * fr;
    col += fr;
  }
}

void take_feature_slice(Tensor& out, const Tensor& full, int64_t offset) {
  const int64_t rows = full.shape().rows(), total = full.shape().last(), width = out.shape().last();
  TPB_CHECK(out.shape().rows() == rows && offset >= 0 && offset + width <= total,
            "take_feature_slice: {} from columns [{}, {}) of {}", out.shape().str(), offset,
            offset + width, full.shape().str());
  const float* src = full.f32() + offset;
  float* dst = out.f32();
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(dst + i * width, src + i * total, static_cast<size_t>(width) * sizeof(float));
}

}  // namespace tpb
