#include "kernels/cpu/optim.h"

#include <cmath>

#include "base/error.h"

namespace tpb::cpu {

void sgd_step(float* param, const float* grad, int64_t n, float lr, float weight_decay) {
  for (int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + weight_decay * param[i]);
}

void adamw_step(float* param, float* m, float* v, const float* grad, int64_t n,
                const AdamWConfig& config, int64_t step) {
  TPB_CHECK(step >= 1, "adamw step {} (steps count from 1)", step);
  const float beta1 = config.beta1, beta2 = config.beta2;
  // Bias corrections in double: beta^step underflows gracefully, and 1 - beta^step at
  // small steps is where float cancellation would hurt.
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(config.lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.0f - config.lr * config.weight_decay;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * inv_sqrt_bc2 + config.eps;
    param[i] = param[i] * decay - step_size * mi / denom;
  }
}

}  // namespace tpb::cpu
