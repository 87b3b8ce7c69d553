// matmul on the GPU through cuBLAS (cublasGemmEx, fp32 accumulation). Row-major C = op(A)
// op(B) is computed as the column-major C^T = op(B)^T op(A)^T, so nothing is transposed or
// copied: the row-major buffers are exactly the column-major transposes cuBLAS expects.
#include <limits>

#include "base/error.h"
#include "device/cuda/cuda_context.h"
#include "kernels/cuda/cuda_kernels.h"

namespace tpb::cuda {

namespace {
cudaDataType_t cuda_type(DType t) {
  TPB_CHECK(t == DType::f32 || t == DType::bf16, "matmul: element type {} (need fp32 or bf16)",
            dtype_name(t));
  return t == DType::f32 ? CUDA_R_32F : CUDA_R_16BF;
}
}  // namespace

void matmul(void* out, DType out_t, const void* a, const void* b, DType in_t, int64_t m,
            int64_t n, int64_t k, bool trans_a, bool trans_b, float alpha, float beta) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    TPB_CHECK(beta == 0.0f || beta == 1.0f, "matmul: k = 0 with beta {}", beta);
    if (beta == 0.0f)
      check(cudaMemsetAsync(out, 0, static_cast<size_t>(m * n) * dtype_size(out_t), compute_stream()),
            "matmul: zero out");
    return;
  }
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  TPB_CHECK(m <= kMax && n <= kMax && k <= kMax, "matmul: ({} x {}) by ({} x {}) exceeds cuBLAS's int sizes",
            m, k, k, n);
  const int lda = static_cast<int>(trans_a ? m : k);  // row length of a as stored
  const int ldb = static_cast<int>(trans_b ? k : n);
  check_cublas(cublasGemmEx(cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                            trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                            static_cast<int>(m), static_cast<int>(k), &alpha, b, cuda_type(in_t),
                            ldb, a, cuda_type(in_t), lda, &beta, out, cuda_type(out_t),
                            static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

}  // namespace tpb::cuda
