// The fused, chunked loss head (model/loss_head.h) against the unfused head it replaced: the
// whole batch's logits x W^T, the vocab-parallel cross-entropy forward and backward of
// model/vocab_parallel.h on all rows at once, then dx = dlogits W and dW = dlogits^T x. Every
// row's loss (relative) and dx and dW (normwise relative) agree within 1e-6 (fp32) for chunks of 1, 5, 7 (not
// dividing the 36 rows), 36 and the automatic size, at tp 1 and at tp 2 (vocabulary split
// over 2 ranks, the max / sum-exp all-reduces per chunk). Runs on 2 ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "comm/mpi/mpi_communicator.h"
#include "kernels/ops.h"
#include "model/loss_head.h"
#include "testing/random.h"

namespace tpb {
namespace {

constexpr int64_t kBatch = 3, kSeq = 12, kDim = 16, kVocab = 40;
constexpr int64_t kRows = kBatch * kSeq;

struct HeadInputs {
  Tensor x, weight, targets;  // (B, T, C); this rank's (V_local, C); int32 (B, T)
  int64_t v_local = 0, vocab_start = 0;
};

HeadInputs inputs(int tp_rank, int tp_size) {
  HeadInputs in;
  in.v_local = kVocab / tp_size;
  in.vocab_start = tp_rank * in.v_local;
  in.x = Tensor::empty({kBatch, kSeq, kDim}, MemCategory::activations);
  const auto xv = testing::uniform(in.x.numel(), 11, -2.0f, 2.0f);
  std::copy(xv.begin(), xv.end(), in.x.f32());
  // This rank's rows of one full weight, so every tp sees the same model.
  const auto wv = testing::uniform(kVocab * kDim, 12, -1.0f, 1.0f);
  in.weight = Tensor::empty({in.v_local, kDim}, MemCategory::parameters);
  std::copy(wv.begin() + in.vocab_start * kDim, wv.begin() + (in.vocab_start + in.v_local) * kDim, in.weight.f32());
  in.targets = Tensor::empty({kBatch, kSeq}, MemCategory::activations, DType::i32);
  const auto tv = testing::uniform_ints(kRows, 13, static_cast<int32_t>(kVocab));
  std::copy(tv.begin(), tv.end(), in.targets.i32());
  return in;
}

struct HeadResult {
  std::vector<float> losses, dx, dweight;
};

std::vector<float> values(const Tensor& t) { return {t.f32(), t.f32() + t.numel()}; }

// The head before fusion: all logits, then the cross-entropy and the two gradient GEMMs.
HeadResult unfused(const HeadInputs& in, Communicator& tp) {
  Tensor logits = Tensor::empty({kRows, in.v_local}, MemCategory::activations);
  Tensor dlogits = Tensor::empty({kRows, in.v_local}, MemCategory::activations);
  const Tensor x2 = in.x.view({kRows, kDim});
  ops::matmul(logits, x2, in.weight, false, true);
  VocabParallelCE ce = make_vocab_parallel_ce(kRows);
  const Tensor t1 = in.targets.view({kRows});
  vocab_parallel_cross_entropy_forward(ce, logits, t1, in.vocab_start, tp);
  vocab_parallel_cross_entropy_backward(dlogits, ce, logits, t1, in.vocab_start, 1.0f);
  Tensor dx = Tensor::empty({kRows, kDim}, MemCategory::activations);
  Tensor dw = Tensor::empty({in.v_local, kDim}, MemCategory::activations);
  ops::matmul(dx, dlogits, in.weight);
  ops::matmul(dw, dlogits, x2, true, false);
  return {values(ce.losses), values(dx), values(dw)};
}

HeadResult fused(const HeadInputs& in, Communicator& tp, int64_t chunk) {
  LossHead h = make_loss_head(kBatch, kSeq, kDim, in.v_local, chunk);
  loss_head_forward(h, in.x, in.weight, in.targets, in.vocab_start, tp);
  return {values(h.ce.losses), values(h.dx), values(h.dweight)};
}

// Losses element by element (no cancellation in them); gradients normwise, ||got - want|| /
// ||want|| (an element of dx or dW is a sum over rows or the vocabulary of terms of both
// signs, whose own relative error in fp32 says nothing about the head; BLAS sums a 1-row
// chunk in another order than 36 rows).
void expect_close(const std::vector<float>& got, const std::vector<float>& want, bool normwise,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  if (!normwise) {
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-6 * std::abs(want[i])) << what << " element " << i;
    return;
  }
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  ASSERT_GT(norm, 0.0) << what;
  EXPECT_LE(std::sqrt(diff / norm), 1e-6) << what;
}

TEST(LossHead, ChunkedMatchesTheUnfusedHeadAtTp1AndTp2) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 2) << "run this test on 2 ranks";
  auto alone = world->split(world->rank(), 0, "alone");  // tp 1: each rank on its own
  for (Communicator* tp : {static_cast<Communicator*>(alone.get()), static_cast<Communicator*>(world.get())}) {
    const HeadInputs in = inputs(tp->rank(), tp->size());
    const HeadResult want = unfused(in, *tp);
    EXPECT_GT(want.losses[0], 0.0f);
    for (int64_t chunk : {int64_t{1}, int64_t{5}, int64_t{7}, kRows, int64_t{0}}) {
      const std::string what = "tp " + std::to_string(tp->size()) + ", chunk " + std::to_string(chunk);
      const HeadResult got = fused(in, *tp, chunk);
      expect_close(got.losses, want.losses, false, what + ", losses");
      expect_close(got.dx, want.dx, true, what + ", dx");
      expect_close(got.dweight, want.dweight, true, what + ", dW");
    }
  }
}

TEST(LossHead, ChunkRowsDefaultsFromMemoryAndClamps) {
  // 64 MiB for two fp32 (chunk, V_local) buffers.
  EXPECT_EQ(default_loss_chunk(49152, 32000), (int64_t{64} << 20) / (8 * 32000));
  EXPECT_EQ(default_loss_chunk(2048, 4096), 2048);  // the whole batch fits: one chunk
  EXPECT_EQ(default_loss_chunk(10, 1 << 24), 10);   // at least min(64, rows)
  EXPECT_EQ(loss_chunk_rows(7, 36, 40), 7);
  EXPECT_EQ(loss_chunk_rows(100, 36, 40), 36);
  EXPECT_EQ(loss_chunk_rows(0, 36, 40), 36);
}

}  // namespace
}  // namespace tpb
