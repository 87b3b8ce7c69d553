#include "kernels/cpu/rmsnorm.h"

#include <cmath>

#include "kernels/cpu/reduce.h"

namespace tpb::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight,
                     int64_t n_rows, int64_t c, float eps) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const float* x = inp + n * c;
    float* y = out + n * c;
    const float ms = c > 0 ? detail::dot(x, x, c) / static_cast<float>(c) : 0.0f;
    const float r = 1.0f / std::sqrt(ms + eps);
    for (int64_t i = 0; i < c; ++i) y[i] = x[i] * r * weight[i];
    rstd[n] = r;
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t n_rows, int64_t c) {
  if (c == 0) return;
  for (int64_t n = 0; n < n_rows; ++n) {
    const float* x = inp + n * c;
    const float* dy = dout + n * c;
    float* dx = dinp + n * c;
    const float r = rstd[n];
    // sum_c dy * w * x: the part of the gradient that flows through rstd.
    float dyw_x = 0.0f;
    {
      float acc[detail::kLanes] = {};
      int64_t i = 0;
      for (; i + detail::kLanes <= c; i += detail::kLanes)
        for (int64_t l = 0; l < detail::kLanes; ++l)
          acc[l] += dy[i + l] * weight[i + l] * x[i + l];
      for (; i < c; ++i) dyw_x += dy[i] * weight[i] * x[i];
      for (int64_t l = 0; l < detail::kLanes; ++l) dyw_x += acc[l];
    }
    const float coef = r * r * r * dyw_x / static_cast<float>(c);
    for (int64_t i = 0; i < c; ++i) {
      dx[i] += r * dy[i] * weight[i] - coef * x[i];
      dweight[i] += dy[i] * x[i] * r;
    }
  }
}

}  // namespace tpb::cpu
