// The learning-rate schedule (train/optimizer.h) against its closed form: linear warm-up
// over lr_warmup steps (step is 1-based: step k of the warm-up gets lr * k / lr_warmup),
// then a cosine from lr down to lr * min_lr_ratio at total_steps, constant after.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "train/optimizer.h"

namespace tpb {
namespace {

// The documented schedule, in double.
double closed_form(double lr, double min_ratio, int64_t warmup, int64_t total, int64_t step) {
  if (warmup > 0 && step <= warmup) return lr * static_cast<double>(step) / static_cast<double>(warmup);
  const double span = static_cast<double>(std::max<int64_t>(1, total - warmup));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  const double min_lr = lr * min_ratio;
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

OptimizerConfig config(float lr, float min_ratio, int64_t warmup, int64_t total) {
  OptimizerConfig c;
  c.lr = lr;
  c.min_lr_ratio = min_ratio;
  c.lr_warmup = warmup;
  c.total_steps = total;
  return c;
}

// fp32 result against a double closed form: a few ulps of the value.
void expect_lr(const OptimizerConfig& c, int64_t step, double want) {
  EXPECT_NEAR(learning_rate(c, step), want, 1e-6 * std::abs(want) + 1e-12) << "step " << step;
}

TEST(LearningRate, WarmupIsLinearFromLrOverWarmupToLr) {
  const auto c = config(1e-3f, 0.1f, 10, 110);
  expect_lr(c, 1, 1e-4);  // the first step already trains: lr * 1 / warmup, not 0
  expect_lr(c, 2, 2e-4);
  expect_lr(c, 5, 5e-4);
  expect_lr(c, 9, 9e-4);
  expect_lr(c, 10, 1e-3);  // the last warm-up step reaches the peak
}

TEST(LearningRate, CosineFromPeakToFloorAtTotalSteps) {
  const auto c = config(1e-3f, 0.1f, 10, 110);  // 100 decay steps
  const double lr = 1e-3, min_lr = 1e-4;
  expect_lr(c, 11, min_lr + (lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi / 100)));
  expect_lr(c, 35, min_lr + (lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi / 4)));
  expect_lr(c, 60, (lr + min_lr) / 2);  // half-way: the mean of peak and floor
  expect_lr(c, 85, min_lr + (lr - min_lr) * 0.5 * (1 - std::cos(std::numbers::pi / 4)));
  expect_lr(c, 109, min_lr + (lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi * 0.99)));
  expect_lr(c, 110, min_lr);  // the floor exactly at total_steps
}

TEST(LearningRate, ConstantFloorAfterTotalSteps) {
  const auto c = config(1e-3f, 0.1f, 10, 110);
  for (int64_t step : {111, 200, 1000000}) expect_lr(c, step, 1e-4);
}

TEST(LearningRate, MatchesTheClosedFormAtEveryStep) {
  for (const auto& c : {config(3e-3f, 0.1f, 0, 50), config(3e-3f, 0.1f, 7, 50), config(1.0f, 0.0f, 3, 4),
                        config(6e-4f, 0.5f, 100, 1000)}) {
    SCOPED_TRACE("warmup " + std::to_string(c.lr_warmup) + ", total " + std::to_string(c.total_steps));
    for (int64_t step = 1; step <= c.total_steps + 5; ++step)
      expect_lr(c, step, closed_form(c.lr, c.min_lr_ratio, c.lr_warmup, c.total_steps, step));
  }
}

TEST(LearningRate, RisesThroughWarmupFallsThroughDecay) {
  const auto c = config(3e-3f, 0.1f, 20, 200);
  for (int64_t step = 2; step <= 20; ++step)
    EXPECT_GT(learning_rate(c, step), learning_rate(c, step - 1)) << "step " << step;
  for (int64_t step = 21; step <= 200; ++step)
    EXPECT_LT(learning_rate(c, step), learning_rate(c, step - 1)) << "step " << step;
  for (int64_t step = 1; step <= 300; ++step) EXPECT_LE(learning_rate(c, step), c.lr) << "step " << step;
  // Past the warm-up, never below the floor.
  for (int64_t step = 21; step <= 300; ++step)
    EXPECT_GE(learning_rate(c, step), c.lr * c.min_lr_ratio * (1 - 1e-6f)) << "step " << step;
}

TEST(LearningRate, EdgeConfigurations) {
  // No warm-up: the cosine starts at step 0, so step 1 is one decay step in.
  const auto none = config(2e-3f, 0.1f, 0, 10);
  expect_lr(none, 1, 2e-4 + (2e-3 - 2e-4) * 0.5 * (1 + std::cos(std::numbers::pi / 10)));
  expect_lr(none, 10, 2e-4);
  // Warm-up as long as the run (or longer): linear to the peak, then straight to the floor.
  const auto all_warmup = config(2e-3f, 0.1f, 10, 10);
  expect_lr(all_warmup, 10, 2e-3);
  expect_lr(all_warmup, 11, 2e-4);
  // min_lr_ratio 1: constant after warm-up; 0: decays to zero.
  const auto flat = config(2e-3f, 1.0f, 4, 40);
  for (int64_t step : {4, 5, 20, 40, 41}) expect_lr(flat, step, 2e-3);
  const auto to_zero = config(2e-3f, 0.0f, 0, 40);
  EXPECT_EQ(learning_rate(to_zero, 40), 0.0f);
  EXPECT_EQ(learning_rate(to_zero, 100), 0.0f);
}

}  // namespace
}  // namespace tpb
