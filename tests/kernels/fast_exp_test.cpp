#include <gtest/gtest.h>

#include <cmath>

#include "kernels/cpu/fast_exp.h"

namespace tpb::cpu {
namespace {

TEST(FastExp, RelativeErrorAgainstStdExp) {
  double worst = 0;
  float at = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.001f) {
    const double want = std::exp(static_cast<double>(x));
    const double err = std::abs(fast_exp(x) - want) / want;
    if (err > worst) {
      worst = err;
      at = x;
    }
  }
  EXPECT_LT(worst, 3e-7) << "at x = " << at;
  EXPECT_EQ(fast_exp(0.0f), 1.0f);
  EXPECT_GT(fast_exp(-1000.0f), 0.0f);  // clamped, not NaN or garbage
  EXPECT_LT(fast_exp(-1000.0f), 1e-37f);
}

}  // namespace
}  // namespace tpb::cpu
