// Properties every source must have, checked for each kind: determinism, the DP row
// mapping (ranks' slices concatenate to the global batch), shifted targets, tokens < vocab.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"
#include "data/token_source.h"
#include "data_testing.h"
#include "tensor/tensor.h"

namespace tpb {
namespace {

using testing::Batch;
using testing::fetch;

constexpr int64_t kModelVocab = 300;
constexpr int64_t kSeq = 16;

class EverySource : public ::testing::TestWithParam<std::string> {
 protected:
  // A fresh source of the parameter's kind; two calls give independent instances.
  std::unique_ptr<TokenSource> open() {
    const std::string kind = GetParam();
    DataSpec spec;
    spec.seed = 7;
    if (kind == "synthetic") return open_token_source(spec, kModelVocab, kSeq);
    if (kind == "text") {
      spec.kind = "text";
      spec.path = dir_.file("text.txt");
      std::string text;
      for (int i = 0; i < 40; ++i) text += "the quick brown fox jumps over the lazy dog; ";
      testing::write_bytes(spec.path, text.data(), text.size());
      return open_token_source(spec, kModelVocab, kSeq);
    }
    spec.kind = "tokens";
    spec.path = dir_.file(kind + ".bin");
    const auto tokens = testing::ramp(5000, 293);
    if (kind == "llmc16") testing::write_llmc(spec.path, tokens, 1);
    if (kind == "llmc32") testing::write_llmc(spec.path, tokens, 2);
    if (kind == "raw16") testing::write_raw(spec.path, tokens, 2);
    return open_token_source(spec, kModelVocab, kSeq);
  }
  testing::TempDir dir_;
};

TEST_P(EverySource, SameStepAndRowGiveTheSameData) {
  auto a = open();
  auto b = open();
  for (int64_t step : {0, 1, 1000}) {
    const Batch x = fetch(*a, step, 3, 5, kSeq);
    const Batch y = fetch(*b, step, 3, 5, kSeq);
    EXPECT_EQ(x.tokens, y.tokens) << "step " << step;
    EXPECT_EQ(x.targets, y.targets) << "step " << step;
    // One row fetched alone is that row of the larger request.
    const Batch row = fetch(*a, step, 5, 1, kSeq);
    EXPECT_TRUE(std::equal(row.tokens.begin(), row.tokens.end(), x.tokens.begin() + 2 * kSeq));
  }
  EXPECT_NE(fetch(*a, 0, 0, 4, kSeq).tokens, fetch(*a, 1, 0, 4, kSeq).tokens);
}

TEST_P(EverySource, RanksSlicesConcatenateToTheGlobalBatch) {
  auto source = open();
  const int64_t global_rows = 8;
  for (int64_t step : {0, 5}) {
    const Batch global = fetch(*source, step, 0, global_rows, kSeq);
    for (int64_t dp_size : {1, 2, 4}) {
      const int64_t rows = global_rows / dp_size;  // per-rank batch
      Batch joined;
      for (int64_t dp_rank = 0; dp_rank < dp_size; ++dp_rank) {
        const Batch part = fetch(*source, step, dp_rank * rows, rows, kSeq);
        joined.tokens.insert(joined.tokens.end(), part.tokens.begin(), part.tokens.end());
        joined.targets.insert(joined.targets.end(), part.targets.begin(), part.targets.end());
      }
      EXPECT_EQ(joined.tokens, global.tokens) << "dp " << dp_size << " step " << step;
      EXPECT_EQ(joined.targets, global.targets) << "dp " << dp_size << " step " << step;
    }
  }
}

TEST_P(EverySource, TargetsAreTokensShiftedByOneAndInVocab) {
  auto source = open();
  EXPECT_GE(source->vocab_size(), 2);
  EXPECT_LE(source->vocab_size(), kModelVocab);
  EXPECT_FALSE(source->describe().empty());
  const int64_t rows = 6;
  for (int64_t step = 0; step < 20; ++step) {
    const Batch b = fetch(*source, step, 0, rows, kSeq);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t t = 0; t + 1 < kSeq; ++t)
        ASSERT_EQ(b.targets[r * kSeq + t], b.tokens[r * kSeq + t + 1]) << "row " << r;
    }
    for (size_t i = 0; i < b.tokens.size(); ++i) {
      ASSERT_TRUE(b.tokens[i] >= 0 && b.tokens[i] < source->vocab_size()) << b.tokens[i];
      ASSERT_TRUE(b.targets[i] >= 0 && b.targets[i] < source->vocab_size()) << b.targets[i];
    }
  }
}

TEST_P(EverySource, TensorOverloadMatchesRawPointers) {
  auto source = open();
  TrackingAllocator alloc;
  Tensor tokens = Tensor::empty({3, kSeq}, MemCategory::activations, DType::i32, alloc);
  Tensor targets = Tensor::empty({3, kSeq}, MemCategory::activations, DType::i32, alloc);
  get_batch(*source, 2, 4, tokens, targets);
  const Batch b = fetch(*source, 2, 4, 3, kSeq);
  EXPECT_TRUE(std::equal(b.tokens.begin(), b.tokens.end(), tokens.i32()));
  EXPECT_TRUE(std::equal(b.targets.begin(), b.targets.end(), targets.i32()));
  Tensor wrong = Tensor::empty({3, kSeq}, MemCategory::activations, DType::f32, alloc);
  EXPECT_THROW(get_batch(*source, 2, 4, tokens, wrong), Error);
}

INSTANTIATE_TEST_SUITE_P(Kinds, EverySource,
                         ::testing::Values("synthetic", "llmc16", "llmc32", "raw16", "text"));

}  // namespace
}  // namespace tpb
