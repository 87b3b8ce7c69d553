// The communication operators of tensor parallelism, each an explicit forward/backward
// pair (Megatron-LM's names in brackets). "Last dimension" is the feature dimension; a
// tensor is read as (rows, features).
//
//   f  copy_to_tp         forward: identity          backward: all_reduce(sum) of dx
//   g  reduce_from_tp     forward: all_reduce(sum)   backward: identity
//      gather_from_tp     forward: all_gather of     backward: keep this rank's
//                         feature slices (uneven ok)           feature slice of dy
//      scatter_to_tp      forward: keep this rank's  backward: gather_from_tp of dx
//                         feature slice
//
// Identity halves have no function: the caller simply uses the same tensor. Gathering
// along features needs a reordering copy (the collective concatenates rank blocks of
// (rows, features_r); the layout wants rows of concatenated features): the `staging`
// buffer holds the rank-major blocks and must have rows * total_features elements.
#pragma once

#include <span>

#include "comm/communicator.h"
#include "tensor/tensor.h"

namespace tpb {


// f backward, g forward: in-place sum over the TP group (or another reduction, as the
// vocab-parallel cross-entropy's max). Any element type and device.
void all_reduce_tp(Tensor& x, Communicator& tp, ReduceOp op = ReduceOp::sum);

// out (rows, sum(features)) <- every rank's local (rows, features[r]).
void gather_from_tp_forward(Tensor& out, Tensor& staging, const Tensor& local,
                            std::span<const int64_t> features, Communicator& tp);
// out (rows, features[rank]) <- columns [offset, offset + features[rank]) of full.
void take_feature_slice(Tensor& out, const Tensor& full, int64_t offset);

}  // namespace tpb
