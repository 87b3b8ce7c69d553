#include "kernels/cpu/rmsnorm.h"

#include <gtest/gtest.h>

#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

constexpr float kEps = 1e-5f;

TEST(Rmsnorm, ForwardMatchesReference) {
  const int64_t n = 5, c = 37;
  const auto x = uniform(n * c, 1, -3.0f, 3.0f), weight = uniform(c, 2, 0.5f, 1.5f);
  std::vector<float> out(n * c), rstd(n);
  cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), weight.data(), n, c, kEps);
  std::vector<double> rstd_expected;
  const auto expected = ref::rmsnorm(x, weight, n, c, kEps, &rstd_expected);
  EXPECT_TRUE(all_close(out, expected, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(rstd, rstd_expected, 1e-5, 0));
}

TEST(Rmsnorm, ForwardInPlace) {
  const int64_t n = 3, c = 8;
  auto x = uniform(n * c, 3);
  const auto weight = uniform(c, 4);
  const auto expected = ref::rmsnorm(x, weight, n, c, kEps);
  std::vector<float> rstd(n);
  cpu::rmsnorm_forward(x.data(), rstd.data(), x.data(), weight.data(), n, c, kEps);
  EXPECT_TRUE(all_close(x, expected, 1e-5, 1e-6));
}

TEST(Rmsnorm, BackwardMatchesFiniteDifferences) {
  const int64_t n = 3, c = 8;
  auto x = uniform(n * c, 5, -2.0f, 2.0f), weight = uniform(c, 6, 0.5f, 1.5f);
  const auto w = uniform(n * c, 7);
  std::vector<float> out(n * c), rstd(n);
  auto loss = [&] {
    cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), weight.data(), n, c, kEps);
    return dot(out, w);
  };
  const auto num_dx = numeric_grad(loss, x);
  const auto num_dweight = numeric_grad(loss, weight);
  loss();  // rstd of the unperturbed input
  auto dx = grad_buffer(n * c), dweight = grad_buffer(c);
  cpu::rmsnorm_backward(dx.data(), dweight.data(), w.data(), x.data(), weight.data(), rstd.data(),
                        n, c);
  EXPECT_TRUE(grad_close(dx, num_dx));
  EXPECT_TRUE(grad_close(dweight, num_dweight));
}

}  // namespace
}  // namespace tpb::testing
