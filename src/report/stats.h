// Order statistics for timings: the report always says min / median / p95 / max, never a
// lone mean (one slow iteration or rank should be visible, not averaged away).
#pragma once

#include <cstddef>
#include <vector>

namespace tpb {

struct Stats {
  double min = 0, median = 0, p95 = 0, max = 0, mean = 0;
  size_t count = 0;
};

// Median: the middle value (the mean of the two middle ones for even counts). p95: linear
// interpolation between closest ranks (numpy's default). Empty input gives all zeros.
Stats summarize(std::vector<double> values);

}  // namespace tpb
