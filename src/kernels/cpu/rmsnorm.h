// RMSNorm (Llama): out = inp / rms(inp) * weight, rms over the last dimension.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, no allocation in hot loops, no threads of their own. Backward kernels
// ACCUMULATE (+=) into every gradient output: the caller zeros gradients first.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// rstd[n] = 1 / sqrt(mean_c inp[n, c]^2 + eps);  out[n, c] = inp[n, c] * rstd[n] * weight[c]
//   out: (N, C)   rstd: (N), saved for the backward   inp: (N, C)   weight: (C)
// out may alias inp.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight,
                     int64_t n_rows, int64_t c, float eps);

// dweight[c] += sum_n dout[n, c] * inp[n, c] * rstd[n]
// dinp[n, c] += rstd[n] * (dout[n, c] weight[c] - inp[n, c] rstd[n]^2 / C *
//                           sum_c' dout[n, c'] weight[c'] inp[n, c'])
//   dinp: (N, C)   dweight: (C)   dout, inp: (N, C)   weight: (C)   rstd: (N)
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t n_rows, int64_t c);

}  // namespace tpb::cpu
