#include "kernels/reference.h"

#include <cmath>
#include <complex>
#include <limits>

namespace tpb::testing::ref {

Doubles matmul(Floats a, Floats b, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b) {
  Doubles c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = trans_a ? a[p * m + i] : a[i * k + p];
        const double bv = trans_b ? b[j * k + p] : b[p * n + j];
        s += av * bv;
      }
      c[i * n + j] = s;
    }
  return c;
}

Doubles silu(Floats x) {
  Doubles y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / (1.0 + std::exp(-static_cast<double>(x[i])));
  return y;
}

Doubles swiglu(Floats gate, Floats up) {
  Doubles y = silu(gate);
  for (size_t i = 0; i < y.size(); ++i) y[i] *= up[i];
  return y;
}

Doubles rmsnorm(Floats x, Floats weight, int64_t n_rows, int64_t c, float eps, Doubles* rstd) {
  Doubles y(x.size());
  if (rstd) rstd->assign(static_cast<size_t>(n_rows), 0.0);
  for (int64_t n = 0; n < n_rows; ++n) {
    double ss = 0;
    for (int64_t i = 0; i < c; ++i) ss += static_cast<double>(x[n * c + i]) * x[n * c + i];
    const double rms = std::sqrt(ss / static_cast<double>(c) + eps);
    for (int64_t i = 0; i < c; ++i) y[n * c + i] = x[n * c + i] / rms * weight[i];
    if (rstd) (*rstd)[n] = 1.0 / rms;
  }
  return y;
}

Doubles softmax(Floats x, int64_t n_rows, int64_t c) {
  Doubles y(x.size());
  for (int64_t n = 0; n < n_rows; ++n) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < c; ++i) mx = std::max(mx, static_cast<double>(x[n * c + i]));
    double z = 0;
    for (int64_t i = 0; i < c; ++i) z += std::exp(x[n * c + i] - mx);
    for (int64_t i = 0; i < c; ++i) y[n * c + i] = std::exp(x[n * c + i] - mx) / z;
  }
  return y;
}

Doubles rope(Floats x, int64_t B, int64_t T, int64_t H, int64_t D, double theta,
             int64_t pos_offset) {
  Doubles y(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < D / 2; ++i) {
          const int64_t at = ((b * T + t) * H + h) * D + 2 * i;
          const double freq = 1.0 / std::pow(theta, static_cast<double>(2 * i) / D);
          const std::complex<double> z(x[at], x[at + 1]);
          const std::complex<double> r = z * std::polar(1.0, (pos_offset + t) * freq);
          y[at] = r.real();
          y[at + 1] = r.imag();
        }
  return y;
}

Doubles attention(Floats q, Floats k, Floats v, int64_t B, int64_t T, int64_t NH, int64_t NKV,
                  int64_t D, Doubles* lse) {
  Doubles out(q.size(), 0.0);
  if (lse) lse->assign(static_cast<size_t>(B * NH * T), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const int64_t heads_per_kv = NH / NKV;
  std::vector<double> scores(static_cast<size_t>(T * T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t g = h / heads_per_kv;
      // Full (T, T) scores with a causal mask of -inf above the diagonal.
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < T; ++j) {
          double s = 0;
          for (int64_t d = 0; d < D; ++d)
            s += static_cast<double>(q[((b * T + t) * NH + h) * D + d]) *
                 k[((b * T + j) * NKV + g) * D + d];
          scores[t * T + j] = j <= t ? s * scale : -std::numeric_limits<double>::infinity();
        }
      for (int64_t t = 0; t < T; ++t) {
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < T; ++j) mx = std::max(mx, scores[t * T + j]);
        double z = 0;
        for (int64_t j = 0; j < T; ++j) z += std::exp(scores[t * T + j] - mx);
        for (int64_t j = 0; j < T; ++j) {
          const double p = std::exp(scores[t * T + j] - mx) / z;
          for (int64_t d = 0; d < D; ++d)
            out[((b * T + t) * NH + h) * D + d] += p * v[((b * T + j) * NKV + g) * D + d];
        }
        if (lse) (*lse)[(b * NH + h) * T + t] = mx + std::log(z);
      }
    }
  return out;
}

Doubles cross_entropy(Floats logits, Ints targets, int64_t n_rows, int64_t v) {
  Doubles losses(static_cast<size_t>(n_rows));
  for (int64_t n = 0; n < n_rows; ++n) {
    // -log softmax(logits)[target], with the probabilities formed explicitly.
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, static_cast<double>(logits[n * v + j]));
    double z = 0;
    for (int64_t j = 0; j < v; ++j) z += std::exp(logits[n * v + j] - mx);
    const double p = std::exp(logits[n * v + targets[n]] - mx) / z;
    losses[n] = -std::log(p);
  }
  return losses;
}

void sgd_step(Doubles& param, Floats grad, double lr, double weight_decay) {
  for (size_t i = 0; i < param.size(); ++i) param[i] -= lr * (grad[i] + weight_decay * param[i]);
}

// torch.optim.AdamW (amsgrad=False, maximize=False), single-tensor path:
//   param.mul_(1 - lr * weight_decay)
//   exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
//   bias_correction1 = 1 - beta1 ** step; bias_correction2 = 1 - beta2 ** step
//   step_size = lr / bias_correction1
//   denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
//   param.addcdiv_(exp_avg, denom, value=-step_size)
void adamw_step(Doubles& param, Doubles& m, Doubles& v, Floats grad, double lr, double beta1,
                double beta2, double eps, double weight_decay, int step) {
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  const double step_size = lr / bias_correction1;
  for (size_t i = 0; i < param.size(); ++i) {
    param[i] *= 1 - lr * weight_decay;
    m[i] += (grad[i] - m[i]) * (1 - beta1);
    v[i] = v[i] * beta2 + (1 - beta2) * grad[i] * grad[i];
    const double denom = std::sqrt(v[i]) / std::sqrt(bias_correction2) + eps;
    param[i] -= step_size * m[i] / denom;
  }
}

}  // namespace tpb::testing::ref
