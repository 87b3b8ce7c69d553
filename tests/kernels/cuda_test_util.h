// Helpers shared by the GPU kernel tests: the same values as a CPU fp32 tensor and a GPU
// tensor of the activation type under test, and GPU values read back as fp32.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/bf16.h"
#include "kernels/ops.h"
#include "kernels/test_util.h"

namespace tpb::testing {

inline constexpr DType kActTypes[] = {DType::f32, DType::bf16};

// The tolerances: fp32 within 1e-5 relative, bf16 within 1e-2.
inline double tolerance(DType t) { return t == DType::bf16 ? 1e-2 : 1e-5; }

inline float round_bf16(float x) { return bf16_to_float(float_to_bf16(x)); }

// v rounded to the precision of t (unchanged for fp32).
inline std::vector<float> rounded(std::vector<float> v, DType t) {
  if (t == DType::bf16)
    for (float& x : v) x = round_bf16(x);
  return v;
}

inline TrackingAllocator& gpu_alloc() { return default_allocator(Device::cuda); }

// A GPU tensor of type t holding v (whose values t represents exactly).
inline Tensor gpu_tensor(Shape shape, const std::vector<float>& v, DType t) {
  Tensor f = Tensor::empty(shape, MemCategory::other, DType::f32, gpu_alloc());
  f.copy_from(tensor_f32(shape, v));
  if (t == DType::f32) return f;
  Tensor out = Tensor::empty(shape, MemCategory::other, t, gpu_alloc());
  ops::cast(out, f);
  return out;
}

// The values of a GPU tensor (fp32 or bf16) as fp32 on the host.
inline std::vector<float> host_values(const Tensor& g) {
  Tensor f = g;
  if (g.dtype() != DType::f32) {
    f = Tensor::empty(g.shape(), MemCategory::other, DType::f32, gpu_alloc());
    ops::cast(f, g);
  }
  Tensor host = Tensor::empty(g.shape(), MemCategory::other, DType::f32);
  host.copy_from(f);
  return to_vector(host);
}

// One tensor on each device with the same values: cpu fp32, gpu of type t (values rounded
// to t first, so both sides compute on identical inputs).
struct Both {
  Tensor cpu, gpu;
};

inline Both both(Shape shape, const std::vector<float>& v, DType t) {
  const std::vector<float> r = rounded(v, t);
  return {tensor_f32(shape, r), gpu_tensor(shape, r, t)};
}

// Norm-wise relative error ||gpu - cpu|| / ||cpu|| within tol (NaN fails), naming the worst
// element otherwise.
inline ::testing::AssertionResult matches(const Both& b, double tol) {
  const std::vector<float> g = host_values(b.gpu), c = to_vector(b.cpu);
  if (g.size() != c.size())
    return ::testing::AssertionFailure() << "sizes differ: gpu " << g.size() << ", cpu " << c.size();
  double diff = 0.0, norm = 0.0, worst_abs = -1.0;
  size_t worst = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double d = static_cast<double>(g[i]) - static_cast<double>(c[i]);
    diff += d * d;
    norm += static_cast<double>(c[i]) * c[i];
    if (!(std::fabs(d) <= worst_abs)) {  // NaN counts as worst
      worst_abs = std::fabs(d);
      worst = i;
    }
  }
  const double rel = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
  if (rel <= tol) return ::testing::AssertionSuccess();  // false for NaN
  return ::testing::AssertionFailure()
         << "||gpu - cpu|| / ||cpu|| = " << rel << " > " << tol << " over " << c.size()
         << " elements; worst at " << worst << ": gpu " << g[worst] << ", cpu " << c[worst];
}

// Compared at the tolerance of the GPU tensor's type.
inline ::testing::AssertionResult matches(const Both& b) { return matches(b, tolerance(b.gpu.dtype())); }

}  // namespace tpb::testing
