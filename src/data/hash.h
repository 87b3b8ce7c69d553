// Counter-based hashing for data sampling: every random choice is a pure function of
// (seed, step, row, position), so no generator state is carried between steps or ranks.
// splitmix64 (Steele, Lea, Flood 2014; the seeder of xoshiro) is a bijective mixer with
// good avalanche: consecutive counters give independent-looking outputs, and one call
// costs a few multiplies, so hashing every token of every step is cheap.
#pragma once

#include <cstdint>

namespace tpb::data {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The hash of one row of one step. Chained (not xor-ed together) so that (step, row) and
// (row, step) differ.
constexpr uint64_t row_hash(uint64_t seed, int64_t step, int64_t row) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(step));
  return splitmix64(h ^ static_cast<uint64_t>(row));
}

// The i-th value of the stream that starts from h (a counter-based generator).
constexpr uint64_t stream_at(uint64_t h, int64_t i) {
  return splitmix64(h + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1));
}

}  // namespace tpb::data
