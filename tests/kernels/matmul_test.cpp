#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>

#include "base/error.h"
#include "kernels/ops.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

struct MatmulCase {
  int64_t m, n, k;
};

// Sizes: odd, one, a size past the BLAS blocking, and every kind of empty.
const MatmulCase kCases[] = {{7, 5, 3}, {1, 1, 1}, {3, 1, 4}, {33, 17, 65},
                             {0, 5, 3}, {7, 0, 3}, {7, 5, 0}, {0, 0, 0}};

// C = alpha op(A) op(B) + beta C0 against the triple loop, for one case.
void check_raw(const MatmulCase& c, bool ta, bool tb, float alpha, float beta) {
  SCOPED_TRACE(::testing::Message() << "m=" << c.m << " n=" << c.n << " k=" << c.k
                                    << " trans_a=" << ta << " trans_b=" << tb << " beta=" << beta);
  const auto a = uniform(c.m * c.k, 1);
  const auto b = uniform(c.k * c.n, 2);
  auto out = uniform(c.m * c.n, 3);
  const auto c0 = out;
  cpu::matmul(out.data(), a.data(), b.data(), c.m, c.n, c.k, ta, tb, alpha, beta);
  auto expected = ref::matmul(a, b, c.m, c.n, c.k, ta, tb);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = alpha * expected[i] + beta * c0[i];
  EXPECT_TRUE(all_close(out, expected, 1e-5, 1e-5));
}

TEST(Matmul, AllTransposesAndSizesMatchReference) {
  for (const auto& c : kCases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check_raw(c, ta, tb, 1.0f, 0.0f);
}

TEST(Matmul, AlphaAndBetaMatchReference) {
  for (const auto& c : kCases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check_raw(c, ta, tb, 0.5f, 1.5f);
}

TEST(Matmul, BetaZeroIgnoresNanInOutput) {
  for (int64_t k : {0, 3}) {
    const auto a = uniform(7 * k, 1);
    const auto b = uniform(k * 5, 2);
    std::vector<float> out(35, NAN);
    cpu::matmul(out.data(), a.data(), b.data(), 7, 5, k, false, false, 1.0f, 0.0f);
    EXPECT_TRUE(all_close(out, ref::matmul(a, b, 7, 5, k, false, false), 1e-5, 1e-5)) << "k=" << k;
  }
}

TEST(Matmul, SizeBeyondBlasIntThrows) {
  const int64_t big = int64_t{INT_MAX} + 1;
  EXPECT_THROW(cpu::matmul(nullptr, nullptr, nullptr, big, 1, 1, false, false, 1, 0), Error);
  EXPECT_THROW(cpu::matmul(nullptr, nullptr, nullptr, 1, 1, big, false, false, 1, 0), Error);
  EXPECT_THROW(cpu::matmul(nullptr, nullptr, nullptr, -1, 1, 1, false, false, 1, 0), Error);
}

// ops::matmul: a read as (rows, last), b 2-D, out (rows of op(a), columns of op(b)).
void check_op(const MatmulCase& c, bool ta, bool tb, bool accumulate) {
  SCOPED_TRACE(::testing::Message() << "m=" << c.m << " n=" << c.n << " k=" << c.k
                                    << " trans_a=" << ta << " trans_b=" << tb
                                    << " accumulate=" << accumulate);
  const auto av = uniform(c.m * c.k, 4);
  const auto bv = uniform(c.k * c.n, 5);
  const auto cv = uniform(c.m * c.n, 6);
  Tensor a = tensor_f32(ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, av);
  Tensor b = tensor_f32(tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, bv);
  Tensor out = tensor_f32({c.m, c.n}, cv);
  ops::matmul(out, a, b, ta, tb, 2.0f, accumulate);
  auto expected = ref::matmul(av, bv, c.m, c.n, c.k, ta, tb);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = 2 * expected[i] + (accumulate ? cv[i] : 0);
  EXPECT_TRUE(all_close(out.span_f32(), expected, 1e-5, 1e-5));
}

TEST(OpsMatmul, AllTransposesAndSizes) {
  for (const auto& c : kCases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check_op(c, ta, tb, false);
}

TEST(OpsMatmul, Accumulate) {
  for (const auto& c : kCases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check_op(c, ta, tb, true);
}

TEST(OpsMatmul, LinearLayerOnThreeDimensionalInput) {
  // x (B, T, in) = (2, 3, 5), W (out, in) = (4, 5): y = x W^T, dx = dy W, dW += dy^T x.
  const auto xv = uniform(30, 7), wv = uniform(20, 8), dyv = uniform(24, 9);
  Tensor x = tensor_f32({2, 3, 5}, xv), w = tensor_f32({4, 5}, wv), dy = tensor_f32({2, 3, 4}, dyv);
  Tensor y = zeros_f32({2, 3, 4}), dx = zeros_f32({2, 3, 5});
  Tensor dw = tensor_f32({4, 5}, std::vector<float>(20, kGradInit));
  ops::matmul(y, x, w, false, true);
  ops::matmul(dx, dy, w);
  ops::matmul(dw, dy, x.view({6, 5}), true, false, 1.0f, true);
  EXPECT_TRUE(all_close(y.span_f32(), ref::matmul(xv, wv, 6, 4, 5, false, true), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(dx.span_f32(), ref::matmul(dyv, wv, 6, 5, 4, false, false), 1e-5, 1e-5));
  auto dw_expected = ref::matmul(dyv, xv, 4, 5, 6, true, false);
  for (double& e : dw_expected) e += kGradInit;
  EXPECT_TRUE(all_close(dw.span_f32(), dw_expected, 1e-5, 1e-5));
}

TEST(OpsMatmul, WritesIntoViewWithoutCopy) {
  // out is a view into a larger buffer: the result must land there.
  Tensor big = zeros_f32({10, 3});
  Tensor out = big.narrow0(2, 7);
  const auto av = uniform(35, 10), bv = uniform(15, 11);
  ops::matmul(out, tensor_f32({7, 5}, av), tensor_f32({5, 3}, bv));
  EXPECT_TRUE(all_close(std::span<const float>(big.f32() + 6, 21),
                        ref::matmul(av, bv, 7, 3, 5, false, false), 1e-5, 1e-5));
  EXPECT_EQ(big.f32()[0], 0.0f);
  EXPECT_EQ(big.f32()[27], 0.0f);
}

TEST(OpsMatmul, ShapeMismatchesThrow) {
  Tensor a = zeros_f32({7, 5}), b = zeros_f32({5, 3}), out = zeros_f32({7, 3});
  Tensor b_bad = zeros_f32({4, 3}), out_bad = zeros_f32({7, 4}), b3 = zeros_f32({1, 5, 3});
  EXPECT_NO_THROW(ops::matmul(out, a, b));
  EXPECT_THROW(ops::matmul(out, a, b_bad), Error);             // inner 5 vs 4
  EXPECT_THROW(ops::matmul(out_bad, a, b), Error);             // out columns
  EXPECT_THROW(ops::matmul(out, a, b, true, false), Error);    // a^T is (5, 7)
  EXPECT_THROW(ops::matmul(out, a, b, false, true), Error);    // b^T is (3, 5)
  EXPECT_THROW(ops::matmul(out, a, b3), Error);                // b must be 2-D
  EXPECT_THROW(ops::matmul(a, a, zeros_f32({5, 5})), Error);   // out aliases a
  Tensor a_i32 = Tensor::zeros({7, 5}, MemCategory::other, DType::i32);
  EXPECT_THROW(ops::matmul(out, a_i32, b), Error);             // dtype
  Tensor undefined;
  EXPECT_THROW(ops::matmul(out, undefined, b), Error);
}

TEST(OpsMatmul, ErrorNamesTheShapes) {
  Tensor a = zeros_f32({2, 7, 5}), b = zeros_f32({4, 3}), out = zeros_f32({14, 3});
  try {
    ops::matmul(out, a, b);
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("(2, 7, 5)"), std::string::npos) << what;
    EXPECT_NE(what.find("(4, 3)"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace tpb::testing
