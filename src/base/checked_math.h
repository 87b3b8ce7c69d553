// Size arithmetic that cannot wrap: products of user-given sizes (features x features,
// tokens x vocabulary, ...) are computed with the compiler's overflow builtins, and every
// tensor a command will allocate is bounded by kMaxTensorElements, so a size that
// would wrap (or that no machine holds) is refused by name before anything is allocated.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace tpb {

// The most elements one tensor may have: 2^40 (4 TiB of fp32), beyond any one machine's
// memory and far below int64's 2^63, so sums of a few such sizes cannot overflow either.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

// a * b, or nullopt when it overflows int64.
inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// a + b, or nullopt when it overflows int64.
inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// The product of all factors, or nullopt when any partial product overflows int64.
inline std::optional<int64_t> checked_product(std::initializer_list<int64_t> factors) {
  int64_t r = 1;
  for (int64_t f : factors) {
    const std::optional<int64_t> next = checked_mul(r, f);
    if (!next) return std::nullopt;
    r = *next;
  }
  return r;
}

// Whether a tensor of the product of `factors` elements is allowed (positive factors whose
// product is at most kMaxTensorElements).
inline bool fits_tensor(std::initializer_list<int64_t> factors) {
  const std::optional<int64_t> n = checked_product(factors);
  return n && *n <= kMaxTensorElements;
}

}  // namespace tpb
