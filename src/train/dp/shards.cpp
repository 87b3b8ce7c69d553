#include "train/dp/shards.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace tpb {

Tensor dp_zeros(const ModelParams& p, Shape shape, MemCategory category) {
  return Tensor::zeros(shape, category, DType::f32, default_allocator(p.placement().device));
}

Tensor dp_empty(const ModelParams& p, Shape shape, MemCategory category) {
  return Tensor::empty(shape, category, DType::f32, default_allocator(p.placement().device));
}

void clip_gradients(Tensor& grads, double norm, const OptimizerConfig& c) {
  if (c.grad_clip > 0 && norm > c.grad_clip) ops::scale(grads, static_cast<float>(c.grad_clip / (norm + 1e-6)));
}

ops::AdamWConfig adamw_config(const OptimizerConfig& c, float lr) {
  ops::AdamWConfig ac;
  ac.lr = lr;
  ac.beta1 = c.beta1;
  ac.beta2 = c.beta2;
  ac.eps = c.eps;
  ac.weight_decay = c.weight_decay;
  return ac;
}

namespace {
std::vector<ckpt::StateRange> unit_shards(const ModelParams& p, int r, int d, ckpt::StateKind kind, const Tensor& buf,
                                          bool flat) {
  std::vector<ckpt::StateRange> out;
  for (const UnitRange& u : p.units()) {
    const int64_t n = u.padded / d, first = u.begin + r * n;
    out.push_back({kind, first, buf.narrow0(flat ? first : u.begin / d, n)});
  }
  return out;
}
}  // namespace

std::vector<ckpt::StateRange> unit_shards_of_flat(const ModelParams& p, int dp_rank, int dp_size,
                                                  ckpt::StateKind kind, const Tensor& flat) {
  return unit_shards(p, dp_rank, dp_size, kind, flat, true);
}

std::vector<ckpt::StateRange> unit_shards_of_shards(const ModelParams& p, int dp_rank, int dp_size,
                                                    ckpt::StateKind kind, const Tensor& shards) {
  return unit_shards(p, dp_rank, dp_size, kind, shards, false);
}

GradShards::GradShards(ModelParams& p, Communicator& dp) : p_(p), dp_(dp) {
  TPB_CHECK(p.flat_size() % dp.size() == 0, "parameters padded to {} elements, not a multiple of dp {}",
            p.flat_size(), dp.size());
  grads = dp_zeros(p, {total()}, MemCategory::gradients);
  m = dp_zeros(p, {total()}, MemCategory::optimizer_state);
  v = dp_zeros(p, {total()}, MemCategory::optimizer_state);
}

void GradShards::reduce_scatter(int u, const Tensor& full_grads) {
  dp_.reduce_scatter(full_grads.f32(), grads.f32() + offset(u), static_cast<size_t>(size(u)), DType::f32,
                     ReduceOp::avg);
}

double GradShards::grad_norm(Communicator& tp) {
  // Squares of this rank's gradient shard, split into sharded and replicated parameters.
  double sums[2] = {0, 0};
  const int64_t r = dp_.rank();
  for (const Param& q : p_.all()) {
    const int u = q.unit;
    const int64_t begin = p_.units()[static_cast<size_t>(u)].begin + r * size(u);
    const int64_t end = begin + size(u);
    const int64_t lo = std::max(begin, q.flat_offset), hi = std::min(end, q.flat_offset + q.value_numel());
    if (lo >= hi) continue;
    sums[q.kind == ShardKind::replicated ? 1 : 0] += ops::sum_squares(grads.narrow0(offset(u) + (lo - begin), hi - lo));
  }
  // Groups of one rank have nothing to add (and a tp = 1 run records no TP collectives).
  if (dp_.size() > 1) dp_.all_reduce(sums, sums, 2, DType::f64, ReduceOp::sum);
  double sharded = sums[0];
  if (tp.size() > 1) tp.all_reduce(&sharded, &sharded, 1, DType::f64, ReduceOp::sum);
  return std::sqrt(sharded + sums[1]);
}

}  // namespace tpb
