// Optimizer updates, element-wise over a flat parameter buffer (so one call can update a
// whole bucket or a shard).
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// fp32, no threads of their own. These update param (and the state) in place.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// param -= lr * (grad + weight_decay * param)   (plain SGD with L2-style weight decay)
//   param, grad: (n)
void sgd_step(float* param, const float* grad, int64_t n, float lr, float weight_decay);

struct AdamWConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

// One AdamW step, exactly torch.optim.AdamW's (non-amsgrad) formula:
//   param *= 1 - lr * weight_decay                    (decoupled weight decay, first)
//   m = beta1 m + (1 - beta1) grad;  v = beta2 v + (1 - beta2) grad^2
//   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// step counts from 1 (the first update is step 1); m and v start at zero.
//   param, m, v, grad: (n)
void adamw_step(float* param, float* m, float* v, const float* grad, int64_t n,
                const AdamWConfig& config, int64_t step);

}  // namespace tpb::cpu
