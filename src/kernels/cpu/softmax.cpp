#include "kernels/cpu/softmax.h"

#include <cmath>

#include "kernels/cpu/reduce.h"

namespace tpb::cpu {

void softmax_forward(float* out, const float* inp, int64_t n_rows, int64_t c) {
  if (c == 0) return;
  for (int64_t n = 0; n < n_rows; ++n) {
    const float* x = inp + n * c;
    float* y = out + n * c;
    const float mx = detail::max(x, c);
    for (int64_t i = 0; i < c; ++i) y[i] = std::exp(x[i] - mx);
    const float inv = 1.0f / detail::sum(y, c);
    for (int64_t i = 0; i < c; ++i) y[i] *= inv;
  }
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t n_rows,
                      int64_t c) {
  for (int64_t n = 0; n < n_rows; ++n) {
    const float* dy = dout + n * c;
    const float* y = out + n * c;
    float* dx = dinp + n * c;
    const float s = detail::dot(dy, y, c);
    for (int64_t i = 0; i < c; ++i) dx[i] += y[i] * (dy[i] - s);
  }
}

}  // namespace tpb::cpu
