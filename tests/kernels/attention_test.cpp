#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

struct AttentionCase {
  int64_t B, T, NH, NKV, D;
};

std::ostream& operator<<(std::ostream& os, const AttentionCase& c) {
  return os << "B=" << c.B << " T=" << c.T << " NH=" << c.NH << " NKV=" << c.NKV << " D=" << c.D;
}

struct Inputs {
  std::vector<float> q, k, v;
};

Inputs make_inputs(const AttentionCase& c, uint64_t seed) {
  // Scores of O(1): inputs in [-1.5, 1.5) make the softmax neither flat nor one-hot.
  return {uniform(c.B * c.T * c.NH * c.D, seed, -1.5f, 1.5f),
          uniform(c.B * c.T * c.NKV * c.D, seed + 1, -1.5f, 1.5f),
          uniform(c.B * c.T * c.NKV * c.D, seed + 2)};
}

void check_forward(const AttentionCase& c) {
  SCOPED_TRACE(::testing::Message() << c);
  const Inputs in = make_inputs(c, 1);
  std::vector<float> out(in.q.size()), lse(c.B * c.NH * c.T);
  cpu::attention_forward(out.data(), lse.data(), in.q.data(), in.k.data(), in.v.data(), c.B, c.T,
                         c.NH, c.NKV, c.D);
  std::vector<double> lse_expected;
  const auto expected =
      ref::attention(in.q, in.k, in.v, c.B, c.T, c.NH, c.NKV, c.D, &lse_expected);
  EXPECT_TRUE(all_close(out, expected, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(lse, lse_expected, 1e-5, 1e-6));
}

TEST(Attention, ForwardGroupedQueryMatchesReference) { check_forward({2, 5, 4, 2, 8}); }
TEST(Attention, ForwardMultiHeadMatchesReference) { check_forward({2, 6, 3, 3, 4}); }
TEST(Attention, ForwardMultiQueryMatchesReference) { check_forward({1, 7, 4, 1, 6}); }
TEST(Attention, ForwardSingleTokenMatchesReference) { check_forward({3, 1, 4, 2, 8}); }
TEST(Attention, ForwardLongerSequenceMatchesReference) { check_forward({1, 67, 2, 1, 32}); }

TEST(Attention, FirstTokenAttendsOnlyToItself) {
  // Causality: out at t = 0 is v_0 of its kv head, whatever the later keys are.
  const AttentionCase c{1, 4, 4, 2, 3};
  const Inputs in = make_inputs(c, 2);
  std::vector<float> out(in.q.size()), lse(c.NH * c.T);
  cpu::attention_forward(out.data(), lse.data(), in.q.data(), in.k.data(), in.v.data(), c.B, c.T,
                         c.NH, c.NKV, c.D);
  for (int64_t h = 0; h < c.NH; ++h)
    for (int64_t d = 0; d < c.D; ++d)
      EXPECT_FLOAT_EQ(out[h * c.D + d], in.v[(h / 2) * c.D + d]) << "h=" << h << " d=" << d;
}

void check_backward(const AttentionCase& c) {
  SCOPED_TRACE(::testing::Message() << c);
  Inputs in = make_inputs(c, 3);
  const auto w = uniform(in.q.size(), 6);  // dout
  std::vector<float> out(in.q.size()), lse(c.B * c.NH * c.T);
  auto loss = [&] {
    cpu::attention_forward(out.data(), lse.data(), in.q.data(), in.k.data(), in.v.data(), c.B,
                           c.T, c.NH, c.NKV, c.D);
    return dot(out, w);
  };
  const auto num_dq = numeric_grad(loss, in.q);
  const auto num_dk = numeric_grad(loss, in.k);
  const auto num_dv = numeric_grad(loss, in.v);
  loss();
  auto dq = grad_buffer(in.q.size()), dk = grad_buffer(in.k.size()), dv = grad_buffer(in.v.size());
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), w.data(), in.q.data(), in.k.data(),
                          in.v.data(), out.data(), lse.data(), c.B, c.T, c.NH, c.NKV, c.D);
  EXPECT_TRUE(grad_close(dq, num_dq)) << "dq";
  EXPECT_TRUE(grad_close(dk, num_dk)) << "dk";
  EXPECT_TRUE(grad_close(dv, num_dv)) << "dv";
}

TEST(Attention, BackwardGroupedQueryMatchesFiniteDifferences) { check_backward({2, 5, 4, 2, 4}); }
TEST(Attention, BackwardMultiHeadMatchesFiniteDifferences) { check_backward({1, 6, 2, 2, 4}); }
TEST(Attention, BackwardSingleTokenMatchesFiniteDifferences) { check_backward({2, 1, 4, 2, 4}); }
// More than two blocks of query rows (the kernel works in blocks of 64).
TEST(Attention, BackwardAcrossQueryBlocksMatchesFiniteDifferences) { check_backward({1, 130, 2, 1, 4}); }

TEST(Attention, BadHeadCountsThrow) {
  std::vector<float> buf(64);
  EXPECT_THROW(cpu::attention_forward(buf.data(), buf.data(), buf.data(), buf.data(), buf.data(),
                                      1, 2, 3, 2, 4),
               Error);  // 3 % 2 != 0
  EXPECT_THROW(cpu::attention_backward(buf.data(), buf.data(), buf.data(), buf.data(), buf.data(),
                                       buf.data(), buf.data(), buf.data(), buf.data(), 1, 2, 4, 0,
                                       4),
               Error);
}

}  // namespace
}  // namespace tpb::testing
