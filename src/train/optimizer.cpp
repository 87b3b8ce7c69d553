#include "train/optimizer.h"

#include <cmath>
#include <numbers>

#include "kernels/ops.h"

namespace tpb {

float learning_rate(const OptimizerConfig& c, int64_t step) {
  if (c.lr_warmup > 0 && step <= c.lr_warmup)
    return c.lr * static_cast<float>(step) / static_cast<float>(c.lr_warmup);
  const int64_t decay_steps = std::max<int64_t>(1, c.total_steps - c.lr_warmup);
  const double progress = std::min(1.0, static_cast<double>(step - c.lr_warmup) / static_cast<double>(decay_steps));
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  const double min_lr = c.lr * c.min_lr_ratio;
  return static_cast<float>(min_lr + (c.lr - min_lr) * cosine);
}

double global_grad_norm(ModelParams& p, Communicator& tp) {
  double sums[2] = {0, 0};  // sharded, replicated
  for (const Param& q : p.all()) {
    double s = 0;
    for (float g : q.grad.span_f32()) s += static_cast<double>(g) * g;
    sums[q.kind == ShardKind::replicated ? 1 : 0] += s;
  }
  double sharded = sums[0];
  tp.all_reduce(&sharded, &sharded, 1, DType::f64, ReduceOp::sum);
  return std::sqrt(sharded + sums[1]);
}

AdamW::AdamW(const OptimizerConfig& c, ModelParams& p)
    : c_(c),
      m_(Tensor::zeros(p.values().shape(), MemCategory::optimizer_state)),
      v_(Tensor::zeros(p.values().shape(), MemCategory::optimizer_state)) {}

double AdamW::step(ModelParams& p, Communicator& tp) {
  const double norm = global_grad_norm(p, tp);
  if (c_.grad_clip > 0 && norm > c_.grad_clip) {
    const float scale = static_cast<float>(c_.grad_clip / (norm + 1e-6));
    for (float& g : p.grads().span_f32()) g *= scale;
  }
  ++step_;
  last_lr_ = learning_rate(c_, step_);
  ops::AdamWConfig ac;
  ac.lr = last_lr_;
  ac.beta1 = c_.beta1;
  ac.beta2 = c_.beta2;
  ac.eps = c_.eps;
  ac.weight_decay = c_.weight_decay;
  ops::adamw_step(p.values(), m_, v_, p.grads(), ac, step_);
  return norm;
}

}  // namespace tpb
