#include <gtest/gtest.h>

#include "base/error.h"
#include "linear/linear_report.h"

namespace tpb {
namespace {

TEST(Stats, OrderStatistics) {
  const Stats s = summarize({5, 1, 4, 2, 3});
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.median, 3);
  EXPECT_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.p95, 4.8);  // numpy.percentile([1..5], 95)
  EXPECT_DOUBLE_EQ(summarize({1, 2, 3, 4}).median, 2.5);
  EXPECT_EQ(summarize({}).count, 0u);
}

TEST(LinearReport, StepIsSlowestRankPerIterationPhasesAreOverRanks) {
  LinearConfig c;
  c.batch = 10;
  c.in_features = 100;
  c.out_features = 50;
  LinearRun run;
  // Two ranks, three iterations: rank 1 is slower in iteration 0, rank 0 in iteration 2.
  run.per_rank = {{{1.0, 0.2, 0.5, 0.1}, {2.0, 0.4, 0.5, 0.1}, {5.0, 0.6, 0.5, 0.1}},
                  {{3.0, 0.3, 0.5, 0.1}, {1.0, 0.1, 0.5, 0.1}, {1.0, 0.1, 0.5, 0.1}}};
  const LinearSummary s = summarize_linear_run(run, c);
  EXPECT_DOUBLE_EQ(s.step.median, 3.0);  // slowest per iteration: 3, 2, 5
  EXPECT_DOUBLE_EQ(s.step.max, 5.0);
  EXPECT_DOUBLE_EQ(s.forward.min, 0.1);  // rank medians 0.4 and 0.1
  EXPECT_DOUBLE_EQ(s.forward.max, 0.4);
  EXPECT_DOUBLE_EQ(s.samples_per_s, 10.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.gflop_per_s, 6.0 * 10 * 100 * 50 / 3.0 * 1e-9);
}

TEST(LinearConfig, BadValuesNameThemselves) {
  auto message = [](LinearConfig c, int world) {
    try {
      validate_linear_config(c, world);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  LinearConfig c;
  EXPECT_EQ(message(c, 2), "no error");
  c.in_features = 0;
  EXPECT_EQ(message(c, 2), "--in-features must be > 0, got 0");
  c = {};
  c.batch = -4;
  EXPECT_EQ(message(c, 2), "--batch must be > 0, got -4");
  c = {};
  c.out_features = 3;
  EXPECT_EQ(message(c, 4),
            "--mode row splits --out-features over 4 ranks: 3 features cannot give every rank one");
  c = {};
  c.iters = 0;
  EXPECT_EQ(message(c, 1), "--iters must be > 0, got 0");
}

}  // namespace
}  // namespace tpb
