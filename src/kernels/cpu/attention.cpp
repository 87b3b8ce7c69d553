#include "kernels/cpu/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "kernels/cpu/fast_exp.h"

namespace tpb::cpu {

// Blocked over query rows: for each (batch, head) and block of kBlock query rows, the
// scores against the keys the block may see (causal: keys 0 .. last row) are one GEMM, the
// softmax is done in place, and the output is a second GEMM. The scores of one block,
// kBlock x T floats, are the only (T-sized) scratch: the (T, T) matrix is never stored, and
// backward recomputes each block's probabilities from the saved log-sum-exp. Heads are read
// in place through the GEMMs' leading dimensions (row stride NH * D or NKV * D): no copies.
namespace {

constexpr int64_t kBlock = 64;

int ld(int64_t v) { return static_cast<int>(v); }

void check_sizes(int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  TPB_CHECK(B >= 0 && T >= 0 && NH > 0 && NKV > 0 && D > 0, "attention: B {} T {} NH {} NKV {} D {}", B, T, NH,
            NKV, D);
  TPB_CHECK(NH % NKV == 0, "attention: NH {} is not a multiple of NKV {}", NH, NKV);
  TPB_CHECK(T * NH * D < (int64_t{1} << 31), "attention: T * NH * D = {} too large for BLAS", T * NH * D);
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  check_sizes(B, T, NH, NKV, D);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t group = NH / NKV, qs = NH * D, ks = NKV * D;
  std::vector<float> s(static_cast<size_t>(kBlock * T));  // (rows, keys) of one block
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t kvh = h / group;
      const float* kb = k + b * T * ks + kvh * D;
      const float* vb = v + b * T * ks + kvh * D;
      for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
        const int64_t rows = std::min(kBlock, T - t0), nk = t0 + rows;
        const float* qb = q + (b * T + t0) * qs + h * D;
        // S = scale Q K^T                                              (rows, nk)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ld(rows), ld(nk), ld(D), scale, qb, ld(qs), kb,
                    ld(ks), 0.0f, s.data(), ld(nk));
        for (int64_t i = 0; i < rows; ++i) {
          float* si = s.data() + i * nk;
          const int64_t valid = t0 + i + 1;  // keys 0 .. t0 + i
          float m = -INFINITY;
          for (int64_t j = 0; j < valid; ++j) m = std::max(m, si[j]);
          for (int64_t j = 0; j < valid; ++j) si[j] = fast_exp(si[j] - m);
          double sum = 0;
          for (int64_t j = 0; j < valid; ++j) sum += si[j];
          const float inv = static_cast<float>(1.0 / sum);
          for (int64_t j = 0; j < valid; ++j) si[j] *= inv;
          std::fill(si + valid, si + nk, 0.0f);
          lse[(b * NH + h) * T + t0 + i] = m + static_cast<float>(std::log(sum));
        }
        // O = P V                                                      (rows, D)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ld(rows), ld(D), ld(nk), 1.0f, s.data(), ld(nk),
                    vb, ld(ks), 0.0f, out + (b * T + t0) * qs + h * D, ld(qs));
      }
    }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D) {
  check_sizes(B, T, NH, NKV, D);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int64_t group = NH / NKV, qs = NH * D, ks = NKV * D;
  std::vector<float> p(static_cast<size_t>(kBlock * T)), dp(static_cast<size_t>(kBlock * T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t kvh = h / group;
      const float* kb = k + b * T * ks + kvh * D;
      const float* vb = v + b * T * ks + kvh * D;
      float* dkb = dk + b * T * ks + kvh * D;
      float* dvb = dv + b * T * ks + kvh * D;
      for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
        const int64_t rows = std::min(kBlock, T - t0), nk = t0 + rows;
        const int64_t row0 = (b * T + t0) * qs + h * D;
        // P = exp(scale Q K^T - lse), causal entries only              (rows, nk)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ld(rows), ld(nk), ld(D), scale, q + row0, ld(qs), kb,
                    ld(ks), 0.0f, p.data(), ld(nk));
        for (int64_t i = 0; i < rows; ++i) {
          float* pi = p.data() + i * nk;
          const int64_t valid = t0 + i + 1;
          const float l = lse[(b * NH + h) * T + t0 + i];
          for (int64_t j = 0; j < valid; ++j) pi[j] = fast_exp(pi[j] - l);
          std::fill(pi + valid, pi + nk, 0.0f);
        }
        // dV += P^T dO                                                 (nk, D)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ld(nk), ld(D), ld(rows), 1.0f, p.data(), ld(nk),
                    dout + row0, ld(qs), 1.0f, dvb, ld(ks));
        // dP = dO V^T                                                  (rows, nk)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ld(rows), ld(nk), ld(D), 1.0f, dout + row0, ld(qs), vb,
                    ld(ks), 0.0f, dp.data(), ld(nk));
        // dS = P (dP - rowsum(dO * O)), written over dP
        for (int64_t i = 0; i < rows; ++i) {
          const float* doi = dout + row0 + i * qs;
          const float* oi = out + row0 + i * qs;
          double di = 0;
          for (int64_t d = 0; d < D; ++d) di += static_cast<double>(doi[d]) * oi[d];
          const float* pi = p.data() + i * nk;
          float* dsi = dp.data() + i * nk;
          for (int64_t j = 0; j < nk; ++j) dsi[j] = pi[j] * (dsi[j] - static_cast<float>(di));
        }
        // dQ += scale dS K;  dK += scale dS^T Q
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ld(rows), ld(D), ld(nk), scale, dp.data(), ld(nk), kb,
                    ld(ks), 1.0f, dq + row0, ld(qs));
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ld(nk), ld(D), ld(rows), scale, dp.data(), ld(nk),
                    q + row0, ld(qs), 1.0f, dkb, ld(ks));
      }
    }
}

}  // namespace tpb::cpu
