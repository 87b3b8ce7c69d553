// Tensor entry points of the kernels: each validates its arguments once (defined, element
// type, one device, shapes consistent) and dispatches by device to a raw kernel: the CPU
// kernels of kernels/cpu or the CUDA launchers of kernels/cuda. A failed check throws
// tpb::Error naming the shapes.
//
// Element types: on the CPU every floating tensor is fp32. On the GPU the activation
// arguments of a call may instead all be bf16 (mixed precision); the fp32 side stays fp32:
// RMSNorm's rstd and dweight, attention's lse, bias/embedding gradients, logits and the
// loss statistics, optimizer tensors. matmul takes a and b of one type and out of either.
//
// Same conventions as the raw kernels (src/kernels/cpu/*.h document each formula):
// outputs first, then inputs; backward entry points ACCUMULATE (+=) into every gradient
// tensor (zero them first); no entry point copies or transposes its operands.
// "Read as (rows, C)" means rows = product of every dimension but the last (Shape::rows()).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/optim.h"
#include "tensor/tensor.h"

namespace tpb::ops {

using AdamWConfig = cpu::AdamWConfig;

// out = alpha * op(a) op(b) (+ out when accumulate), straight to BLAS, no copies.
//   a is read as 2-D (rows x last): op(a) is that matrix, or its transpose when trans_a.
//   b must be 2-D: op(b) is b, or b^T when trans_b.
//   out is read as 2-D (rows x last) and must be (rows of op(a), columns of op(b)).
// Linear layer with W (out, in), x (B, T, in), y (B, T, out):
//   forward      y  = x W^T:   matmul(y, x, W, false, true)
//   input grad   dx = dy W:    matmul(dx, dy, W)
//   weight grad  dW += dy^T x: matmul(dW, dy, x.view({B * T, in}), true, false, 1.0f, true)
//                (b must be 2-D, hence the view; a view shares storage, it copies nothing)
void matmul(Tensor& out, const Tensor& a, const Tensor& b, bool trans_a = false,
            bool trans_b = false, float alpha = 1.0f, bool accumulate = false);

// out (rows, C) += bias (C)
void bias_add_forward(Tensor& out, const Tensor& bias);
// dbias (C) += column sums of dout (rows, C)
void bias_add_backward(Tensor& dbias, const Tensor& dout);

// Element-wise; every tensor of one call has the same shape.
void silu_forward(Tensor& out, const Tensor& inp);
void silu_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp);
void swiglu_forward(Tensor& out, const Tensor& gate, const Tensor& up);
void swiglu_backward(Tensor& dgate, Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up);
void add_forward(Tensor& out, const Tensor& a, const Tensor& b);

// inp, out read as (rows, C); weight (C); rstd holds rows elements (any shape).
void rmsnorm_forward(Tensor& out, Tensor& rstd, const Tensor& inp, const Tensor& weight,
                     float eps);
void rmsnorm_backward(Tensor& dinp, Tensor& dweight, const Tensor& dout, const Tensor& inp,
                      const Tensor& weight, const Tensor& rstd);

// Softmax over the last dimension; every tensor has the same shape.
void softmax_forward(Tensor& out, const Tensor& inp);
void softmax_backward(Tensor& dinp, const Tensor& dout, const Tensor& out);

// (B, T, H, D), D even; out may be inp (in place).
void rope_forward(Tensor& out, const Tensor& inp, float theta, int64_t pos_offset);
void rope_backward(Tensor& dinp, const Tensor& dout, float theta, int64_t pos_offset);

// q, out (B, T, NH, D); k, v (B, T, NKV, D); lse (B, NH, T).
void attention_forward(Tensor& out, Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v);
void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse);

// tokens: int32, any shape; table (V_local, C) holds ids [vocab_start, vocab_start + V_local);
// out: (tokens..., C).
void embedding_forward(Tensor& out, const Tensor& tokens, const Tensor& table,
                       int64_t vocab_start = 0);
void embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& tokens,
                        int64_t vocab_start = 0);

// logits read as (rows, V); targets int32 and losses fp32 with rows elements (any shape).
void cross_entropy_forward(Tensor& losses, const Tensor& logits, const Tensor& targets);
void cross_entropy_backward(Tensor& dlogits, const Tensor& dlosses, const Tensor& logits,
                            const Tensor& targets);

// Vocab-parallel cross-entropy in steps (formulas in kernels/cpu/vocab_ce.h): logits
// (rows, V_local) fp32 hold ids [vocab_start, vocab_start + V_local); row_max (rows),
// stats (2 rows) and losses (rows) fp32; dlogits written (not accumulated), fp32 or bf16.
void ce_row_max(Tensor& row_max, const Tensor& logits);
void ce_sum_exp_target(Tensor& stats, const Tensor& logits, const Tensor& row_max,
                       const Tensor& targets, int64_t vocab_start);
void ce_losses(Tensor& losses, const Tensor& stats, const Tensor& row_max);
void ce_backward(Tensor& dlogits, const Tensor& logits, const Tensor& row_max,
                 const Tensor& stats, const Tensor& targets, int64_t vocab_start, float scale);
// CPU only (the fused loss head's single pass of exp): ce_sum_exp_target that leaves
// exp(logits - row_max) in logits, and ce_backward from those (dlogits fp32, may be exps).
void ce_sum_exp_target_keep_exps(Tensor& stats, Tensor& logits, const Tensor& row_max, const Tensor& targets,
                                 int64_t vocab_start);
void ce_backward_from_exps(Tensor& dlogits, const Tensor& exps, const Tensor& stats, const Tensor& targets,
                           int64_t vocab_start, float scale);

// Mean squared error over all elements; pred and target have the same shape.
double mse_forward(const Tensor& pred, const Tensor& target);
void mse_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, float dloss);

// In-place updates; every tensor has the same number of elements.
void sgd_step(Tensor& param, const Tensor& grad, float lr, float weight_decay = 0.0f);
void adamw_step(Tensor& param, Tensor& m, Tensor& v, const Tensor& grad,
                const AdamWConfig& config, int64_t step);

// out = in converted between fp32 and bf16 (round to nearest even); same numel.
void cast(Tensor& out, const Tensor& in);
// x *= s (fp32).
void scale(Tensor& x, float s);
// sum of x[i]^2 in double (fp32 x). On the GPU this waits for the result.
double sum_squares(const Tensor& x);
// Tensor-parallel gather re-layout: staging holds rank after rank (rows, widths[r]) blocks;
// out (rows, sum of widths) gets them side by side.
void interleave_blocks(Tensor& out, const Tensor& staging, std::span<const int64_t> widths);
// out (rows, width) = columns [offset, offset + width) of full (rows, total).
void take_columns(Tensor& out, const Tensor& full, int64_t offset);

}  // namespace tpb::ops
