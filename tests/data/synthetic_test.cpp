// The synthetic source has the structure it promises: a seeded successor permutation that
// ~90% of transitions follow, so a bigram model gets close to the documented entropy floor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "data/synthetic_source.h"
#include "data_testing.h"

namespace tpb {
namespace {

using testing::Batch;
using testing::fetch;

TEST(Synthetic, SuccessorIsASeededPermutation) {
  const int64_t v = 97;
  SyntheticTokenSource a(v, 1), b(v, 1), c(v, 2);
  std::vector<int32_t> image;
  int same_as_other_seed = 0;
  for (int32_t t = 0; t < v; ++t) {
    image.push_back(a.successor(t));
    EXPECT_EQ(a.successor(t), b.successor(t));
    same_as_other_seed += a.successor(t) == c.successor(t);
  }
  std::sort(image.begin(), image.end());
  std::vector<int32_t> all(v);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(image, all);
  EXPECT_LT(same_as_other_seed, 10);  // another seed, another map
}

TEST(Synthetic, AboutNinetyPercentOfTransitionsFollowTheSuccessor) {
  SyntheticTokenSource source(512, 3);
  int64_t followed = 0, total = 0;
  for (int64_t step = 0; step < 20; ++step) {
    const Batch b = fetch(source, step, 0, 16, 128);
    for (size_t i = 0; i < b.tokens.size(); ++i) {
      followed += b.targets[i] == source.successor(b.tokens[i]);
      ++total;
    }
  }
  const double rate = double(followed) / double(total);
  const double expected = 1 - SyntheticTokenSource::kJumpProbability * (1 - 1.0 / 512);
  EXPECT_NEAR(rate, expected, 0.01) << followed << " of " << total;
}

TEST(Synthetic, EntropyFloorFormula) {
  EXPECT_NEAR(SyntheticTokenSource::synthetic_entropy_floor(512, 0.1), 0.947, 0.001);
  EXPECT_NEAR(SyntheticTokenSource::synthetic_entropy_floor(64, 0.0), 0.0, 1e-12);
  // All jumps: uniform, ln V.
  EXPECT_NEAR(SyntheticTokenSource::synthetic_entropy_floor(64, 1.0), std::log(64.0), 1e-12);
}

// A bigram model fitted on a few batches predicts held-out steps far better than ln V, and
// close to the floor: the structure is learnable from little data.
TEST(Synthetic, BigramModelApproachesTheEntropyFloor) {
  const int64_t v = 64, rows = 32, seq = 64;
  SyntheticTokenSource source(v, 11);
  std::vector<double> counts(v * v, 0.1);  // add-0.1 smoothing
  for (int64_t step = 0; step < 8; ++step) {
    const Batch b = fetch(source, step, 0, rows, seq);
    for (size_t i = 0; i < b.tokens.size(); ++i) counts[b.tokens[i] * v + b.targets[i]] += 1;
  }
  double loss = 0;
  int64_t n = 0;
  for (int64_t step = 100; step < 104; ++step) {
    const Batch b = fetch(source, step, 0, rows, seq);
    for (size_t i = 0; i < b.tokens.size(); ++i) {
      const double* row = &counts[b.tokens[i] * v];
      const double total = std::accumulate(row, row + v, 0.0);
      loss -= std::log(row[b.targets[i]] / total);
      ++n;
    }
  }
  loss /= double(n);
  const double floor = source.entropy_floor();
  EXPECT_LT(loss, 0.25 * std::log(double(v))) << "ln V " << std::log(double(v));
  EXPECT_LT(loss, floor + 0.2) << "floor " << floor;
  EXPECT_GT(loss, floor - 0.05) << "floor " << floor;  // nothing beats the floor by much
}

TEST(Synthetic, DescribeNamesVocabSeedAndFloor) {
  SyntheticTokenSource source(512, 0);
  const std::string d = source.describe();
  EXPECT_NE(d.find("vocab 512"), std::string::npos) << d;
  EXPECT_NE(d.find("seed 0"), std::string::npos) << d;
  EXPECT_NE(d.find("0.947"), std::string::npos) << d;
}

}  // namespace
}  // namespace tpb
