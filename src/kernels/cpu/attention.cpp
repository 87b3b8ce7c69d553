#include "kernels/cpu/attention.h"

#include <cmath>
#include <vector>

#include "base/error.h"
#include "kernels/cpu/reduce.h"

namespace tpb::cpu {

namespace {

void check_sizes(int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  TPB_CHECK(B >= 0 && T >= 0 && NH > 0 && NKV > 0 && D > 0 && NH % NKV == 0,
            "attention sizes B={} T={} NH={} NKV={} D={} (need NH % NKV == 0, D > 0)", B, T, NH,
            NKV, D);
}

// dst (T, D) <- head kvh of src (B, T, NKV, D) for batch b: one head's rows, contiguous.
void gather_head(float* dst, const float* src, int64_t b, int64_t kvh, int64_t T, int64_t NKV,
                 int64_t D) {
  for (int64_t t = 0; t < T; ++t) {
    const float* s = src + ((b * T + t) * NKV + kvh) * D;
    float* d = dst + t * D;
    for (int64_t i = 0; i < D; ++i) d[i] = s[i];
  }
}

// dst (D, T) <- the same head transposed, so a query's scores against every key are a
// sum over d of contiguous rows: no horizontal reductions in the inner loop.
void gather_head_transposed(float* dst, const float* src, int64_t b, int64_t kvh, int64_t T,
                            int64_t NKV, int64_t D) {
  for (int64_t t = 0; t < T; ++t) {
    const float* s = src + ((b * T + t) * NKV + kvh) * D;
    for (int64_t i = 0; i < D; ++i) dst[i * T + t] = s[i];
  }
}

// row[j] = scale * x . head_t[:, j] for j < n; head_t is (D, T).
void scores(float* row, const float* x, const float* head_t, float scale, int64_t n, int64_t T,
            int64_t D) {
  for (int64_t j = 0; j < n; ++j) row[j] = 0.0f;
  for (int64_t i = 0; i < D; ++i) {
    const float xi = scale * x[i];
    const float* h = head_t + i * T;
    for (int64_t j = 0; j < n; ++j) row[j] += xi * h[j];
  }
}

// dst (B, T, NKV, D) head kvh of batch b += src (T, D).
void scatter_add_head(float* dst, const float* src, int64_t b, int64_t kvh, int64_t T,
                      int64_t NKV, int64_t D) {
  for (int64_t t = 0; t < T; ++t) {
    float* d = dst + ((b * T + t) * NKV + kvh) * D;
    const float* s = src + t * D;
    for (int64_t i = 0; i < D; ++i) d[i] += s[i];
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  check_sizes(B, T, NH, NKV, D);
  const int64_t group = NH / NKV;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  std::vector<float> k_head_t(static_cast<size_t>(D * T));  // (D, T)
  std::vector<float> v_head(static_cast<size_t>(T * D));    // (T, D)
  std::vector<float> row(static_cast<size_t>(T));           // (T) scores, then exp
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t kvh = 0; kvh < NKV; ++kvh) {
      gather_head_transposed(k_head_t.data(), k, b, kvh, T, NKV, D);
      gather_head(v_head.data(), v, b, kvh, T, NKV, D);
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t t = 0; t < T; ++t) {
          const float* q_t = q + ((b * T + t) * NH + h) * D;
          float* out_t = out + ((b * T + t) * NH + h) * D;
          // Scores of the causal prefix j <= t, and their max for a stable exp.
          scores(row.data(), q_t, k_head_t.data(), scale, t + 1, T, D);
          const float mx = detail::max(row.data(), t + 1);
          float sum = 0.0f;
          for (int64_t j = 0; j <= t; ++j) {
            const float p = std::exp(row[j] - mx);
            row[j] = p;
            sum += p;
          }
          for (int64_t i = 0; i < D; ++i) out_t[i] = 0.0f;
          for (int64_t j = 0; j <= t; ++j) {
            const float p = row[j];
            const float* v_j = v_head.data() + j * D;
            for (int64_t i = 0; i < D; ++i) out_t[i] += p * v_j[i];
          }
          const float inv = 1.0f / sum;
          for (int64_t i = 0; i < D; ++i) out_t[i] *= inv;
          lse[(b * NH + h) * T + t] = mx + std::log(sum);
        }
      }
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  check_sizes(B, T, NH, NKV, D);
  const int64_t group = NH / NKV;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  const size_t head_size = static_cast<size_t>(T * D);
  std::vector<float> k_head(head_size), k_head_t(head_size);  // (T, D), (D, T)
  std::vector<float> v_head_t(head_size);                     // (D, T)
  std::vector<float> dk_head(head_size), dv_head(head_size);  // (T, D)
  std::vector<float> p_row(static_cast<size_t>(T));           // (T) probabilities
  std::vector<float> ds_row(static_cast<size_t>(T));          // (T) dout . v_j, then ds
  std::vector<float> dq_t(static_cast<size_t>(D));            // (D)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t kvh = 0; kvh < NKV; ++kvh) {
      gather_head(k_head.data(), k, b, kvh, T, NKV, D);
      gather_head_transposed(k_head_t.data(), k, b, kvh, T, NKV, D);
      gather_head_transposed(v_head_t.data(), v, b, kvh, T, NKV, D);
      for (auto& x : dk_head) x = 0.0f;
      for (auto& x : dv_head) x = 0.0f;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t t = 0; t < T; ++t) {
          const int64_t at = ((b * T + t) * NH + h) * D;
          const float* q_t = q + at;
          const float* dout_t = dout + at;
          const float lse_t = lse[(b * NH + h) * T + t];
          const float d_t = detail::dot(dout_t, out + at, D);
          const int64_t n = t + 1;  // the causal prefix
          scores(p_row.data(), q_t, k_head_t.data(), scale, n, T, D);
          for (int64_t j = 0; j < n; ++j) p_row[j] = std::exp(p_row[j] - lse_t);
          scores(ds_row.data(), dout_t, v_head_t.data(), 1.0f, n, T, D);
          for (int64_t j = 0; j < n; ++j) ds_row[j] = p_row[j] * (ds_row[j] - d_t);
          for (int64_t i = 0; i < D; ++i) dq_t[i] = 0.0f;
          for (int64_t j = 0; j < n; ++j) {
            const float p = p_row[j], ds = ds_row[j], ds_scaled = scale * ds;
            const float* k_j = k_head.data() + j * D;
            float* dk_j = dk_head.data() + j * D;
            float* dv_j = dv_head.data() + j * D;
            for (int64_t i = 0; i < D; ++i) {
              dq_t[i] += ds * k_j[i];
              dk_j[i] += ds_scaled * q_t[i];
              dv_j[i] += p * dout_t[i];
            }
          }
          float* dq_row = dq + at;
          for (int64_t i = 0; i < D; ++i) dq_row[i] += scale * dq_t[i];
        }
      }
      scatter_add_head(dk, dk_head.data(), b, kvh, T, NKV, D);
      scatter_add_head(dv, dv_head.data(), b, kvh, T, NKV, D);
    }
  }
}

}  // namespace tpb::cpu
