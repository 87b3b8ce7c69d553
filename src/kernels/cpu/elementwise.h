// Element-wise layers: bias add, SiLU, SwiGLU, residual add.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, no allocation in hot loops, no threads of their own. Backward kernels
// ACCUMULATE (+=) into every gradient output: the caller zeros gradients first.
// Forward outputs may alias an input of the same shape (in-place) in every kernel here.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// out[r, c] += bias[c]
//   out: (rows, cols)   bias: (cols)
void bias_add_forward(float* out, const float* bias, int64_t rows, int64_t cols);
// dbias[c] += sum_r dout[r, c]
//   dbias: (cols)   dout: (rows, cols)
void bias_add_backward(float* dbias, const float* dout, int64_t rows, int64_t cols);

// out = silu(inp) = inp * sigmoid(inp)
//   out, inp: (n)
void silu_forward(float* out, const float* inp, int64_t n);
// dinp += dout * silu'(inp), silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x)
void silu_backward(float* dinp, const float* dout, const float* inp, int64_t n);

// out = silu(gate) * up   (the gated MLP of Llama)
//   out, gate, up: (n)
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
// dgate += dout * up * silu'(gate);  dup += dout * silu(gate)
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t n);

// out = a + b (the residual connection; its backward is the identity, nothing to write)
//   out, a, b: (n)
void add_forward(float* out, const float* a, const float* b, int64_t n);

}  // namespace tpb::cpu
