// The tensor entry points: each runs its kernel on tensors of consistent shapes and throws
// tpb::Error (naming the shapes) on inconsistent ones. The kernels' numerics are tested in
// the per-kernel files; here the results are compared with the raw kernels or references.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

Tensor random_f32(Shape shape, uint64_t seed) { return tensor_f32(shape, uniform(shape.numel(), seed)); }

TEST(Ops, BiasAdd) {
  Tensor out = random_f32({2, 3, 4}, 1), bias = random_f32({4}, 2);
  const auto before = to_vector(out);
  ops::bias_add_forward(out, bias);
  EXPECT_FLOAT_EQ(out.f32()[5], before[5] + bias.f32()[1]);
  Tensor dbias = zeros_f32({4});
  ops::bias_add_backward(dbias, out);
  EXPECT_THROW(ops::bias_add_forward(out, random_f32({3}, 3)), Error);
  EXPECT_THROW(ops::bias_add_backward(dbias, random_f32({2, 5}, 3)), Error);
}

TEST(Ops, ElementwiseShapesMustMatch) {
  Tensor a = random_f32({2, 3}, 1), b = random_f32({2, 3}, 2), out = zeros_f32({2, 3});
  Tensor flat = zeros_f32({6});  // same numel, other shape
  ops::silu_forward(out, a);
  EXPECT_TRUE(all_close(out.span_f32(), ref::silu(a.span_f32()), 1e-6, 1e-6));
  ops::swiglu_forward(out, a, b);
  EXPECT_TRUE(all_close(out.span_f32(), ref::swiglu(a.span_f32(), b.span_f32()), 1e-6, 1e-6));
  ops::add_forward(out, a, b);
  EXPECT_FLOAT_EQ(out.f32()[4], a.f32()[4] + b.f32()[4]);
  Tensor da = zeros_f32({2, 3}), db = zeros_f32({2, 3});
  EXPECT_NO_THROW(ops::silu_backward(da, b, a));
  EXPECT_NO_THROW(ops::swiglu_backward(da, db, out, a, b));
  EXPECT_THROW(ops::silu_forward(flat, a), Error);
  EXPECT_THROW(ops::silu_backward(da, flat, a), Error);
  EXPECT_THROW(ops::swiglu_forward(out, a, flat), Error);
  EXPECT_THROW(ops::swiglu_backward(da, flat, out, a, b), Error);
  EXPECT_THROW(ops::add_forward(out, flat, b), Error);
  Tensor ints = Tensor::zeros({2, 3}, MemCategory::other, DType::i32);
  EXPECT_THROW(ops::add_forward(out, ints, b), Error);
}

TEST(Ops, Rmsnorm) {
  Tensor inp = random_f32({2, 3, 8}, 1), weight = random_f32({8}, 2);
  Tensor out = zeros_f32({2, 3, 8}), rstd = zeros_f32({2, 3});
  ops::rmsnorm_forward(out, rstd, inp, weight, 1e-5f);
  EXPECT_TRUE(all_close(out.span_f32(), ref::rmsnorm(inp.span_f32(), weight.span_f32(), 6, 8, 1e-5f),
                        1e-5, 1e-6));
  Tensor dinp = zeros_f32({2, 3, 8}), dweight = zeros_f32({8});
  EXPECT_NO_THROW(ops::rmsnorm_backward(dinp, dweight, out, inp, weight, rstd));
  EXPECT_THROW(ops::rmsnorm_forward(out, rstd, inp, random_f32({7}, 3), 1e-5f), Error);
  Tensor rstd_bad = zeros_f32({5}), out_flat = zeros_f32({6, 8}), dweight_bad = zeros_f32({9});
  EXPECT_THROW(ops::rmsnorm_forward(out, rstd_bad, inp, weight, 1e-5f), Error);
  EXPECT_THROW(ops::rmsnorm_forward(out_flat, rstd, inp, weight, 1e-5f), Error);
  EXPECT_THROW(ops::rmsnorm_backward(dinp, dweight_bad, out, inp, weight, rstd), Error);
}

TEST(Ops, Softmax) {
  Tensor inp = random_f32({3, 5}, 1), out = zeros_f32({3, 5}), dinp = zeros_f32({3, 5});
  ops::softmax_forward(out, inp);
  EXPECT_TRUE(all_close(out.span_f32(), ref::softmax(inp.span_f32(), 3, 5), 1e-5, 1e-7));
  EXPECT_NO_THROW(ops::softmax_backward(dinp, inp, out));
  Tensor out_t = zeros_f32({5, 3});
  EXPECT_THROW(ops::softmax_forward(out_t, inp), Error);
  EXPECT_THROW(ops::softmax_backward(dinp, zeros_f32({15}), out), Error);
}

TEST(Ops, Rope) {
  Tensor x = random_f32({2, 3, 2, 4}, 1), out = zeros_f32({2, 3, 2, 4});
  ops::rope_forward(out, x, 10000.0f, 5);
  EXPECT_TRUE(all_close(out.span_f32(), ref::rope(x.span_f32(), 2, 3, 2, 4, 10000.0, 5), 1e-5, 1e-6));
  ops::rope_forward(x, x, 10000.0f, 5);  // in place
  EXPECT_TRUE(all_close(x.span_f32(), out.span_f32(), 0, 0));
  Tensor dx = zeros_f32({2, 3, 2, 4});
  EXPECT_NO_THROW(ops::rope_backward(dx, out, 10000.0f, 5));
  Tensor x3 = zeros_f32({6, 2, 4}), x_odd = zeros_f32({1, 1, 1, 3});
  EXPECT_THROW(ops::rope_forward(x3, x3, 1e4f, 0), Error);
  EXPECT_THROW(ops::rope_forward(x_odd, x_odd, 1e4f, 0), Error);
  EXPECT_THROW(ops::rope_forward(out, zeros_f32({2, 3, 4, 2}), 1e4f, 0), Error);
  EXPECT_THROW(ops::rope_backward(dx, out, 1e4f, -1), Error);
}

TEST(Ops, Attention) {
  const int64_t B = 2, T = 3, NH = 4, NKV = 2, D = 4;
  Tensor q = random_f32({B, T, NH, D}, 1), k = random_f32({B, T, NKV, D}, 2),
         v = random_f32({B, T, NKV, D}, 3);
  Tensor out = zeros_f32({B, T, NH, D}), lse = zeros_f32({B, NH, T});
  ops::attention_forward(out, lse, q, k, v);
  EXPECT_TRUE(all_close(out.span_f32(),
                        ref::attention(q.span_f32(), k.span_f32(), v.span_f32(), B, T, NH, NKV, D),
                        1e-5, 1e-6));
  Tensor dq = zeros_f32({B, T, NH, D}), dk = zeros_f32({B, T, NKV, D}), dv = zeros_f32({B, T, NKV, D});
  EXPECT_NO_THROW(ops::attention_backward(dq, dk, dv, out, q, k, v, out, lse));
  EXPECT_THROW(ops::attention_forward(out, lse, q, k, random_f32({B, T, 1, D}, 4)), Error);
  Tensor lse_bad = zeros_f32({B, T, NH});
  EXPECT_THROW(ops::attention_forward(out, lse_bad, q, k, v), Error);
  Tensor k3 = random_f32({B, T, 3, D}, 5);
  EXPECT_THROW(ops::attention_forward(out, lse, q, k3, k3), Error);  // 4 % 3 != 0
  Tensor q_short = random_f32({B, 2, NH, D}, 6);
  Tensor out_short = zeros_f32({B, 2, NH, D}), lse_short = zeros_f32({B, NH, 2});
  EXPECT_THROW(ops::attention_forward(out_short, lse_short, q_short, k, v), Error);
  EXPECT_THROW(ops::attention_backward(dq, dq, dv, out, q, k, v, out, lse), Error);
}

TEST(Ops, Embedding) {
  Tensor tokens = tensor_i32({2, 3}, std::vector<int32_t>{3, 4, 5, 6, 7, 8});
  Tensor table = random_f32({4, 5}, 1);  // ids [4, 8)
  Tensor out = zeros_f32({2, 3, 5});
  ops::embedding_forward(out, tokens, table, 4);
  EXPECT_EQ(out.f32()[0], 0.0f);                   // id 3: not held
  EXPECT_EQ(out.f32()[5], table.f32()[0]);         // id 4: row 0
  EXPECT_EQ(out.f32()[4 * 5 + 2], table.f32()[3 * 5 + 2]);  // id 7: row 3
  Tensor dtable = zeros_f32({4, 5});
  ops::embedding_backward(dtable, out, tokens, 4);
  EXPECT_EQ(dtable.f32()[7], table.f32()[7]);
  Tensor out_flat = zeros_f32({6, 5}), out_narrow = zeros_f32({2, 3, 4});
  EXPECT_THROW(ops::embedding_forward(out_flat, tokens, table, 4), Error);
  EXPECT_THROW(ops::embedding_forward(out_narrow, tokens, table, 4), Error);
  EXPECT_THROW(ops::embedding_forward(out, random_f32({2, 3}, 2), table, 4), Error);  // f32 ids
  EXPECT_THROW(ops::embedding_backward(dtable, zeros_f32({2, 2, 5}), tokens, 4), Error);
}

TEST(Ops, CrossEntropy) {
  Tensor logits = random_f32({2, 3, 7}, 1);
  Tensor targets = tensor_i32({6}, std::vector<int32_t>{0, 6, 3, 2, 1, 5});
  Tensor losses = zeros_f32({2, 3});
  ops::cross_entropy_forward(losses, logits, targets);
  EXPECT_TRUE(all_close(losses.span_f32(),
                        ref::cross_entropy(logits.span_f32(), {targets.i32(), 6}, 6, 7), 1e-5, 1e-6));
  Tensor dlogits = zeros_f32({2, 3, 7}), dlosses = random_f32({6}, 2);
  EXPECT_NO_THROW(ops::cross_entropy_backward(dlogits, dlosses, logits, targets));
  Tensor losses_bad = zeros_f32({5});
  EXPECT_THROW(ops::cross_entropy_forward(losses_bad, logits, targets), Error);
  EXPECT_THROW(ops::cross_entropy_forward(losses, logits, tensor_i32({2}, std::vector<int32_t>{0, 1})),
               Error);
  EXPECT_THROW(ops::cross_entropy_forward(losses, logits, random_f32({6}, 3)), Error);  // f32
  Tensor dlogits_bad = zeros_f32({6, 6});
  EXPECT_THROW(ops::cross_entropy_backward(dlogits_bad, dlosses, logits, targets), Error);
}

TEST(Ops, Mse) {
  Tensor pred = random_f32({3, 4}, 1), target = random_f32({3, 4}, 2);
  EXPECT_DOUBLE_EQ(ops::mse_forward(pred, target), cpu::mse_forward(pred.f32(), target.f32(), 12));
  Tensor dpred = zeros_f32({3, 4});
  EXPECT_NO_THROW(ops::mse_backward(dpred, pred, target, 1.0f));
  EXPECT_THROW(ops::mse_forward(pred, random_f32({4, 3}, 3)), Error);
  Tensor dpred_flat = zeros_f32({12});
  EXPECT_THROW(ops::mse_backward(dpred_flat, pred, target, 1.0f), Error);
}

TEST(Ops, Optimizers) {
  Tensor param = random_f32({3, 4}, 1), grad = random_f32({12}, 2);  // equal numel suffices
  Tensor m = zeros_f32({12}), v = zeros_f32({12});
  const auto before = to_vector(param);
  ops::sgd_step(param, grad, 0.1f);
  EXPECT_FLOAT_EQ(param.f32()[3], before[3] - 0.1f * grad.f32()[3]);
  EXPECT_NO_THROW(ops::adamw_step(param, m, v, grad, {.lr = 1e-3f}, 1));
  EXPECT_THROW(ops::sgd_step(param, random_f32({11}, 3), 0.1f), Error);
  Tensor v_bad = zeros_f32({13});
  EXPECT_THROW(ops::adamw_step(param, m, v_bad, grad, {.lr = 1e-3f}, 1), Error);
}

}  // namespace
// The whole-buffer helpers of the parallel layers (kernels/cpu/layout.h) against closed
// forms, and the CPU's refusal of bf16 activations.
TEST(Ops, CastScaleSumSquaresAndLayouts) {
  // fp32 -> bf16 -> fp32: exact for values with 8 significant bits, nearest-even otherwise.
  const std::vector<float> xs = {1.5f, -256.0f, 1.0f + 1.0f / 256.0f, 1.0f + 3.0f / 256.0f};
  Tensor x = tensor_f32({4}, xs);
  Tensor h = Tensor::empty({4}, MemCategory::other, DType::bf16), back = zeros_f32({4});
  ops::cast(h, x);
  ops::cast(back, h);
  EXPECT_EQ(back.f32()[0], 1.5f);
  EXPECT_EQ(back.f32()[1], -256.0f);
  EXPECT_EQ(back.f32()[2], 1.0f);                    // tie: to even (1.0)
  EXPECT_EQ(back.f32()[3], 1.0f + 4.0f / 256.0f);    // tie: to even (1 + 2^-6)
  ops::scale(x, -2.0f);
  EXPECT_EQ(x.f32()[0], -3.0f);
  const std::vector<float> sq = {1.0f, -2.0f, 3.0f};
  EXPECT_DOUBLE_EQ(ops::sum_squares(tensor_f32({3}, sq)), 14.0);
  // Rank-major blocks (2 rows x 1 col), (2 x 2) -> rows of 3 features.
  const std::vector<float> blocks = {1, 4, 2, 3, 5, 6};
  Tensor staging = tensor_f32({6}, blocks), out = zeros_f32({2, 3});
  const int64_t widths[] = {1, 2};
  ops::interleave_blocks(out, staging, widths);
  EXPECT_EQ(to_vector(out), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor cols = zeros_f32({2, 2});
  ops::take_columns(cols, out, 1);
  EXPECT_EQ(to_vector(cols), (std::vector<float>{2, 3, 5, 6}));
  EXPECT_THROW(ops::take_columns(cols, out, 2), Error);
  // The CPU backend is fp32: bf16 activations are refused by name.
  Tensor hb = Tensor::empty({4}, MemCategory::other, DType::bf16);
  EXPECT_THROW(ops::silu_forward(hb, hb), Error);
}

}  // namespace tpb::testing
