#include "kernels/cpu/loss.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

TEST(CrossEntropy, ForwardMatchesReference) {
  const int64_t n = 6, v = 37;
  const auto logits = uniform(n * v, 1, -4.0f, 4.0f);
  const auto targets = uniform_ints(n, 2, v);
  std::vector<float> losses(n);
  cpu::cross_entropy_forward(losses.data(), logits.data(), targets.data(), n, v);
  EXPECT_TRUE(all_close(losses, ref::cross_entropy(logits, targets, n, v), 1e-5, 1e-6));
}

TEST(CrossEntropy, ForwardIsStableForHugeLogits) {
  const int64_t n = 2, v = 4;
  const std::vector<float> logits = {1000.0f, 1001.0f, 999.0f, 1000.5f,
                                     -1000.0f, -1002.0f, -999.5f, -1001.0f};
  const std::vector<int32_t> targets = {2, 0};
  std::vector<float> losses(n);
  cpu::cross_entropy_forward(losses.data(), logits.data(), targets.data(), n, v);
  EXPECT_TRUE(all_close(losses, ref::cross_entropy(logits, targets, n, v), 1e-4, 1e-5));
}

TEST(CrossEntropy, UniformLogitsGiveLogV) {
  const int64_t v = 50;
  const std::vector<float> logits(v, 0.3f);
  const std::vector<int32_t> targets = {17};
  float loss = 0;
  cpu::cross_entropy_forward(&loss, logits.data(), targets.data(), 1, v);
  EXPECT_NEAR(loss, std::log(50.0), 1e-5);
}

TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  const int64_t n = 4, v = 9;
  auto logits = uniform(n * v, 3, -2.0f, 2.0f);
  const auto targets = uniform_ints(n, 4, v);
  const auto dlosses = uniform(n, 5, 0.5f, 2.0f);
  std::vector<float> losses(n);
  auto loss = [&] {
    cpu::cross_entropy_forward(losses.data(), logits.data(), targets.data(), n, v);
    return dot(losses, dlosses);
  };
  auto dlogits = grad_buffer(logits.size());
  cpu::cross_entropy_backward(dlogits.data(), dlosses.data(), logits.data(), targets.data(), n, v);
  EXPECT_TRUE(grad_close(dlogits, numeric_grad(loss, logits)));
}

TEST(CrossEntropy, TargetOutsideVocabularyThrows) {
  const std::vector<float> logits(8, 0.0f);
  std::vector<float> losses(2), dlogits(8), dlosses(2, 1.0f);
  for (const std::vector<int32_t>& targets : {std::vector<int32_t>{1, 4}, {-1, 0}}) {
    EXPECT_THROW(cpu::cross_entropy_forward(losses.data(), logits.data(), targets.data(), 2, 4),
                 Error);
    EXPECT_THROW(cpu::cross_entropy_backward(dlogits.data(), dlosses.data(), logits.data(),
                                             targets.data(), 2, 4),
                 Error);
  }
}

TEST(Mse, ForwardIsMeanSquaredError) {
  const auto pred = uniform(21, 6), target = uniform(21, 7);
  double expected = 0;
  for (size_t i = 0; i < 21; ++i) expected += (double(pred[i]) - target[i]) * (double(pred[i]) - target[i]);
  expected /= 21;
  EXPECT_NEAR(cpu::mse_forward(pred.data(), target.data(), 21), expected, 1e-12);
  EXPECT_THROW(cpu::mse_forward(pred.data(), target.data(), 0), Error);
}

TEST(Mse, BackwardMatchesFiniteDifferences) {
  const int64_t n = 11;
  auto pred = uniform(n, 8, -3.0f, 3.0f);
  const auto target = uniform(n, 9, -3.0f, 3.0f);
  const float dloss = 1.7f;
  auto loss = [&] { return dloss * cpu::mse_forward(pred.data(), target.data(), n); };
  auto dpred = grad_buffer(n);
  cpu::mse_backward(dpred.data(), pred.data(), target.data(), n, dloss);
  EXPECT_TRUE(grad_close(dpred, numeric_grad(loss, pred)));
}

}  // namespace
}  // namespace tpb::testing
