// CUDA kernels: raw device pointers and sizes, the same formulas and conventions as the
// CPU kernels of src/kernels/cpu/*.h (read each formula there), called by tpb::ops once it
// has validated shapes, devices and element types.
//
// Element types: `act` arguments (void*) hold the activation type `t`, fp32 or bf16; every
// float* argument is fp32 whatever `t` is (RMSNorm's rstd, attention's lse, losses, logits,
// optimizer state, master weights and weight/norm/embedding gradients: the fp32 side of
// mixed precision). bf16 kernels read bf16, compute in fp32 and round once on store.
//
// Every launch is queued on the compute stream (device/cuda/cuda_context.h); nothing here
// synchronises unless its comment says so. Backward kernels ACCUMULATE (+=) into every
// gradient output, as on the CPU: the caller zeros gradients first.
//
// Built from src/kernels/cuda/*.cu when CMake finds the CUDA toolkit; without it,
// src/kernels/no_cuda/cuda_kernels_absent.cpp defines each function to throw "built
// without CUDA" (unreachable in practice: no tensor can be allocated on the device then).
#pragma once

#include <cstdint>

#include "base/dtype.h"
#include "kernels/cpu/optim.h"

namespace tpb::cuda {

// out (m, n) = alpha * op(a) op(b) + beta * out, row-major, through cuBLAS(Lt) with fp32
// accumulation. a and b share in_t (fp32 or bf16); out_t is fp32 or bf16. fp32 x fp32 is
// true fp32 (no TF32).
void matmul(void* out, DType out_t, const void* a, const void* b, DType in_t, int64_t m,
            int64_t n, int64_t k, bool trans_a, bool trans_b, float alpha, float beta);

// out (rows, c) += bias (c), both of type t.      dbias (fp32) += column sums of dout.
void bias_add_forward(void* out, const void* bias, DType t, int64_t rows, int64_t c);
void bias_add_backward(float* dbias, const void* dout, DType t, int64_t rows, int64_t c);

// Element-wise over n elements, every act of type t.
void silu_forward(void* out, const void* inp, DType t, int64_t n);
void silu_backward(void* dinp, const void* dout, const void* inp, DType t, int64_t n);
void swiglu_forward(void* out, const void* gate, const void* up, DType t, int64_t n);
void swiglu_backward(void* dgate, void* dup, const void* dout, const void* gate,
                     const void* up, DType t, int64_t n);
void add_forward(void* out, const void* a, const void* b, DType t, int64_t n);

// out, inp, weight of type t (weight is the compute copy); rstd fp32 (rows).
void rmsnorm_forward(void* out, float* rstd, const void* inp, const void* weight, DType t,
                     int64_t rows, int64_t c, float eps);
// dinp, dout, inp, weight of type t; dweight fp32 (c) (+=, reduced over rows); rstd fp32.
void rmsnorm_backward(void* dinp, float* dweight, const void* dout, const void* inp,
                      const void* weight, const float* rstd, DType t, int64_t rows, int64_t c);

void softmax_forward(void* out, const void* inp, DType t, int64_t rows, int64_t c);
void softmax_backward(void* dinp, const void* dout, const void* out, DType t, int64_t rows,
                      int64_t c);

// (B, T, H, D) of type t; out may alias inp.
void rope_forward(void* out, const void* inp, DType t, int64_t B, int64_t T, int64_t H,
                  int64_t D, float theta, int64_t pos_offset);
void rope_backward(void* dinp, const void* dout, DType t, int64_t B, int64_t T, int64_t H,
                   int64_t D, float theta, int64_t pos_offset);

// Causal GQA attention. out, q (B, T, NH, D), k, v (B, T, NKV, D) of type t; lse fp32
// (B, NH, T). dq, dk, dv of type t (+=).
void attention_forward(void* out, float* lse, const void* q, const void* k, const void* v,
                       DType t, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D);
void attention_backward(void* dq, void* dk, void* dv, const void* dout, const void* q,
                        const void* k, const void* v, const void* out, const float* lse,
                        DType t, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t D);

// out (n, c) and table (v_local, c) of type t; dtable fp32 (+=); tokens int32. Token ids
// outside [vocab_start, vocab_start + v_local) give zero rows / no gradient; a negative id
// gives zeros too (the CPU backend throws; the token sources only produce ids in
// [0, vocab), checked where they are read).
void embedding_forward(void* out, const int32_t* tokens, const void* table, DType t,
                       int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start);
void embedding_backward(float* dtable, const void* dout, const int32_t* tokens, DType t,
                        int64_t n_tokens, int64_t v_local, int64_t c, int64_t vocab_start);

// Whole-vocabulary cross-entropy on fp32 logits (rows, v).
void cross_entropy_forward(float* losses, const float* logits, const int32_t* targets,
                           int64_t rows, int64_t v);
void cross_entropy_backward(float* dlogits, const float* dlosses, const float* logits,
                            const int32_t* targets, int64_t rows, int64_t v);

// Vocab-parallel cross-entropy, in the steps between which the TP all-reduces go (see
// src/model/vocab_parallel.h). logits fp32 (rows, v) hold ids [vocab_start, vocab_start+v).
//   row_max[n] = max_j logits[n, j]
//   stats[n] = sum_j exp(logits[n, j] - row_max[n]);  stats[rows + n] = logits[n, target - vocab_start]
//              when the target is held here, else 0
//   losses[n] = log(stats[n]) + row_max[n] - stats[rows + n]
//   dlogits[n, j] = scale * (exp(logits[n, j] - row_max[n]) / stats[n] - [j == target - vocab_start])
//              (dlogits of type t, written, not accumulated)
void ce_row_max(float* row_max, const float* logits, int64_t rows, int64_t v);
void ce_sum_exp_target(float* stats, const float* logits, const float* row_max,
                       const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start);
void ce_losses(float* losses, const float* stats, const float* row_max, int64_t rows);
void ce_backward(void* dlogits, DType t, const float* logits, const float* row_max,
                 const float* stats, const int32_t* targets, int64_t rows, int64_t v,
                 int64_t vocab_start, float scale);

// Returns the mean squared error (synchronises: the value comes back to the host).
double mse_forward(const float* pred, const float* target, int64_t n);
void mse_backward(float* dpred, const float* pred, const float* target, int64_t n, float dloss);

// fp32 master weights and state.
void sgd_step(float* param, const float* grad, int64_t n, float lr, float weight_decay);
void adamw_step(float* param, float* m, float* v, const float* grad, int64_t n,
                const cpu::AdamWConfig& config, int64_t step);

// out = in converted (fp32 <-> bf16, round to nearest even; same type copies).
void cast(void* out, DType out_t, const void* in, DType in_t, int64_t n);
// x *= s (fp32).
void scale(float* x, int64_t n, float s);
// Returns sum x[i]^2 accumulated in double (synchronises).
double sum_squares(const float* x, int64_t n);
// Rank-major gathered blocks -> rows of concatenated features (tensor-parallel gather):
// staging holds, for rank r, a (rows, widths[r]) block; out is (rows, total). widths has
// n_ranks entries on the host. Type t.
void interleave_blocks(void* out, const void* staging, const int64_t* widths, int n_ranks,
                       int64_t rows, DType t);
// out (rows, width) = columns [offset, offset + width) of full (rows, total). Type t.
void take_columns(void* out, const void* full, int64_t rows, int64_t total, int64_t offset,
                  int64_t width, DType t);

}  // namespace tpb::cuda
