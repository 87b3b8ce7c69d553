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
  // Squares of sharded parameters are summed over TP; replicated ones count once. With the
  // flat gradient buffer, one pass over it (one read-back on a GPU) gives the total, and
  // only the (small) replicated norm weights are summed apart when TP splits the rest.
  double sums[2] = {0, 0};  // sharded, replicated
  const bool split = tp.size() > 1;
  if (p.materialized()) {
    const double total = ops::sum_squares(p.grads());
    if (split)
      for (const Param& q : p.all())
        if (q.kind == ShardKind::replicated) sums[1] += ops::sum_squares(q.grad);
    sums[0] = total - sums[1];
  } else {
    for (const Param& q : p.all()) sums[q.kind == ShardKind::replicated ? 1 : 0] += ops::sum_squares(q.grad);
  }
  double sharded = sums[0];
  if (split) tp.all_reduce(&sharded, &sharded, 1, DType::f64, ReduceOp::sum);
  return std::sqrt(sharded + sums[1]);
}

}  // namespace tpb
