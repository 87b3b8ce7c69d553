// Row-wise softmax over the last dimension.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, no allocation in hot loops, no threads of their own. Backward kernels
// ACCUMULATE (+=) into every gradient output: the caller zeros gradients first.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// out[n, :] = exp(inp[n, :] - max) / sum exp(inp[n, :] - max)   (stable for any finite input)
//   out, inp: (N, C); out may alias inp.
void softmax_forward(float* out, const float* inp, int64_t n_rows, int64_t c);

// dinp[n, c] += out[n, c] * (dout[n, c] - sum_c' dout[n, c'] out[n, c'])
//   dinp, dout, out: (N, C), out being the forward's result.
void softmax_backward(float* dinp, const float* dout, const float* out, int64_t n_rows,
                      int64_t c);

}  // namespace tpb::cpu
