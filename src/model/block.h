// One transformer block with Megatron tensor parallelism, forward and backward written
// out step by step:
//
//   h   = x + g(attention(rope(xn1 Wq^T), rope(xn1 Wk^T), xn1 Wv^T) Wo^T),  xn1 = rmsnorm(x)
//   out = h + g(swiglu(xn2 W1^T, xn2 W3^T) W2^T),                           xn2 = rmsnorm(h)
//
// Wq, Wk, Wv, W1, W3 are column-parallel (this rank holds whole heads / whole KV heads /
// a slice of the FFN hidden size), Wo and W2 row-parallel; g is the all-reduce over the TP
// group after each row-parallel matmul, and its conjugate f (the all-reduce of the partial
// input gradients of the column-parallel matmuls) sits in backward just before each norm's
// backward. Norm weights are replicated and their gradients come out identical on every
// TP rank (their inputs and output gradients are), so they need no reduction.
//
// With sequence parallelism (local.sp; Korthikanti et al. 2022) x, h and out hold only this
// rank's seq_local positions of every sequence, (B, T/n, C), and f and g become f' / g'
// (parallel/conjugate.h): the norm output is all-gathered along the sequence before each
// column-parallel region (reduce-scatter of its gradient in backward) and each
// row-parallel output reduce-scattered along it (all-gather of its gradient in backward).
// Forward keeps only this rank's shard of each norm output; backward all-gathers it again
// for the weight gradients of Wq/Wk/Wv and W1/W3 (Megatron-LM's choice: 2C/tp instead of
// 2C saved per token, for one more all-gather per column-parallel region).
// The norms then see only this rank's positions, so their weight gradients are partial
// sums: block_backward all-reduces both over TP at its end (one call of 2C values), before
// the layer's gradients are handed to data parallelism, and adds them to the grads.
#pragma once

#include <initializer_list>

#include "comm/communicator.h"
#include "model/config.h"
#include "model/params.h"
#include "profile/trace.h"
#include "tensor/tensor.h"

namespace tpb {

// What forward keeps for backward, for one block. Shapes with this rank's LocalSizes: Hl
// heads, KVl KV heads, Fl FFN hidden features, hd = head dim; (B, T, X) tensors; Ts =
// seq_local (T / tp with SP, else T).
struct BlockActivations {
  Tensor rstd1, xn1;        // (B*Ts), (B, Ts, C)
  Tensor q, k, v;           // (B, T, Hl*hd), (B, T, KVl*hd) x2; q and k after RoPE
  Tensor att, lse;          // (B, T, Hl*hd), (B, Hl, T)
  Tensor h;                 // (B, Ts, C): x + attention output
  Tensor rstd2, xn2;        // (B*Ts), (B, Ts, C)
  Tensor a1, a3, g;         // (B, T, Fl): xn2 W1^T, xn2 W3^T, swiglu(a1, a3)
};

// Work buffers of forward and backward, shared by every block (and the model's ends).
struct BlockScratch {
  Tensor partial;             // (B, T, C): row-parallel outputs before g
  Tensor dg, da1, da3;        // (B, T, Fl)
  Tensor dxn, dh;             // (B, T, C) partial input gradients; (B, Ts, C)
  Tensor datt, dq, dq_pre;    // (B, T, Hl*hd)
  Tensor dk, dv, dk_pre;      // (B, T, KVl*hd)
  // SP only (undefined otherwise):
  Tensor staging;             // (B, T, C): rank-major blocks of the sequence collectives
  Tensor full;                // (B, T, C): a norm output or an output gradient gathered along T
  Tensor local;               // (B, Ts, C): a reduce-scattered sum
  Tensor norm_grads;          // (2, C) fp32: the block's partial norm-weight gradients
};

// Activation tensors on placement.device: act() of the compute type, f32() for the fp32
// statistics (rstd, lse, logits, loss buffers).
struct ActivationAlloc {
  const Placement& pl;
  Tensor act(Shape s) const {
    return Tensor::empty(s, MemCategory::activations, pl.compute, default_allocator(pl.device));
  }
  Tensor f32(Shape s) const {
    return Tensor::empty(s, MemCategory::activations, DType::f32, default_allocator(pl.device));
  }
};

// On placement.device; rstd, lse and norm_grads fp32, every other tensor of placement.compute.
BlockActivations make_block_activations(const ModelConfig& c, const LocalSizes& local, int64_t batch,
                                        const Placement& placement = {});
BlockScratch make_block_scratch(const ModelConfig& c, const LocalSizes& local, int64_t batch,
                                const Placement& placement = {});

// out (B, Ts, C) = block(x (B, Ts, C)). x must stay unchanged until block_backward.
void block_forward(Tensor& out, BlockActivations& a, BlockScratch& s, const ModelParams::Layer& w,
                   const Tensor& x, const ModelConfig& c, const LocalSizes& local, Communicator& tp,
                   TraceBuffer* trace);

// dx (B, Ts, C) = d loss / d x (overwritten); every weight's grad += its gradient (the norm
// weights' all-reduced over TP first with SP).
void block_backward(Tensor& dx, BlockActivations& a, BlockScratch& s, const ModelParams::Layer& w,
                    const Tensor& x, const Tensor& dout, const ModelConfig& c, const LocalSizes& local,
                    Communicator& tp, TraceBuffer* trace);

// SP: a norm weight's gradient is a partial sum over this rank's positions. norm_grad_target
// gives where its backward accumulates: the grad itself without SP, else row `row` of
// s.norm_grads (zeroed, shaped as grad). add_sp_norm_grads then all-reduces the rows used
// over TP in one call and adds row k to *grads[k] (block_backward: both norms; the model's
// head: the final norm), before the unit's gradients go to data parallelism.
Tensor norm_grad_target(BlockScratch& s, int row, const Tensor& grad, bool sp);
void add_sp_norm_grads(BlockScratch& s, std::initializer_list<Tensor*> grads, Communicator& tp);

}  // namespace tpb
