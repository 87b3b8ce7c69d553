// Rotary position embedding (RoPE), Meta/Llama layout: the rotated pairs are the
// *interleaved* elements (x[2i], x[2i+1]) of each head, not the Hugging Face "rotate half"
// pairs (x[i], x[i + D/2]). Weights converted from Hugging Face checkpoints need their
// q/k projection rows permuted to match.
//
// For token t (position p = pos_offset + t) and pair i in [0, D/2):
//   angle = p * theta^(-2i/D)
//   out[2i]   = x[2i] cos(angle) - x[2i+1] sin(angle)
//   out[2i+1] = x[2i] sin(angle) + x[2i+1] cos(angle)
// i.e. the complex number x[2i] + j x[2i+1] multiplied by e^(j angle). Angles are computed
// in double and rounded once, so large positions keep their accuracy.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, no threads of their own. Backward kernels ACCUMULATE (+=) into every
// gradient output: the caller zeros gradients first. Each call builds a (T, D/2) cos/sin
// table once (one std::vector allocation per call), shared by every batch and head.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// out = rope(inp)
//   out, inp: (B, T, H, D), D even. out may alias inp (in-place is allowed).
void rope_forward(float* out, const float* inp, int64_t B, int64_t T, int64_t H, int64_t D,
                  float theta, int64_t pos_offset);

// dinp += rope^-1(dout), the rotation by -angle (the transpose of the forward's rotation).
//   dinp, dout: (B, T, H, D), D even.
void rope_backward(float* dinp, const float* dout, int64_t B, int64_t T, int64_t H, int64_t D,
                   float theta, int64_t pos_offset);

}  // namespace tpb::cpu
