// Finite-difference checks of the model's backward, one block type at a time, on a
// single rank (TP = 1): the transformer block, the vocab-parallel embedding +
// cross-entropy head, and the whole model. fp32 central differences on a tiny config.
#include <gtest/gtest.h>

#include <random>

#include "base/error.h"
#include "comm/mpi/mpi_communicator.h"
#include "kernels/ops.h"
#include "model/block.h"
#include "model/transformer.h"
#include "testing/grad_check.h"
#include "testing/random.h"

namespace tpb {
namespace {

ModelConfig tiny() {
  ModelConfig c;
  c.dim = 8;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.ffn_hidden = 12;
  c.vocab = 11;
  c.seq = 5;
  return c;
}

// Larger weights than the real init so every path carries signal.
void randomize(ModelParams& p, uint64_t seed) {
  auto v = testing::uniform(p.values().numel(), seed, -0.5f, 0.5f);
  std::copy(v.begin(), v.end(), p.values().f32());
  for (Param& q : p.all())
    if (q.kind == ShardKind::replicated)
      for (float& x : q.value.span_f32()) x = 1.0f + 0.5f * x;
}

// Checks every element of param `q` (or a sample of a big one) against central differences.
void expect_param_grad(const std::function<double()>& loss, Param& q, const char* what) {
  std::vector<float> analytic(q.grad.f32(), q.grad.f32() + q.grad.numel());
  const auto numeric = testing::numeric_grad(loss, q.value.span_f32(), 1e-2);
  EXPECT_TRUE(testing::all_close(analytic, numeric, 2e-2, 2e-3)) << what << " " << q.name;
}

TEST(ModelGrad, TransformerBlock) {
  auto world = MpiCommunicator::world();
  const ModelConfig c = tiny();
  ModelParams p(c);
  randomize(p, 1);
  const int64_t batch = 2;
  BlockActivations a = make_block_activations(c, p.local(), batch);
  BlockScratch s = make_block_scratch(c, p.local(), batch);
  Tensor x = Tensor::empty({batch, c.seq, c.dim}, MemCategory::activations);
  auto xv = testing::uniform(x.numel(), 2);
  std::copy(xv.begin(), xv.end(), x.f32());
  Tensor out = Tensor::empty({batch, c.seq, c.dim}, MemCategory::activations);
  const auto proj = testing::uniform(out.numel(), 3);
  auto loss = [&] {
    block_forward(out, a, s, p.layer(0), x, c, p.local(), *world, nullptr);
    return testing::dot(out.span_f32(), proj);
  };
  loss();
  p.zero_grads();
  Tensor dout = Tensor::empty(out.shape(), MemCategory::activations);
  std::copy(proj.begin(), proj.end(), dout.f32());
  Tensor dx = Tensor::empty(x.shape(), MemCategory::activations);
  block_backward(dx, a, s, p.layer(0), x, dout, c, p.local(), *world, nullptr);
  const ModelParams::Layer w = p.layer(0);
  for (Param* q : {w.attention_norm, w.wq, w.wk, w.wv, w.wo, w.ffn_norm, w.w1, w.w2, w.w3})
    expect_param_grad(loss, *q, "block");
  std::vector<float> dx_analytic(dx.f32(), dx.f32() + dx.numel());
  const auto dx_numeric = testing::numeric_grad(loss, x.span_f32(), 1e-2);
  EXPECT_TRUE(testing::all_close(dx_analytic, dx_numeric, 2e-2, 2e-3)) << "block input";
}

TEST(ModelGrad, WholeModelIncludingEmbeddingAndVocabParallelHead) {
  auto world = MpiCommunicator::world();
  const ModelConfig c = tiny();
  ModelParams p(c);
  randomize(p, 4);
  const int64_t batch = 2;
  TransformerActivations a = make_transformer_activations(c, p.local(), batch);
  const auto tok = testing::uniform_ints(batch * c.seq, 5, static_cast<int32_t>(c.vocab));
  const auto tgt = testing::uniform_ints(batch * c.seq, 6, static_cast<int32_t>(c.vocab));
  std::copy(tok.begin(), tok.end(), a.tokens.i32());
  std::copy(tgt.begin(), tgt.end(), a.targets.i32());
  auto loss = [&] { return transformer_forward(a, p, *world); };
  loss();
  p.zero_grads();
  transformer_backward(a, p, *world);
  for (Param& q : p.all()) expect_param_grad(loss, q, "model");
}

// Parameters sharded for another TP size than the communicator's are refused by the
// forward pass, naming both, before any collective (the sizes of one rank's shards would
// otherwise silently mismatch the group's).
TEST(ModelLayout, ForwardRefusesParametersOfAnotherTpSize) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 1);
  ModelConfig c = tiny();
  c.n_kv_heads = 2;  // so tp 2 splits every dimension
  c.vocab = 12;
  ModelParams p(c, ParallelDims(2, 2), /*tp_rank=*/1);
  EXPECT_EQ(p.local().heads, c.n_heads / 2);
  EXPECT_EQ(p.local().vocab, c.vocab / 2);
  EXPECT_EQ(p.output().shard.offset, c.vocab / 2);  // rank 1 of 2 keeps the second half
  TransformerActivations a = make_transformer_activations(c, p.local(), 1);
  a.tokens.zero();
  a.targets.zero();
  const size_t before = world->log().records().size();
  try {
    transformer_forward(a, p, *world);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("parameters of tp rank 1/2 used on a tp communicator of rank 0/1") !=
                  std::string::npos, true) << e.what();
  }
  EXPECT_EQ(world->log().records().size(), before);
}

}  // namespace
}  // namespace tpb
