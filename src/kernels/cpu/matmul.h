// General matrix multiply on the CPU, through CBLAS (OpenBLAS by default).
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32 (int32 token ids), no allocation in hot loops, no threads of their own
// (one process is one rank). Backward kernels ACCUMULATE (+=) into every gradient output:
// the caller zeros gradients before the first backward.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// C = alpha * op(A) op(B) + beta * C, all row-major.
//   c: (m, n)
//   a: (m, k), or stored (k, m) when trans_a (op(A) = A^T)
//   b: (k, n), or stored (n, k) when trans_b (op(B) = B^T)
// beta == 0 overwrites C without reading it (NaNs in C do not propagate), as in BLAS.
// Any of m, n, k may be 0 (k == 0 gives C = beta * C). Throws when a size does not fit
// the int of the BLAS interface. C must not overlap A or B.
void matmul(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
            bool trans_a, bool trans_b, float alpha, float beta);

}  // namespace tpb::cpu
