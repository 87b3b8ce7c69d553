#include "kernels/cpu/elementwise.h"

#include <gtest/gtest.h>

#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

TEST(BiasAdd, ForwardAddsBiasToEveryRow) {
  const int64_t rows = 3, cols = 5;
  auto out = uniform(rows * cols, 1);
  const auto x = out;
  const auto bias = uniform(cols, 2);
  cpu::bias_add_forward(out.data(), bias.data(), rows, cols);
  std::vector<double> expected(out.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) expected[r * cols + c] = double(x[r * cols + c]) + bias[c];
  EXPECT_TRUE(all_close(out, expected, 1e-6, 1e-6));
}

TEST(BiasAdd, BackwardMatchesFiniteDifferences) {
  const int64_t rows = 4, cols = 3;
  const auto x = uniform(rows * cols, 3);
  auto bias = uniform(cols, 4);
  const auto w = uniform(rows * cols, 5);  // dout, the gradient of loss = dot(out, w)
  auto loss = [&] {
    auto out = x;
    cpu::bias_add_forward(out.data(), bias.data(), rows, cols);
    return dot(out, w);
  };
  auto dbias = grad_buffer(cols);
  cpu::bias_add_backward(dbias.data(), w.data(), rows, cols);
  EXPECT_TRUE(grad_close(dbias, numeric_grad(loss, bias)));
}

TEST(Silu, ForwardMatchesReference) {
  const auto x = uniform(37, 6, -6.0f, 6.0f);
  std::vector<float> out(x.size());
  cpu::silu_forward(out.data(), x.data(), 37);
  EXPECT_TRUE(all_close(out, ref::silu(x), 1e-6, 1e-6));
}

TEST(Silu, BackwardMatchesFiniteDifferences) {
  const int64_t n = 23;
  auto x = uniform(n, 7, -4.0f, 4.0f);
  const auto w = uniform(n, 8);
  auto loss = [&] {
    std::vector<float> out(n);
    cpu::silu_forward(out.data(), x.data(), n);
    return dot(out, w);
  };
  auto dx = grad_buffer(n);
  cpu::silu_backward(dx.data(), w.data(), x.data(), n);
  EXPECT_TRUE(grad_close(dx, numeric_grad(loss, x)));
}

TEST(Swiglu, ForwardMatchesReference) {
  const auto gate = uniform(29, 9, -5.0f, 5.0f), up = uniform(29, 10);
  std::vector<float> out(29);
  cpu::swiglu_forward(out.data(), gate.data(), up.data(), 29);
  EXPECT_TRUE(all_close(out, ref::swiglu(gate, up), 1e-6, 1e-6));
}

TEST(Swiglu, BackwardMatchesFiniteDifferences) {
  const int64_t n = 19;
  auto gate = uniform(n, 11, -4.0f, 4.0f), up = uniform(n, 12, -2.0f, 2.0f);
  const auto w = uniform(n, 13);
  auto loss = [&] {
    std::vector<float> out(n);
    cpu::swiglu_forward(out.data(), gate.data(), up.data(), n);
    return dot(out, w);
  };
  auto dgate = grad_buffer(n), dup = grad_buffer(n);
  cpu::swiglu_backward(dgate.data(), dup.data(), w.data(), gate.data(), up.data(), n);
  EXPECT_TRUE(grad_close(dgate, numeric_grad(loss, gate)));
  EXPECT_TRUE(grad_close(dup, numeric_grad(loss, up)));
}

TEST(Add, ForwardOutOfPlaceAndInPlace) {
  const auto a = uniform(17, 14), b = uniform(17, 15);
  std::vector<double> expected(17);
  for (size_t i = 0; i < 17; ++i) expected[i] = double(a[i]) + b[i];
  std::vector<float> out(17);
  cpu::add_forward(out.data(), a.data(), b.data(), 17);
  EXPECT_TRUE(all_close(out, expected, 1e-6, 1e-6));
  auto residual = a;  // the residual stream updated in place
  cpu::add_forward(residual.data(), residual.data(), b.data(), 17);
  EXPECT_TRUE(all_close(residual, expected, 1e-6, 1e-6));
}

}  // namespace
}  // namespace tpb::testing
