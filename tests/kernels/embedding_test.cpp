#include "kernels/cpu/embedding.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

// This shard holds ids [10, 15) of the vocabulary.
constexpr int64_t kVocabStart = 10, kVLocal = 5, kC = 3;
// In range: 10, 14, 12 (twice). Out of range: 0, 9 (just below), 15 (just above), 99.
const std::vector<int32_t> kTokens = {10, 0, 14, 9, 12, 15, 12, 99};

TEST(Embedding, ForwardLooksUpHeldRowsAndZerosTheRest) {
  const auto table = uniform(kVLocal * kC, 1);
  const int64_t n = static_cast<int64_t>(kTokens.size());
  std::vector<float> out(n * kC, 7.0f);  // garbage that must be overwritten
  cpu::embedding_forward(out.data(), kTokens.data(), table.data(), n, kVLocal, kC, kVocabStart);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = kTokens[i] - kVocabStart;
    const bool held = row >= 0 && row < kVLocal;
    for (int64_t c = 0; c < kC; ++c)
      EXPECT_EQ(out[i * kC + c], held ? table[row * kC + c] : 0.0f) << "token " << kTokens[i];
  }
}

TEST(Embedding, ShardsSumToTheFullLookup) {
  // Vocab 12 split into [0, 5) and [5, 12): the sum of the shards' outputs is the lookup.
  const int64_t vocab = 12, c = 4;
  const auto full = uniform(vocab * c, 2);
  const auto tokens = uniform_ints(9, 3, vocab);
  std::vector<float> a(9 * c), b(9 * c);
  cpu::embedding_forward(a.data(), tokens.data(), full.data(), 9, 5, c, 0);
  cpu::embedding_forward(b.data(), tokens.data(), full.data() + 5 * c, 9, 7, c, 5);
  for (int64_t i = 0; i < 9; ++i)
    for (int64_t j = 0; j < c; ++j)
      EXPECT_EQ(a[i * c + j] + b[i * c + j], full[tokens[i] * c + j]);
}

TEST(Embedding, NegativeTokenThrows) {
  const auto table = uniform(kVLocal * kC, 4);
  const std::vector<int32_t> tokens = {11, -1};
  std::vector<float> out(2 * kC);
  EXPECT_THROW(cpu::embedding_forward(out.data(), tokens.data(), table.data(), 2, kVLocal, kC,
                                      kVocabStart),
               Error);
}

TEST(Embedding, BackwardAccumulatesHeldTokensOnly) {
  const int64_t n = static_cast<int64_t>(kTokens.size());
  const auto dout = uniform(n * kC, 5);
  auto dtable = grad_buffer(kVLocal * kC);
  cpu::embedding_backward(dtable.data(), dout.data(), kTokens.data(), n, kVLocal, kC, kVocabStart);
  std::vector<double> expected(dtable.size(), kGradInit);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = kTokens[i] - kVocabStart;
    if (row < 0 || row >= kVLocal) continue;
    for (int64_t c = 0; c < kC; ++c) expected[row * kC + c] += dout[i * kC + c];
  }
  EXPECT_TRUE(all_close(dtable, expected, 1e-6, 1e-6));
}

TEST(Embedding, BackwardMatchesFiniteDifferences) {
  const int64_t n = static_cast<int64_t>(kTokens.size());
  auto table = uniform(kVLocal * kC, 6);
  const auto w = uniform(n * kC, 7);
  std::vector<float> out(n * kC);
  auto loss = [&] {
    cpu::embedding_forward(out.data(), kTokens.data(), table.data(), n, kVLocal, kC, kVocabStart);
    return dot(out, w);
  };
  auto dtable = grad_buffer(table.size());
  cpu::embedding_backward(dtable.data(), w.data(), kTokens.data(), n, kVLocal, kC, kVocabStart);
  EXPECT_TRUE(grad_close(dtable, numeric_grad(loss, table)));
}

}  // namespace
}  // namespace tpb::testing
