// Optimizer updates on the GPU (formulas of src/kernels/cpu/optim.h): element-wise over fp32
// master weights and state, grid-stride over int64_t indices. AdamW's bias corrections are
// computed on the host in double, term for term as in cpu/optim.cpp, and passed in.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dtype_dispatch.cuh"

namespace tpb::cuda {
namespace {

constexpr unsigned kThreads = 256;


// param -= lr * (grad + weight_decay * param)
__global__ void sgd_step_kernel(float* param, const float* grad, int64_t n, float lr,
                                float weight_decay) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    param[i] -= lr * (grad[i] + weight_decay * param[i]);
}

// m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
// param = param * decay - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
__global__ void adamw_step_kernel(float* param, float* m, float* v, const float* grad,
                                  int64_t n, float beta1, float beta2, float eps,
                                  float step_size, float inv_sqrt_bc2, float decay) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float g = grad[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;  // IEEE sqrt, as std::sqrt
    param[i] = param[i] * decay - step_size * mi / denom;
  }
}

}  // namespace

void sgd_step(float* param, const float* grad, int64_t n, float lr, float weight_decay) {
  if (n <= 0) return;
  sgd_step_kernel<<<blocks_for(n, kThreads), kThreads, 0, compute_stream()>>>(param, grad, n, lr,
                                                                             weight_decay);
  check_launch("sgd_step");
}

void adamw_step(float* param, float* m, float* v, const float* grad, int64_t n,
                const cpu::AdamWConfig& config, int64_t step) {
  if (step < 1) check(cudaErrorInvalidValue, "adamw_step: step must be >= 1 (steps count from 1)");
  if (n <= 0) return;
  // Exactly cpu::adamw_step's host-side constants.
  const double bc1 = 1.0 - std::pow(static_cast<double>(config.beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(config.beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(config.lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.0f - config.lr * config.weight_decay;
  adamw_step_kernel<<<blocks_for(n, kThreads), kThreads, 0, compute_stream()>>>(
      param, m, v, grad, n, config.beta1, config.beta2, config.eps, step_size, inv_sqrt_bc2,
      decay);
  check_launch("adamw_step");
}

}  // namespace tpb::cuda
