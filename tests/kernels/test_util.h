// Helpers shared by the kernel tests: tensors from vectors, and finite-difference checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <vector>

#include "tensor/tensor.h"
#include "testing/grad_check.h"

namespace tpb::testing {

// Gradient buffers in the tests start at this value rather than zero, so every backward
// test also checks that the kernel accumulates (+=) instead of overwriting.
inline constexpr float kGradInit = 0.25f;

inline std::vector<float> grad_buffer(size_t n) { return std::vector<float>(n, kGradInit); }

// Finite differences in fp32 with eps 1e-2: the truncation error is O(eps^2) and the
// rounding error of the loss about 1e-7 * |loss| / eps, so 2e-2 relative plus 1e-3 absolute
// is loose enough for both, while a wrong sign, term or factor is far outside it (the
// gradients checked are O(0.1 .. 1)).
inline constexpr double kGradRtol = 2e-2;
inline constexpr double kGradAtol = 1e-3;

// analytic was accumulated onto kGradInit; numeric is the finite-difference gradient.
inline ::testing::AssertionResult grad_close(std::span<const float> analytic,
                                             const std::vector<double>& numeric,
                                             double rtol = kGradRtol, double atol = kGradAtol) {
  std::vector<double> expected(numeric);
  for (double& e : expected) e += kGradInit;
  return all_close(analytic, expected, rtol, atol);
}

inline Tensor tensor_f32(Shape shape, std::span<const float> data) {
  Tensor t = Tensor::empty(shape, MemCategory::other, DType::f32);
  EXPECT_EQ(static_cast<size_t>(t.numel()), data.size());
  std::copy(data.begin(), data.end(), t.f32());
  return t;
}

inline Tensor tensor_i32(Shape shape, std::span<const int32_t> data) {
  Tensor t = Tensor::empty(shape, MemCategory::other, DType::i32);
  EXPECT_EQ(static_cast<size_t>(t.numel()), data.size());
  std::copy(data.begin(), data.end(), t.i32());
  return t;
}

inline Tensor zeros_f32(Shape shape) { return Tensor::zeros(shape, MemCategory::other); }

inline std::vector<float> to_vector(const Tensor& t) {
  return {t.f32(), t.f32() + t.numel()};
}

}  // namespace tpb::testing
