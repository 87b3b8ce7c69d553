#include "train/dp/ddp.h"

#include <algorithm>

#include "base/error.h"
#include "train/dp/shards.h"

namespace tpb {

Ddp::Ddp(ModelParams& p, Communicator& dp, Communicator& tp, int64_t bucket_bytes, bool overlap)
    : p_(p), dp_(dp), tp_(tp), queue_(dp, overlap, /*allow_deferred=*/true) {
  TPB_CHECK(p.materialized(), "--dp-shard none needs materialized parameters");
  m_ = dp_zeros(p, {p.flat_size()}, MemCategory::optimizer_state);
  v_ = dp_zeros(p, {p.flat_size()}, MemCategory::optimizer_state);
  if (dp.size() == 1) return;
  const int64_t min_count = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  int64_t hi = p.flat_size();
  for (int u = p.num_units() - 1; u >= 0; --u) {
    const int64_t lo = p.units()[static_cast<size_t>(u)].begin;
    if (hi - lo >= min_count || u == 0) {
      buckets_.push_back({lo, hi - lo, u});
      hi = lo;
    }
  }
}

std::vector<ckpt::StateRange> Ddp::state_ranges(bool owned) {
  using ckpt::StateKind;
  const std::pair<StateKind, Tensor*> state[] = {
      {StateKind::param, &p_.values()}, {StateKind::exp_avg, &m_}, {StateKind::exp_avg_sq, &v_}};
  std::vector<ckpt::StateRange> out;
  for (const auto& [kind, t] : state) {
    if (!owned) {
      out.push_back({kind, 0, *t});
      continue;
    }
    // Every DP rank holds everything: each writes an even share, so the write is spread.
    for (ckpt::StateRange& r : unit_shards_of_flat(p_, dp_.rank(), dp_.size(), kind, *t)) out.push_back(r);
  }
  return out;
}

void Ddp::reduce(const Bucket& b) {
  float* data = p_.grads().f32() + b.offset;
  dp_.all_reduce(data, data, static_cast<size_t>(b.count), DType::f32, ReduceOp::avg);
}

void Ddp::zero_grads() {
  p_.zero_grads();
  next_bucket_ = 0;
  queue_.begin();
}

void Ddp::grads_ready(int u) {
  if (!queue_.overlaps()) return;  // reduced in finish_backward
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].lowest_unit >= u) {
    const Bucket b = buckets_[next_bucket_++];
    queue_.run([this, b] { reduce(b); });
  }
}

void Ddp::finish_backward() {
  if (queue_.overlaps()) {
    grads_ready(0);  // anything not yet queued
  } else {
    for (const Bucket& b : buckets_) reduce(b);
  }
  queue_.finish();
}

double Ddp::optimizer_step(const OptimizerConfig& c, int64_t step, float lr) {
  const double norm = global_grad_norm(p_, tp_);
  clip_gradients(p_.grads(), norm, c);
  ops::adamw_step(p_.values(), m_, v_, p_.grads(), adamw_config(c, lr), step);
  p_.refresh_compute();
  return norm;
}

}  // namespace tpb
