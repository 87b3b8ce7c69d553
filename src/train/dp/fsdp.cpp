#include "train/dp/fsdp.h"

#include "base/clock.h"
#include "base/error.h"

namespace tpb {

Fsdp::Fsdp(ModelParams& p, Communicator& dp, Communicator& tp, bool prefetch)
    : p_(p), dp_(dp), tp_(tp), shards_(p, dp), queue_(dp, prefetch, /*allow_deferred=*/false) {
  TPB_CHECK(!p.materialized(), "--dp-shard full needs unmaterialized parameters");
  value_shard_ = dp_zeros(p, {shards_.total()}, MemCategory::parameters);
}

void Fsdp::init_params(uint64_t seed) {
  // One unit at a time: build its full (TP-local) values, keep this rank's shard.
  for (int u = 0; u < p_.num_units(); ++u) {
    Tensor full = dp_zeros(p_, {p_.units()[static_cast<size_t>(u)].padded}, MemCategory::other);
    p_.bind_unit(u, full, Tensor{});
    for (size_t i = 0; i < p_.all().size(); ++i)
      if (p_.all()[i].unit == u) p_.load_full(i, p_.full_init(i, seed));
    p_.unbind_unit(u);
    value_shard_.narrow0(shards_.offset(u), shards_.size(u))
        .copy_from(full.narrow0(dp_.rank() * shards_.size(u), shards_.size(u)));
  }
}

std::vector<ckpt::StateRange> Fsdp::state_ranges(bool /*owned: the same*/) {
  using ckpt::StateKind;
  std::vector<ckpt::StateRange> out;
  for (const auto& [kind, t] : {std::pair{StateKind::param, &value_shard_}, std::pair{StateKind::exp_avg, &shards_.m},
                                std::pair{StateKind::exp_avg_sq, &shards_.v}})
    for (ckpt::StateRange& s : unit_shards_of_shards(p_, dp_.rank(), dp_.size(), kind, *t)) out.push_back(s);
  return out;
}

Tensor Fsdp::gather(int u) {
  Tensor full = dp_empty(p_, {p_.units()[static_cast<size_t>(u)].padded}, MemCategory::comm_buffers);
  dp_.all_gather(value_shard_.f32() + shards_.offset(u), full.f32(), static_cast<size_t>(shards_.size(u)),
                 DType::f32);
  return full;
}

void Fsdp::prefetch(int u) {
  if (queue_.kind() != CommQueue::Kind::thread || u < 0 || u >= p_.num_units() || gathered_.count(u) ||
      pending_.count(u))
    return;
  // The buffer is created here (main thread) so its lifetime is the map's, and filled there.
  Tensor full = dp_empty(p_, {p_.units()[static_cast<size_t>(u)].padded}, MemCategory::comm_buffers);
  gathered_[u] = full;
  const int64_t off = shards_.offset(u), n = shards_.size(u);
  pending_[u] = queue_.submit([this, full, off, n]() mutable {
    dp_.all_gather(value_shard_.f32() + off, full.f32(), static_cast<size_t>(n), DType::f32);
  });
}

void Fsdp::before_unit(int u, bool backward) {
  const int64_t t0 = now_ns();
  if (auto it = pending_.find(u); it != pending_.end()) {
    queue_.wait(it->second);
    pending_.erase(it);
  } else if (!gathered_.count(u)) {
    queue_.finish();  // keep the dp communicator to one thread at a time
    gathered_[u] = gather(u);
  }
  exposed_ns_ += now_ns() - t0;
  Tensor grads;
  if (backward) {
    grads = dp_zeros(p_, {p_.units()[static_cast<size_t>(u)].padded}, MemCategory::gradients);
    unit_grads_[u] = grads;
  }
  p_.bind_unit(u, gathered_[u], grads);
  prefetch(backward ? u - 1 : u + 1);  // the unit that comes next in this pass
}

void Fsdp::after_unit(int u, bool backward) {
  if (backward) return;  // backward releases in grads_ready
  p_.unbind_unit(u);
  gathered_.erase(u);
}

void Fsdp::grads_ready(int u) {
  Tensor grads = unit_grads_[u];
  unit_grads_.erase(u);
  p_.unbind_unit(u);
  gathered_.erase(u);
  queue_.run([this, u, grads] { shards_.reduce_scatter(u, grads); });
}

void Fsdp::finish_backward() {
  queue_.finish();
  pending_.clear();
  gathered_.clear();
}

double Fsdp::optimizer_step(const OptimizerConfig& c, int64_t step, float lr) {
  const double norm = shards_.grad_norm(tp_);
  clip_gradients(shards_.grads, norm, c);
  ops::adamw_step(value_shard_, shards_.m, shards_.v, shards_.grads, adamw_config(c, lr), step);
  return norm;
}

double Fsdp::take_exposed_gather_seconds() {
  const double s = static_cast<double>(exposed_ns_) * 1e-9;
  exposed_ns_ = 0;
  return s;
}

}  // namespace tpb
