// Inline float reductions the compiler can vectorise without -ffast-math.
//
// A plain `s += a[i] * b[i]` loop is not vectorised by GCC/Clang at -O3: reordering the
// additions changes the rounding, which they may not do without -fassociative-math. Keeping
// kLanes independent partial sums makes the reordering explicit, so the lane loop maps onto
// SIMD registers (and, as a bonus, the rounding error grows more slowly than a serial sum).
// Private to src/kernels/cpu.
#pragma once

#include <cstdint>

namespace tpb::cpu::detail {

inline constexpr int64_t kLanes = 16;

// sum_i a[i] * b[i]
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  float s = 0.0f;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int64_t l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// sum_i a[i]
inline float sum(const float* a, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += a[i + l];
  float s = 0.0f;
  for (; i < n; ++i) s += a[i];
  for (int64_t l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// max_i a[i]; n >= 1.
inline float max(const float* a, int64_t n) {
  float m = a[0];
  for (int64_t i = 1; i < n; ++i) m = a[i] > m ? a[i] : m;
  return m;
}

}  // namespace tpb::cpu::detail
