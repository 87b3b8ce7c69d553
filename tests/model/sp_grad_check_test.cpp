// Finite differences of one transformer block with sequence parallelism on 2 ranks (tp 2,
// --sp): each rank holds half the heads, half the FFN and half of every sequence's
// positions of x and out. The loss is the sum over both ranks of out . proj; every rank's
// analytic gradient of each of its parameter shards and of its x shard must match central
// differences of that global loss, one element of one rank perturbed at a time. The norm
// weights are replicated, so they are perturbed on both ranks at once: their gradient is
// right only after block_backward's all-reduce over TP (without it each rank holds the
// partial sum of its own positions and this test fails).
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "comm/mpi/mpi_communicator.h"
#include "model/block.h"
#include "testing/grad_check.h"
#include "testing/random.h"

namespace tpb {
namespace {

ModelConfig tiny_sp() {
  ModelConfig c;
  c.dim = 8;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 2;  // tp 2 splits every dimension
  c.ffn_hidden = 12;
  c.vocab = 12;
  c.seq = 6;  // 3 positions of each sequence on each rank
  return c;
}

// d loss / d v[i] by central differences where `owner` (a rank, or -1 for every rank at once)
// perturbs v[i]; every rank calls loss() the same number of times (it is collective).
double numeric(const std::function<double()>& loss, float* v, int i, int owner, int me) {
  constexpr float eps = 1e-2f;
  const bool mine = owner < 0 || owner == me;
  const float old = mine ? v[i] : 0.0f;
  if (mine) v[i] = old + eps;
  const double plus = loss();
  if (mine) v[i] = old - eps;
  const double minus = loss();
  if (mine) v[i] = old;
  return (plus - minus) / (2.0 * eps);
}

// Checks every element of `values` (grads in `grad`) on each rank in turn (or on all at once
// when `replicated`) against central differences of the global loss.
void expect_grads(const std::function<double()>& loss, Communicator& tp, Tensor& values, const Tensor& grad,
                  bool replicated, const std::string& what) {
  const int me = tp.rank();
  const std::vector<float> analytic(grad.f32(), grad.f32() + grad.numel());
  std::vector<double> mine(analytic.size());
  for (int owner = replicated ? -1 : 0; owner < (replicated ? 0 : tp.size()); ++owner)
    for (int i = 0; i < static_cast<int>(values.numel()); ++i) {  // every rank's shard is the same size
      const double d = numeric(loss, values.f32(), i, owner, me);
      if (owner < 0 || owner == me) mine[static_cast<size_t>(i)] = d;
    }
  EXPECT_TRUE(testing::all_close(analytic, mine, 2e-2, 2e-3)) << what << " on tp rank " << me;
}

TEST(SequenceParallelGrad, TransformerBlockOnTwoRanks) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 2) << "run this test on 2 ranks";
  const int me = world->rank();
  const ModelConfig c = tiny_sp();
  ModelParams p(c, ParallelDims(2, 2, /*sp=*/true), me);
  ASSERT_TRUE(p.local().sp);
  ASSERT_EQ(p.local().seq_local, 3);
  // Larger weights than the real init so every path carries signal; the same seed on both
  // ranks keeps the replicated norm weights equal.
  const auto v = testing::uniform(p.values().numel(), 1, -0.5f, 0.5f);
  std::copy(v.begin(), v.end(), p.values().f32());
  for (Param& q : p.all())
    if (q.kind == ShardKind::replicated)
      for (float& x : q.value.span_f32()) x = 1.0f + 0.5f * x;
  const int64_t batch = 2;
  BlockActivations a = make_block_activations(c, p.local(), batch);
  BlockScratch s = make_block_scratch(c, p.local(), batch);
  const Shape local_shape{batch, p.local().seq_local, c.dim};
  Tensor x = Tensor::empty(local_shape, MemCategory::activations);
  const auto xv = testing::uniform(x.numel(), 2 + static_cast<uint64_t>(me));
  std::copy(xv.begin(), xv.end(), x.f32());
  Tensor out = Tensor::empty(local_shape, MemCategory::activations);
  const auto proj = testing::uniform(out.numel(), 4 + static_cast<uint64_t>(me));
  auto loss = [&] {
    block_forward(out, a, s, p.layer(0), x, c, p.local(), *world, nullptr);
    double l = testing::dot(out.span_f32(), proj);
    world->all_reduce(&l, &l, 1, DType::f64, ReduceOp::sum);
    return l;
  };
  loss();
  p.zero_grads();
  Tensor dout = Tensor::empty(local_shape, MemCategory::activations);
  std::copy(proj.begin(), proj.end(), dout.f32());
  Tensor dx = Tensor::empty(local_shape, MemCategory::activations);
  block_backward(dx, a, s, p.layer(0), x, dout, c, p.local(), *world, nullptr);
  const ModelParams::Layer w = p.layer(0);
  for (Param* q : {w.attention_norm, w.ffn_norm, w.wq, w.wk, w.wv, w.wo, w.w1, w.w2, w.w3})
    expect_grads(loss, *world, q->value, q->grad, q->kind == ShardKind::replicated, q->name);
  expect_grads(loss, *world, x, dx, /*replicated=*/false, "block input x");
}

}  // namespace
}  // namespace tpb
