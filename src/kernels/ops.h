// Tensor entry points of the kernels: each validates its arguments once (defined, element
// type, device, shapes consistent) and dispatches by device to a raw kernel. A failed check
// throws tpb::Error naming the shapes. Only the CPU backend exists in this build; a tensor
// on another device is an error ("built without CUDA").
//
// Same conventions as the raw kernels (src/kernels/cpu/*.h document each formula):
// outputs first, then inputs; backward entry points ACCUMULATE (+=) into every gradient
// tensor (zero them first); no entry point copies or transposes its operands.
// "Read as (rows, C)" means rows = product of every dimension but the last (Shape::rows()).
#pragma once

#include <cstdint>

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

// Mean squared error over all elements; pred and target have the same shape.
double mse_forward(const Tensor& pred, const Tensor& target);
void mse_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, float dloss);

// In-place updates; every tensor has the same number of elements.
void sgd_step(Tensor& param, const Tensor& grad, float lr, float weight_decay = 0.0f);
void adamw_step(Tensor& param, Tensor& m, Tensor& v, const Tensor& grad,
                const AdamWConfig& config, int64_t step);

}  // namespace tpb::ops
