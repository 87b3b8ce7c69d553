#include "base/clock.h"

#include <time.h>

namespace tpb {

int64_t now_ns() {
  // clock_gettime directly: std::chrono::steady_clock is the same clock on Linux, but
  // naming CLOCK_MONOTONIC makes the cross-process guarantee explicit.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace tpb
