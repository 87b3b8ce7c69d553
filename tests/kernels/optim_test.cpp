#include "kernels/cpu/optim.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "testing/random.h"

namespace tpb::testing {
namespace {

constexpr int64_t kN = 37;

TEST(Sgd, ThreeStepsMatchReference) {
  auto param = uniform(kN, 1);
  std::vector<double> expected(param.begin(), param.end());
  for (int step = 1; step <= 3; ++step) {
    const auto grad = uniform(kN, 10 + step);
    cpu::sgd_step(param.data(), grad.data(), kN, 0.1f, 0.01f);
    ref::sgd_step(expected, grad, 0.1, 0.01);
  }
  EXPECT_TRUE(all_close(param, expected, 1e-5, 1e-6));
}

TEST(AdamW, ThreeStepsMatchPytorchFormula) {
  const cpu::AdamWConfig config{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                .weight_decay = 0.1f};
  auto param = uniform(kN, 2);
  std::vector<float> m(kN, 0.0f), v(kN, 0.0f);
  std::vector<double> p_ref(param.begin(), param.end()), m_ref(kN, 0.0), v_ref(kN, 0.0);
  for (int step = 1; step <= 3; ++step) {
    const auto grad = uniform(kN, 20 + step);
    cpu::adamw_step(param.data(), m.data(), v.data(), grad.data(), kN, config, step);
    ref::adamw_step(p_ref, m_ref, v_ref, grad, config.lr, config.beta1, config.beta2, config.eps,
                    config.weight_decay, step);
    EXPECT_TRUE(all_close(param, p_ref, 1e-5, 1e-6)) << "param after step " << step;
    EXPECT_TRUE(all_close(m, m_ref, 1e-5, 1e-7)) << "m after step " << step;
    EXPECT_TRUE(all_close(v, v_ref, 1e-5, 1e-9)) << "v after step " << step;
  }
}

TEST(AdamW, FirstStepMovesEachParamByLrTimesSignOfGrad) {
  // At step 1, m_hat = g and v_hat = g^2: the update is lr * g / (|g| + eps) ~ lr * sign(g),
  // after the decay param *= 1 - lr * wd.
  const cpu::AdamWConfig config{.lr = 0.05f, .weight_decay = 0.2f};
  auto param = uniform(kN, 3);
  const auto before = param;
  const auto grad = uniform(kN, 4);
  std::vector<float> m(kN, 0.0f), v(kN, 0.0f);
  cpu::adamw_step(param.data(), m.data(), v.data(), grad.data(), kN, config, 1);
  for (int64_t i = 0; i < kN; ++i)
    EXPECT_NEAR(param[i], before[i] * (1 - 0.05 * 0.2) - 0.05 * (grad[i] > 0 ? 1 : -1), 1e-5);
}

TEST(AdamW, StepZeroThrows) {
  std::vector<float> x(4, 0.0f);
  EXPECT_THROW(cpu::adamw_step(x.data(), x.data(), x.data(), x.data(), 4, {}, 0), Error);
}

}  // namespace
}  // namespace tpb::testing
