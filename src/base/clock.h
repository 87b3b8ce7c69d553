// Clocks. now_ns() reads CLOCK_MONOTONIC, which every process on one host shares, so
// timestamps taken on different ranks of one node are on a common clock and can be
// compared directly (arrival skew before a collective, merged traces).
#pragma once

#include <cstdint>

namespace tpb {

// Nanoseconds on the host's monotonic clock.
int64_t now_ns();

// Seconds between two now_ns() readings.
inline double seconds_between(int64_t start_ns, int64_t end_ns) {
  return static_cast<double>(end_ns - start_ns) * 1e-9;
}

}  // namespace tpb
