// The communication operators of tensor parallelism, each an explicit forward/backward
// pair, under Megatron-LM's names. "Last dimension" is the feature dimension; a tensor is
// read as (rows, features).
//
//   f  copy_to_tp         forward: identity          backward: copy_to_tp_backward
//                                                              (all-reduce sum of dx)
//   g  reduce_from_tp     forward: reduce_from_tp_forward      backward: identity
//                         (all-reduce sum of partial outputs)
//      gather_from_tp     forward: gather_from_tp_forward      backward: gather_from_tp_backward
//                         (all-gather of feature slices,       (keep this rank's feature
//                         uneven ok)                           slice of dy)
//      scatter_to_tp      forward: scatter_to_tp_forward       backward: gather_from_tp_forward
//                         (keep this rank's feature slice)     of dx
//
// Sequence parallelism (Korthikanti et al. 2022) replaces f and g: outside the TP regions
// (B, T, X) activations are split along T, rank r holding positions [r T/n, (r+1) T/n).
//
//   f' gather_from_sp     forward: all_gather_seq              backward: reduce_scatter_seq
//      (before a column-parallel region)
//   g' reduce_scatter_to_sp forward: reduce_scatter_seq        backward: all_gather_seq
//      (after a row-parallel region)
//
// An all-gather and a reduce-scatter move what one all-reduce does; SP saves the memory (and
// the norm work) of the sharded regions. The model re-gathers each norm output in backward
// for the weight gradients (as Megatron-LM does), which is SP's only extra traffic.
//
// Identity halves have no function: the caller simply uses the same tensor. Every
// reduction returns at once when the group has one rank (Megatron's _reduce), so callers
// never guard on the TP size. Gathering along features needs a reordering copy (the
// collective concatenates rank blocks of (rows, features_r); the layout wants rows of
// concatenated features): the `staging` buffer holds the rank-major blocks and must have
// rows * total_features elements.
#pragma once

#include <span>

#include "comm/communicator.h"
#include "tensor/tensor.h"

namespace tpb {


// In-place reduction over the TP group (sum, or another op, as the vocab-parallel
// cross-entropy's max); nothing with one rank. Any element type and device. The
// primitive under f's backward and g's forward.
void all_reduce_tp(Tensor& x, Communicator& tp, ReduceOp op = ReduceOp::sum);
// g forward: y <- sum over the TP group of the row-parallel partial outputs.
inline void reduce_from_tp_forward(Tensor& y, Communicator& tp) { all_reduce_tp(y, tp); }
// f backward: dx <- sum over the TP group of the column-parallel partial input gradients.
inline void copy_to_tp_backward(Tensor& dx, Communicator& tp) { all_reduce_tp(dx, tp); }

// out (rows, sum(features)) <- every rank's local (rows, features[r]).
void gather_from_tp_forward(Tensor& out, Tensor& staging, const Tensor& local,
                            std::span<const int64_t> features, Communicator& tp);
// out (rows, features[rank]) <- columns [offset, offset + features[rank]) of full.
void take_feature_slice(Tensor& out, const Tensor& full, int64_t offset);
// scatter_to_tp forward and gather_from_tp backward: this rank's feature slice.
inline void scatter_to_tp_forward(Tensor& out, const Tensor& full, int64_t offset) {
  take_feature_slice(out, full, offset);
}
inline void gather_from_tp_backward(Tensor& dlocal, const Tensor& dfull, int64_t offset) {
  take_feature_slice(dlocal, dfull, offset);
}

// out (B, T, X) <- every rank's local (B, T/n, X), in rank order along T. `staging` holds
// the collective's rank-major blocks: B * T * X elements (unused when B == 1 or n == 1).
void all_gather_seq(Tensor& out, Tensor& staging, const Tensor& local, Communicator& tp);
// out (B, T/n, X) <- this rank's positions of the sum over the group of every rank's full
// (B, T, X). `staging` as above (unused when B == 1 or n == 1); `full` is not changed.
void reduce_scatter_seq(Tensor& out, Tensor& staging, const Tensor& full, Communicator& tp);

// The two steps at the edges of a TP region, with or without SP, so the model's code is one:
// The input of a column-parallel region from this rank's `mine`: SP: all_gather_seq into
// `full`, returned; otherwise `mine` itself (f forward is the identity). Also g' backward.
const Tensor& tp_region_input(Tensor& full, const Tensor& mine, Tensor& staging, bool sp, Communicator& tp);
// The sum over the group of `partial` (B, T, X): SP: this rank's positions, reduce_scatter_seq
// into `mine`, returned; otherwise all-reduced in place, `partial` returned (g forward, f
// backward; with SP also f' backward).
const Tensor& tp_region_sum(Tensor& partial, Tensor& mine, Tensor& staging, bool sp, Communicator& tp);

}  // namespace tpb
