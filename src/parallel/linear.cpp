#include "parallel/linear.h"

#include "base/error.h"
#include "kernels/ops.h"
#include "parallel/conjugate.h"

namespace tpb {

namespace {

// (rows, features) view of an activation, so BLAS sees one matrix whatever the rank.
Tensor as_matrix(const Tensor& t) { return t.view({t.shape().rows(), t.shape().last()}); }

Tensor zeros_like_param(const Tensor& p) {
  return p.defined() ? Tensor::zeros(p.shape(), MemCategory::gradients, DType::f32, default_allocator(p.device()))
                     : Tensor{};
}

void check_full(const Tensor& w, const Tensor& b) {
  TPB_CHECK(w.ndim() == 2, "linear weight must be (out, in), got {}", w.shape().str());
  TPB_CHECK(!b.defined() || (b.ndim() == 1 && b.dim(0) == w.dim(0)),
            "linear bias {} does not match weight {}", b.shape().str(), w.shape().str());
}

}  // namespace

ColumnParallelLinear column_parallel_linear_init(const Tensor& full_weight, const Tensor& full_bias,
                                                 int tp_rank, int tp_size) {
  check_full(full_weight, full_bias);
  ColumnParallelLinear l;
  l.out_features = full_weight.dim(0);
  l.in_features = full_weight.dim(1);
  l.out_shard = shard_of(l.out_features, tp_size, tp_rank);
  // Rows of W are contiguous: a narrow, then a copy into this rank's own storage.
  l.weight = full_weight.narrow0(l.out_shard.offset, l.out_shard.size).clone(MemCategory::parameters);
  if (full_bias.defined())
    l.bias = full_bias.narrow0(l.out_shard.offset, l.out_shard.size).clone(MemCategory::parameters);
  l.dweight = zeros_like_param(l.weight);
  l.dbias = zeros_like_param(l.bias);
  return l;
}

RowParallelLinear row_parallel_linear_init(const Tensor& full_weight, const Tensor& full_bias,
                                           int tp_rank, int tp_size) {
  check_full(full_weight, full_bias);
  RowParallelLinear l;
  l.out_features = full_weight.dim(0);
  l.in_features = full_weight.dim(1);
  l.in_shard = shard_of(l.in_features, tp_size, tp_rank);
  l.weight = Tensor::empty({l.out_features, l.in_shard.size}, MemCategory::parameters, DType::f32,
                           default_allocator(full_weight.device()));
  take_feature_slice(l.weight, full_weight, l.in_shard.offset);
  if (full_bias.defined()) l.bias = full_bias.clone(MemCategory::parameters);
  l.dweight = zeros_like_param(l.weight);
  l.dbias = zeros_like_param(l.bias);
  return l;
}

void linear_forward(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    TraceBuffer* trace) {
  {
    ScopedSpan span(trace, "matmul", "cpu_op");
    ops::matmul(y, x, weight, false, true);
  }
  if (bias.defined()) ops::bias_add_forward(y, bias);
}

void linear_weight_backward(Tensor& dweight, Tensor& dbias, const Tensor& dy, const Tensor& x,
                            bool overwrite_dweight, TraceBuffer* trace) {
  {
    ScopedSpan span(trace, "matmul", "cpu_op");
    ops::matmul(dweight, as_matrix(dy), as_matrix(x), true, false, 1.0f, !overwrite_dweight);
  }
  if (dbias.defined()) ops::bias_add_backward(dbias, dy);
}

void linear_input_backward(Tensor& dx, bool accumulate_dx, const Tensor& weight, const Tensor& dy,
                           TraceBuffer* trace) {
  ScopedSpan span(trace, "matmul", "cpu_op");
  ops::matmul(dx, dy, weight, false, false, 1.0f, accumulate_dx);
}

void column_parallel_linear_forward(Tensor& y_local, const ColumnParallelLinear& layer,
                                    const Tensor& x, TraceBuffer* trace) {
  linear_forward(y_local, x, layer.weight, layer.bias, trace);
}

void column_parallel_linear_backward(Tensor& dx, ColumnParallelLinear& layer,
                                     const Tensor& dy_local, const Tensor& x, bool overwrite_dweight,
                                     TraceBuffer* trace) {
  {
    ScopedSpan grad(trace, "gradient", "user_annotation");
    linear_weight_backward(layer.dweight, layer.dbias, dy_local, x, overwrite_dweight, trace);
  }
  linear_input_backward(dx, true, layer.weight, dy_local, trace);
}

void row_parallel_linear_forward(Tensor& y_partial, const RowParallelLinear& layer,
                                 const Tensor& x_local, TraceBuffer* trace) {
  linear_forward(y_partial, x_local, layer.weight, Tensor{}, trace);  // bias after the all-reduce
}

void row_parallel_linear_backward(Tensor& dx_local, RowParallelLinear& layer, const Tensor& dy,
                                  const Tensor& x_local, bool overwrite_dweight, TraceBuffer* trace) {
  {
    ScopedSpan grad(trace, "gradient", "user_annotation");
    linear_weight_backward(layer.dweight, layer.dbias, dy, x_local, overwrite_dweight, trace);
  }
  linear_input_backward(dx_local, true, layer.weight, dy, trace);
}

}  // namespace tpb
