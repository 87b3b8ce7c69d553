// bfloat16 <-> fp32 conversions, for the backends' bf16 reductions and for checking bf16
// results. bf16 is the top 16 bits of an fp32: 8 exponent bits, 8 significant bits.
//
// fp32 -> bf16 rounds to nearest, ties to even (what hardware and PyTorch do), so integers
// up to 256 in magnitude, and sums of them that stay within 256, are exact. NaN stays NaN
// (quiet), infinities stay infinite.
#pragma once

#include <bit>
#include <cstdint>

namespace tpb {

inline float bf16_to_float(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

inline uint16_t float_to_bf16(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  // NaN: keep the sign and the top mantissa bits, and set the quiet bit so the truncation
  // can never turn it into an infinity.
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  // Round to nearest even: add 0x7fff, plus 1 when the kept part is odd, then truncate.
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

}  // namespace tpb
