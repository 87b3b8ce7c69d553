#include "kernels/cpu/loss.h"

#include <cmath>

#include "base/error.h"
#include "kernels/cpu/reduce.h"

namespace tpb::cpu {

namespace {

// log sum_j exp(x[j]), max-subtracted; the sum of exponentials in double because V may be
// large (every term is in (0, 1], so a float sum would lose the small ones).
float logsumexp(const float* x, int64_t v) {
  const float mx = detail::max(x, v);
  double sum = 0.0;
  for (int64_t j = 0; j < v; ++j) sum += std::exp(x[j] - mx);
  return mx + static_cast<float>(std::log(sum));
}

void check_target(int32_t target, int64_t n, int64_t v) {
  TPB_CHECK(target >= 0 && target < v, "target {} of row {} is outside the vocabulary [0, {})",
            target, n, v);
}

}  // namespace

void cross_entropy_forward(float* losses, const float* logits, const int32_t* targets,
                           int64_t n_rows, int64_t v) {
  for (int64_t n = 0; n < n_rows; ++n) {
    check_target(targets[n], n, v);
    const float* x = logits + n * v;
    losses[n] = logsumexp(x, v) - x[targets[n]];
  }
}

void cross_entropy_backward(float* dlogits, const float* dlosses, const float* logits,
                            const int32_t* targets, int64_t n_rows, int64_t v) {
  for (int64_t n = 0; n < n_rows; ++n) {
    check_target(targets[n], n, v);
    const float* x = logits + n * v;
    float* dx = dlogits + n * v;
    const float lse = logsumexp(x, v);
    const float g = dlosses[n];
    for (int64_t j = 0; j < v; ++j) dx[j] += g * std::exp(x[j] - lse);
    dx[targets[n]] -= g;
  }
}

double mse_forward(const float* pred, const float* target, int64_t n) {
  TPB_CHECK(n > 0, "mse of {} elements", n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    sum += d * d;
  }
  return sum / static_cast<double>(n);
}

void mse_backward(float* dpred, const float* pred, const float* target, int64_t n,
                  float dloss) {
  TPB_CHECK(n > 0, "mse of {} elements", n);
  const float coef = 2.0f * dloss / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) dpred[i] += coef * (pred[i] - target[i]);
}

}  // namespace tpb::cpu
