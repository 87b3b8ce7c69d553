// Clocks. now_ns() reads CLOCK_MONOTONIC, which every process on one host shares, so
// timestamps taken on different ranks of one node are on a common clock and can be
// compared directly (arrival skew before a collective, merged traces).
#pragma once

#include <cstdint>

namespace tpb {

// Nanoseconds on the host's monotonic clock.
int64_t now_ns();

// Seconds between two now_ns() readings.
// Exact for any real interval; readings from a file may be any int64s, so a difference that
// would overflow int64 is taken in double instead.
inline double seconds_between(int64_t start_ns, int64_t end_ns) {
  int64_t d = 0;
  if (__builtin_sub_overflow(end_ns, start_ns, &d))
    return (static_cast<double>(end_ns) - static_cast<double>(start_ns)) * 1e-9;
  return static_cast<double>(d) * 1e-9;
}

}  // namespace tpb
