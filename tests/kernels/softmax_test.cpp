#include "kernels/cpu/softmax.h"

#include <gtest/gtest.h>

#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

TEST(Softmax, ForwardMatchesReference) {
  const int64_t n = 4, c = 33;
  const auto x = uniform(n * c, 1, -5.0f, 5.0f);
  std::vector<float> out(n * c);
  cpu::softmax_forward(out.data(), x.data(), n, c);
  EXPECT_TRUE(all_close(out, ref::softmax(x, n, c), 1e-5, 1e-7));
}

TEST(Softmax, ForwardIsStableForHugeInputs) {
  // Without subtracting the max, exp(1000) overflows to inf and the result is NaN.
  const int64_t n = 2, c = 5;
  auto x = uniform(n * c, 2, -5.0f, 5.0f);
  for (size_t i = 0; i < 5; ++i) x[i] += 1000.0f;
  for (size_t i = 5; i < 10; ++i) x[i] -= 1000.0f;
  std::vector<float> out(n * c);
  cpu::softmax_forward(out.data(), x.data(), n, c);
  EXPECT_TRUE(all_close(out, ref::softmax(x, n, c), 1e-4, 1e-6));
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  const int64_t n = 3, c = 7;
  auto x = uniform(n * c, 3, -2.0f, 2.0f);
  const auto w = uniform(n * c, 4, -3.0f, 3.0f);
  std::vector<float> out(n * c);
  auto loss = [&] {
    cpu::softmax_forward(out.data(), x.data(), n, c);
    return dot(out, w);
  };
  const auto num = numeric_grad(loss, x);
  loss();
  auto dx = grad_buffer(n * c);
  cpu::softmax_backward(dx.data(), w.data(), out.data(), n, c);
  EXPECT_TRUE(grad_close(dx, num));
}

}  // namespace
}  // namespace tpb::testing
