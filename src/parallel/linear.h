// Tensor-parallel linear layers, y = x W^T + b with W stored (out_features, in_features)
// as in PyTorch. Names follow Megatron-LM / PyTorch (the seed's words are in brackets):
//
// ColumnParallelLinear  [seed: "row"]  W split by OUTPUT features (rows of W). Each rank
//   computes its slice of the output features from the full (replicated) input.
//   forward   y_local = x W_local^T + b_local                      (no communication)
//   backward  dW_local += dy_local^T x,  db_local += colsum(dy_local),
//             dx += dy_local W_local: a PARTIAL sum; the caller's f operator all-reduces it.
//
// RowParallelLinear     [seed: "column"]  W split by INPUT features (columns of W). Each
//   rank holds its slice of the input features.
//   forward   y_partial = x_local W_local^T: a PARTIAL sum; the caller's g operator
//             all-reduces it, then adds the (replicated) bias once.
//   backward  dW_local += dy^T x_local,  dx_local += dy W_local   (no communication)
//             db += colsum(dy), identical on every rank because dy is replicated: shard
//             gradients of different ranks are never mixed.
//
// Inputs are read as (rows, features). Backward functions ACCUMULATE into dx and dbias
// (zero them first), like the kernels; dweight is accumulated into too, unless
// `overwrite_dweight` is set: then the GEMM writes it (beta = 0), which saves the step
// from zeroing a weight-sized buffer when gradients are not accumulated over micro-batches. Parameters are built by slicing the full,
// seed-initialised weight, so every tp size starts from the same model.
#pragma once

#include "parallel/sharding.h"
#include "profile/trace.h"
#include "tensor/tensor.h"

namespace tpb {

// The local matmuls of any linear layer y = x W^T (+ b), whatever its sharding; the
// parallel layers below and the transformer block are built from these.
//   y = x W^T (+ b when bias is defined)                          (overwrites y)
void linear_forward(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    TraceBuffer* trace = nullptr);
//   dW (+)= dy^T x  (overwritten when overwrite_dweight);  db += colsum(dy) when db is defined
void linear_weight_backward(Tensor& dweight, Tensor& dbias, const Tensor& dy, const Tensor& x,
                            bool overwrite_dweight, TraceBuffer* trace = nullptr);
//   dx (+)= dy W
void linear_input_backward(Tensor& dx, bool accumulate_dx, const Tensor& weight, const Tensor& dy,
                           TraceBuffer* trace = nullptr);

struct ColumnParallelLinear {
  int64_t in_features = 0;
  int64_t out_features = 0;
  Shard out_shard;  // this rank's output features
  Tensor weight;    // (out_features_local, in_features)
  Tensor bias;      // (out_features_local), or undefined for no bias
  Tensor dweight;
  Tensor dbias;
};

struct RowParallelLinear {
  int64_t in_features = 0;
  int64_t out_features = 0;
  Shard in_shard;  // this rank's input features
  Tensor weight;   // (out_features, in_features_local)
  Tensor bias;     // (out_features), replicated, or undefined for no bias
  Tensor dweight;
  Tensor dbias;
};

// full_weight (out, in); full_bias (out) or undefined.
ColumnParallelLinear column_parallel_linear_init(const Tensor& full_weight, const Tensor& full_bias,
                                                 int tp_rank, int tp_size);
RowParallelLinear row_parallel_linear_init(const Tensor& full_weight, const Tensor& full_bias,
                                           int tp_rank, int tp_size);

// y_local (rows, out_local) = x (rows, in) W_local^T + b_local
void column_parallel_linear_forward(Tensor& y_local, const ColumnParallelLinear& layer,
                                    const Tensor& x, TraceBuffer* trace = nullptr);
// dx (rows, in) += dy_local W_local (partial); dweight, dbias += their local gradients
void column_parallel_linear_backward(Tensor& dx, ColumnParallelLinear& layer,
                                     const Tensor& dy_local, const Tensor& x,
                                     bool overwrite_dweight = false, TraceBuffer* trace = nullptr);

// y_partial (rows, out) = x_local (rows, in_local) W_local^T   (bias not added)
void row_parallel_linear_forward(Tensor& y_partial, const RowParallelLinear& layer,
                                 const Tensor& x_local, TraceBuffer* trace = nullptr);
// dx_local (rows, in_local) += dy W_local; dweight += dy^T x_local; dbias += colsum(dy)
void row_parallel_linear_backward(Tensor& dx_local, RowParallelLinear& layer, const Tensor& dy,
                                  const Tensor& x_local, bool overwrite_dweight = false,
                                  TraceBuffer* trace = nullptr);

}  // namespace tpb
