#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <climits>

#include "base/error.h"

namespace tpb::cpu {

void matmul(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
            bool trans_a, bool trans_b, float alpha, float beta) {
  TPB_CHECK(m >= 0 && n >= 0 && k >= 0, "negative matmul size m={} n={} k={}", m, n, k);
  // The leading dimensions and sizes all travel as int; the products never do.
  TPB_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
            "matmul size m={} n={} k={} exceeds the BLAS int range ({})", m, n, k, INT_MAX);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // Empty inner dimension: op(A) op(B) is all zeros. BLAS would reject lda = 0 here.
    const int64_t size = m * n;
    if (beta == 0.0f) {
      for (int64_t i = 0; i < size; ++i) c[i] = 0.0f;
    } else if (beta != 1.0f) {
      for (int64_t i = 0; i < size; ++i) c[i] *= beta;
    }
    return;
  }
  const int lda = static_cast<int>(trans_a ? m : k);
  const int ldb = static_cast<int>(trans_b ? k : n);
  const int ldc = static_cast<int>(n);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tpb::cpu
