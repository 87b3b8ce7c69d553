// Seeded random test data.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tpb::testing {

// n floats uniform in [lo, hi), reproducible from the seed.
std::vector<float> uniform(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
// n ints uniform in [0, bound).
std::vector<int32_t> uniform_ints(int64_t n, uint64_t seed, int32_t bound);

}  // namespace tpb::testing
