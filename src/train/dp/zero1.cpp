#include "train/dp/zero1.h"

#include "base/error.h"

namespace tpb {

Zero1::Zero1(ModelParams& p, Communicator& dp, Communicator& tp, bool overlap)
    : p_(p), dp_(dp), tp_(tp), shards_(p, dp), queue_(dp, overlap, /*allow_deferred=*/true) {
  TPB_CHECK(p.materialized(), "--dp-shard optimizer needs materialized parameters");
}

std::vector<ckpt::StateRange> Zero1::state_ranges(bool owned) {
  using ckpt::StateKind;
  const int r = dp_.rank(), d = dp_.size();
  std::vector<ckpt::StateRange> out;
  if (owned) out = unit_shards_of_flat(p_, r, d, StateKind::param, p_.values());
  else out.push_back({StateKind::param, 0, p_.values()});  // every rank holds all parameters
  for (const auto& [kind, t] : {std::pair{StateKind::exp_avg, &shards_.m}, std::pair{StateKind::exp_avg_sq, &shards_.v}})
    for (ckpt::StateRange& s : unit_shards_of_shards(p_, r, d, kind, *t)) out.push_back(s);
  return out;
}

void Zero1::zero_grads() {
  p_.zero_grads();
  queue_.begin();
}

void Zero1::grads_ready(int u) {
  const UnitRange r = p_.units()[static_cast<size_t>(u)];
  Tensor unit = p_.grads().narrow0(r.begin, r.padded);
  queue_.run([this, u, unit] { shards_.reduce_scatter(u, unit); });
}

double Zero1::optimizer_step(const OptimizerConfig& c, int64_t step, float lr) {
  const double norm = shards_.grad_norm(tp_);
  clip_gradients(shards_.grads, norm, c);
  const ops::AdamWConfig ac = adamw_config(c, lr);
  // Update this rank's shard of every unit in place, then all-gather each unit.
  for (int u = 0; u < p_.num_units(); ++u) {
    const UnitRange r = p_.units()[static_cast<size_t>(u)];
    const int64_t n = shards_.size(u), off = shards_.offset(u);
    Tensor mine = p_.values().narrow0(r.begin + dp_.rank() * n, n);
    Tensor m = shards_.m.narrow0(off, n), v = shards_.v.narrow0(off, n), g = shards_.grads.narrow0(off, n);
    ops::adamw_step(mine, m, v, g, ac, step);
    dp_.all_gather(mine.f32(), p_.values().f32() + r.begin, static_cast<size_t>(n), DType::f32);
  }
  p_.refresh_compute();
  return norm;
}

}  // namespace tpb
