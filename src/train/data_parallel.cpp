#include "train/data_parallel.h"

#include <cmath>
#include <cstring>

#include "base/clock.h"
#include "base/error.h"
#include "kernels/ops.h"

namespace tpb {

DpShard parse_dp_shard(const std::string& name) {
  if (name == "none") return DpShard::none;
  if (name == "optimizer") return DpShard::optimizer;
  if (name == "full") return DpShard::full;
  usage_error("unknown --dp-shard '{}' (none, optimizer, full)", name);
}

std::string dp_shard_name(DpShard s) {
  return s == DpShard::none ? "none" : s == DpShard::optimizer ? "optimizer" : "full";
}

DataParallel::DataParallel(DpShard mode, ModelParams& p, Communicator& dp, Communicator& tp,
                           int64_t bucket_bytes, bool overlap)
    : mode_(mode), p_(p), dp_(dp), tp_(tp) {
  const int64_t d = dp.size();
  TPB_CHECK(p.flat_size() % d == 0, "parameters padded to {} elements, not a multiple of dp {}", p.flat_size(), d);
  TPB_CHECK(p.materialized() == (mode != DpShard::full),
            "--dp-shard {} needs {} parameters", dp_shard_name(mode), mode == DpShard::full ? "unmaterialized" : "materialized");
  if (overlap && d > 1 && dp.queues_device_work() && mode != DpShard::full) {
    // A GPU backend that queues (NCCL, asynchronous): no thread needed. During backward
    // (zero_grads to finish_backward) each bucket's reduction is queued on the
    // communicator's stream as soon as its gradients are, and the compute stream waits for
    // them all once, in finish_backward (join). Outside it, dp calls complete in order.
    deferred_ = true;
  } else if (overlap && d > 1) {
    TPB_CHECK(dp.concurrent_calls_ok(),
              "overlapping communication needs a communicator that allows concurrent calls "
              "(MPI_THREAD_MULTIPLE); this MPI library does not provide it");
    worker_ = std::make_unique<CommWorker>();
  }
  const int units = p.num_units();
  if (mode == DpShard::none) {
    m_ = zeros({p.flat_size()}, MemCategory::optimizer_state);
    v_ = zeros({p.flat_size()}, MemCategory::optimizer_state);
    if (d == 1) return;
    const int64_t min_count = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
    int64_t hi = p.flat_size();
    for (int u = units - 1; u >= 0; --u) {
      const int64_t lo = p.units()[static_cast<size_t>(u)].begin;
      if (hi - lo >= min_count || u == 0) {
        buckets_.push_back({lo, hi - lo, u});
        hi = lo;
      }
    }
    return;
  }
  const int64_t shard = p.flat_size() / d;
  grad_shard_ = zeros({shard}, MemCategory::gradients);
  m_ = zeros({shard}, MemCategory::optimizer_state);
  v_ = zeros({shard}, MemCategory::optimizer_state);
  if (mode == DpShard::full) value_shard_ = zeros({shard}, MemCategory::parameters);
}

Tensor DataParallel::zeros(Shape shape, MemCategory category) const {
  return Tensor::zeros(shape, category, DType::f32, default_allocator(p_.placement().device));
}

Tensor DataParallel::empty(Shape shape, MemCategory category) const {
  return Tensor::empty(shape, category, DType::f32, default_allocator(p_.placement().device));
}

DataParallel::~DataParallel() {
  if (deferred_) {
    try {
      dp_.join();
    } catch (...) {
    }
    dp_.set_deferred(false);
  }
  // Let queued collectives finish before their buffers go (errors are already reported).
  if (worker_) {
    try {
      worker_->wait_all();
    } catch (...) {
    }
  }
}

void DataParallel::init_params(uint64_t seed) {
  if (mode_ != DpShard::full) {
    p_.init_from_seed(seed);
    return;
  }
  // One unit at a time: build its full (TP-local) values, keep this rank's shard.
  for (int u = 0; u < p_.num_units(); ++u) {
    Tensor full = zeros({p_.units()[static_cast<size_t>(u)].padded}, MemCategory::other);
    p_.bind_unit(u, full, Tensor{});
    for (size_t i = 0; i < p_.all().size(); ++i)
      if (p_.all()[i].unit == u) p_.load_full(i, p_.full_init(i, seed));
    p_.unbind_unit(u);
    value_shard_.narrow0(shard_offset(u), shard_size(u))
        .copy_from(full.narrow0(dp_.rank() * shard_size(u), shard_size(u)));
  }
}

void DataParallel::zero_grads() {
  if (mode_ != DpShard::full) p_.zero_grads();
  if (deferred_) dp_.set_deferred(true);
  next_bucket_ = 0;
}

void DataParallel::run_or_submit(std::function<void()> task) {
  if (worker_) worker_->submit(std::move(task));
  else task();  // synchronous, or (deferred) queued on the GPU
}

void DataParallel::reduce_bucket(const Bucket& b) {
  float* data = p_.grads().f32() + b.offset;
  dp_.all_reduce(data, data, static_cast<size_t>(b.count), DType::f32, ReduceOp::avg);
}

void DataParallel::reduce_scatter_unit(int u, const Tensor& full_grads) {
  dp_.reduce_scatter(full_grads.f32(), grad_shard_.f32() + shard_offset(u), static_cast<size_t>(shard_size(u)),
                     DType::f32, ReduceOp::avg);
}

Tensor DataParallel::gather_unit(int u) {
  Tensor full = empty({p_.units()[static_cast<size_t>(u)].padded}, MemCategory::comm_buffers);
  dp_.all_gather(value_shard_.f32() + shard_offset(u), full.f32(), static_cast<size_t>(shard_size(u)), DType::f32);
  return full;
}

void DataParallel::issue_prefetch(int u) {
  if (!worker_ || u < 0 || u >= p_.num_units() || gathered_.count(u) || pending_.count(u)) return;
  // The buffer is created here (main thread) so its lifetime is the map's, and filled there.
  Tensor full = empty({p_.units()[static_cast<size_t>(u)].padded}, MemCategory::comm_buffers);
  gathered_[u] = full;
  const int64_t off = shard_offset(u), n = shard_size(u);
  pending_[u] = worker_->submit([this, full, off, n]() mutable {
    dp_.all_gather(value_shard_.f32() + off, full.f32(), static_cast<size_t>(n), DType::f32);
  });
}

void DataParallel::before_unit(int u, bool backward) {
  if (mode_ != DpShard::full) return;
  const int64_t t0 = now_ns();
  if (auto it = pending_.find(u); it != pending_.end()) {
    worker_->wait(it->second);
    pending_.erase(it);
  } else if (!gathered_.count(u)) {
    if (worker_) worker_->wait_all();  // keep the dp communicator to one thread at a time
    gathered_[u] = gather_unit(u);
  }
  exposed_ns_ += now_ns() - t0;
  Tensor grads;
  if (backward) {
    grads = zeros({p_.units()[static_cast<size_t>(u)].padded}, MemCategory::gradients);
    unit_grads_[u] = grads;
  }
  p_.bind_unit(u, gathered_[u], grads);
  // Prefetch the unit that comes next in this pass.
  issue_prefetch(backward ? u - 1 : u + 1);
}

void DataParallel::after_unit(int u, bool backward) {
  if (mode_ != DpShard::full || backward) return;  // backward releases in grads_ready
  p_.unbind_unit(u);
  gathered_.erase(u);
}

void DataParallel::grads_ready(int u) {
  if (dp_.size() == 1 && mode_ == DpShard::none) return;
  if (mode_ == DpShard::none) {
    if (!worker_ && !deferred_) return;  // reduced in finish_backward
    while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].lowest_unit >= u) {
      const Bucket b = buckets_[next_bucket_++];
      worker_->submit([this, b] { reduce_bucket(b); });
    }
    return;
  }
  if (mode_ == DpShard::optimizer) {
    const UnitRange r = p_.units()[static_cast<size_t>(u)];
    Tensor unit = p_.grads().narrow0(r.begin, r.padded);
    run_or_submit([this, u, unit] { reduce_scatter_unit(u, unit); });
    return;
  }
  // full: reduce-scatter this unit's gradients, then drop its full buffers.
  Tensor grads = unit_grads_[u];
  unit_grads_.erase(u);
  p_.unbind_unit(u);
  gathered_.erase(u);
  run_or_submit([this, u, grads] { reduce_scatter_unit(u, grads); });
}

void DataParallel::finish_backward() {
  if (mode_ == DpShard::none && !worker_ && !deferred_) {
    for (const Bucket& b : buckets_) reduce_bucket(b);
  }
  if (deferred_) {
    if (mode_ == DpShard::none) grads_ready(0);  // anything not yet queued
    dp_.join();  // the optimizer reads the reduced gradients
    dp_.set_deferred(false);
  }
  if (worker_) {
    if (mode_ == DpShard::none) grads_ready(0);  // anything not yet handed over
    worker_->wait_all();
  }
  pending_.clear();
  gathered_.clear();
}

double DataParallel::sharded_grad_norm(Communicator& tp) {
  // Squares of this rank's gradient shard, split into sharded and replicated parameters.
  double sums[2] = {0, 0};
  const int64_t r = dp_.rank();
  for (const Param& q : p_.all()) {
    const int u = q.unit;
    const int64_t begin = p_.units()[static_cast<size_t>(u)].begin + r * shard_size(u);
    const int64_t end = begin + shard_size(u);
    const int64_t lo = std::max(begin, q.flat_offset), hi = std::min(end, q.flat_offset + q.value_numel());
    if (lo >= hi) continue;
    sums[q.kind == ShardKind::replicated ? 1 : 0] +=
        ops::sum_squares(grad_shard_.narrow0(shard_offset(u) + (lo - begin), hi - lo));
  }
  dp_.all_reduce(sums, sums, 2, DType::f64, ReduceOp::sum);
  double sharded = sums[0];
  tp.all_reduce(&sharded, &sharded, 1, DType::f64, ReduceOp::sum);
  return std::sqrt(sharded + sums[1]);
}

double DataParallel::optimizer_step(const OptimizerConfig& c, int64_t step, float lr) {
  const bool flat = mode_ == DpShard::none;
  const double norm = flat ? global_grad_norm(p_, tp_) : sharded_grad_norm(tp_);
  Tensor& grads = flat ? p_.grads() : grad_shard_;
  if (c.grad_clip > 0 && norm > c.grad_clip) {
    const float scale = static_cast<float>(c.grad_clip / (norm + 1e-6));
    ops::scale(grads, scale);
  }
  ops::AdamWConfig ac;
  ac.lr = lr;
  ac.beta1 = c.beta1;
  ac.beta2 = c.beta2;
  ac.eps = c.eps;
  ac.weight_decay = c.weight_decay;
  if (flat) {
    ops::adamw_step(p_.values(), m_, v_, grads, ac, step);
    p_.refresh_compute();
    return norm;
  }
  if (mode_ == DpShard::full) {
    ops::adamw_step(value_shard_, m_, v_, grads, ac, step);
    return norm;
  }
  // ZeRO-1: update this rank's shard of every unit in place, then all-gather each unit.
  for (int u = 0; u < p_.num_units(); ++u) {
    const UnitRange r = p_.units()[static_cast<size_t>(u)];
    const int64_t n = shard_size(u), off = shard_offset(u);
    Tensor mine = p_.values().narrow0(r.begin + dp_.rank() * n, n);
    Tensor m = m_.narrow0(off, n), v = v_.narrow0(off, n), g = grads.narrow0(off, n);
    ops::adamw_step(mine, m, v, g, ac, step);
    dp_.all_gather(mine.f32(), p_.values().f32() + r.begin, static_cast<size_t>(n), DType::f32);
  }
  p_.refresh_compute();
  return norm;
}

double DataParallel::take_exposed_gather_seconds() {
  const double s = static_cast<double>(exposed_ns_) * 1e-9;
  exposed_ns_ = 0;
  return s;
}

}  // namespace tpb
