// Order statistics (report/stats.h) against values computed by hand: the median is the
// middle value (the mean of the two middle ones for even counts), p95 interpolates
// linearly between the closest ranks as numpy.percentile does by default.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "report/stats.h"

namespace tpb {
namespace {

TEST(Stats, EmptyIsAllZeros) {
  const Stats s = summarize({});
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.min, 0.0);
  EXPECT_EQ(s.median, 0.0);
  EXPECT_EQ(s.p95, 0.0);
  EXPECT_EQ(s.max, 0.0);
  EXPECT_EQ(s.mean, 0.0);
}

TEST(Stats, OneValueIsEveryStatistic) {
  const Stats s = summarize({4.25});
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.min, 4.25);
  EXPECT_EQ(s.median, 4.25);
  EXPECT_EQ(s.p95, 4.25);
  EXPECT_EQ(s.max, 4.25);
  EXPECT_EQ(s.mean, 4.25);
}

TEST(Stats, OddCountUnsorted) {
  const Stats s = summarize({3.0, 1.0, 2.0});
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 3.0);
  EXPECT_EQ(s.median, 2.0);
  EXPECT_DOUBLE_EQ(s.p95, 2.9);  // rank 0.95 * 2 = 1.9: 2 + 0.9 * (3 - 2)
  EXPECT_DOUBLE_EQ(s.mean, 2.0);
}

TEST(Stats, EvenCountMedianIsTheMeanOfTheMiddleTwo) {
  const Stats s = summarize({4.0, 1.0, 3.0, 2.0});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.p95, 3.85);  // rank 0.95 * 3 = 2.85: 3 + 0.85 * (4 - 3)
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 4.0);
}

TEST(Stats, MatchesNumpyPercentileOnOneToTwentyAndOneToHundred) {
  std::vector<double> v(20);
  std::iota(v.begin(), v.end(), 1.0);
  std::shuffle(v.begin(), v.end(), std::mt19937(7));  // order does not matter
  Stats s = summarize(v);
  EXPECT_DOUBLE_EQ(s.median, 10.5);  // numpy.percentile(range(1, 21), 50)
  EXPECT_DOUBLE_EQ(s.p95, 19.05);    // numpy.percentile(range(1, 21), 95)
  EXPECT_DOUBLE_EQ(s.mean, 10.5);
  EXPECT_EQ(s.count, 20u);
  v.resize(100);
  std::iota(v.begin(), v.end(), 1.0);
  std::reverse(v.begin(), v.end());
  s = summarize(v);
  EXPECT_DOUBLE_EQ(s.median, 50.5);
  EXPECT_DOUBLE_EQ(s.p95, 95.05);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 100.0);
}

TEST(Stats, OneSlowIterationShowsInMaxAndMeanNotInTheMedian) {
  const Stats s = summarize({1.0, 1.0, 1.0, 1.0, 100.0});
  EXPECT_EQ(s.median, 1.0);
  EXPECT_DOUBLE_EQ(s.p95, 80.2);  // rank 3.8: 1 + 0.8 * 99
  EXPECT_EQ(s.max, 100.0);
  EXPECT_DOUBLE_EQ(s.mean, 20.8);
}

TEST(Stats, NegativeAndEqualValues) {
  const Stats s = summarize({-2.0, 5.0, -2.0, 5.0});
  EXPECT_EQ(s.min, -2.0);
  EXPECT_EQ(s.max, 5.0);
  EXPECT_DOUBLE_EQ(s.median, 1.5);
  EXPECT_DOUBLE_EQ(s.p95, 5.0);
  EXPECT_DOUBLE_EQ(s.mean, 1.5);
}

}  // namespace
}  // namespace tpb
