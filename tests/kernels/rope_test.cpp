#include "kernels/cpu/rope.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

constexpr float kTheta = 10000.0f;

TEST(Rope, ForwardMatchesReferenceWithOffset) {
  const int64_t B = 2, T = 5, H = 3, D = 8;
  const auto x = uniform(B * T * H * D, 1);
  for (int64_t pos_offset : {0, 7}) {
    std::vector<float> out(x.size());
    cpu::rope_forward(out.data(), x.data(), B, T, H, D, kTheta, pos_offset);
    EXPECT_TRUE(all_close(out, ref::rope(x, B, T, H, D, kTheta, pos_offset), 1e-5, 1e-6))
        << "pos_offset=" << pos_offset;
  }
}

TEST(Rope, ForwardAccurateAtLargePositions) {
  // angle = p * 1 for pair 0: in fp32, p = 100003 has ulp 0.0078, so float angles would be
  // off by far more than the tolerance.
  const int64_t B = 1, T = 4, H = 2, D = 16, pos_offset = 100000;
  const auto x = uniform(B * T * H * D, 2);
  std::vector<float> out(x.size());
  cpu::rope_forward(out.data(), x.data(), B, T, H, D, kTheta, pos_offset);
  EXPECT_TRUE(all_close(out, ref::rope(x, B, T, H, D, kTheta, pos_offset), 1e-5, 2e-6));
}

TEST(Rope, PairsAreInterleavedNotRotateHalf) {
  // A unit vector on element 0 of token t (position p) rotates within (x0, x1):
  // out = (cos p, sin p, 0, 0). The rotate-half layout would move it to element 2.
  const int64_t T = 3, D = 4;
  std::vector<float> x(T * D, 0.0f);
  for (int64_t t = 0; t < T; ++t) x[t * D] = 1.0f;
  std::vector<float> out(x.size());
  cpu::rope_forward(out.data(), x.data(), 1, T, 1, D, kTheta, 2);
  for (int64_t t = 0; t < T; ++t) {
    const double p = 2.0 + t;
    EXPECT_NEAR(out[t * D + 0], std::cos(p), 1e-6);
    EXPECT_NEAR(out[t * D + 1], std::sin(p), 1e-6);
    EXPECT_EQ(out[t * D + 2], 0.0f);
    EXPECT_EQ(out[t * D + 3], 0.0f);
  }
  // Pair 1 turns at theta^(-2/D) = 0.01 per position.
  std::vector<float> y(D, 0.0f), y_out(D);
  y[2] = 1.0f;
  cpu::rope_forward(y_out.data(), y.data(), 1, 1, 1, D, kTheta, 50);
  EXPECT_NEAR(y_out[2], std::cos(0.5), 1e-6);
  EXPECT_NEAR(y_out[3], std::sin(0.5), 1e-6);
}

TEST(Rope, ForwardInPlace) {
  const int64_t B = 2, T = 3, H = 2, D = 6;
  auto x = uniform(B * T * H * D, 3);
  const auto expected = ref::rope(x, B, T, H, D, kTheta, 4);
  cpu::rope_forward(x.data(), x.data(), B, T, H, D, kTheta, 4);
  EXPECT_TRUE(all_close(x, expected, 1e-5, 1e-6));
}

TEST(Rope, BackwardMatchesFiniteDifferences) {
  const int64_t B = 2, T = 3, H = 2, D = 6, pos_offset = 3;
  auto x = uniform(B * T * H * D, 4);
  const auto w = uniform(x.size(), 5);
  std::vector<float> out(x.size());
  auto loss = [&] {
    cpu::rope_forward(out.data(), x.data(), B, T, H, D, kTheta, pos_offset);
    return dot(out, w);
  };
  auto dx = grad_buffer(x.size());
  cpu::rope_backward(dx.data(), w.data(), B, T, H, D, kTheta, pos_offset);
  EXPECT_TRUE(grad_close(dx, numeric_grad(loss, x)));
}

TEST(Rope, OddHeadDimThrows) {
  std::vector<float> x(5), out(5);
  EXPECT_THROW(cpu::rope_forward(out.data(), x.data(), 1, 1, 1, 5, kTheta, 0), Error);
  EXPECT_THROW(cpu::rope_backward(out.data(), x.data(), 1, 1, 1, 5, kTheta, 0), Error);
}

}  // namespace
}  // namespace tpb::testing
