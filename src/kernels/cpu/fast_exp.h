// exp(x) for the softmax-style loops of the kernels, written so the compiler vectorises it
// (std::exp is a library call per element: it was most of the attention's time).
//
// Cody-Waite range reduction, x = n ln2 + r with |r| <= ln2 / 2, then a degree-7 Taylor
// polynomial for e^r and 2^n added to the exponent bits. Relative error below 3e-7 over
// [-87, 88] (checked against std::exp in tests/kernels/fast_exp_test.cpp); inputs below
// -87 return e^-87 ~ 1.6e-38 (those terms vanish beside the others in a softmax).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace tpb::cpu {

inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // n = round(x / ln2) by the 1.5 * 2^23 trick: std::floor is only inlined (and so the loop
  // only vectorised) under -fno-trapping-math, which the project does not use.
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  // r = x - n ln2, with ln2 split in two so n * ln2_hi is exact.
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = std::bit_cast<int32_t>(p) + (static_cast<int32_t>(n) << 23);
  return std::bit_cast<float>(bits);
}

}  // namespace tpb::cpu
