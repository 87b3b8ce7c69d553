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

}  // namespace tpb
