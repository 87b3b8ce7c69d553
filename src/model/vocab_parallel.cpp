#include "model/vocab_parallel.h"

#include "base/error.h"
#include "kernels/ops.h"
#include "parallel/conjugate.h"

namespace tpb {

void vocab_parallel_embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& tokens,
                                       int64_t vocab_start) {
  ops::embedding_backward(dtable, dout, tokens, vocab_start);
}

VocabParallelCE make_vocab_parallel_ce(int64_t rows, Device device, int64_t stat_rows) {
  const auto A = MemCategory::activations;
  TrackingAllocator& alloc = default_allocator(device);
  const int64_t s = stat_rows > 0 ? stat_rows : rows;
  return {Tensor::empty({s}, A, DType::f32, alloc), Tensor::empty({2 * s}, A, DType::f32, alloc),
          Tensor::empty({rows}, A, DType::f32, alloc)};
}

namespace {

// The row statistics, all-reduced, and every row's loss. `exps`: the logits themselves, left
// holding exp(logits - row max) (CPU), or nullptr.
void cross_entropy_stats(VocabParallelCE& ce, const Tensor& logits, Tensor* exps, const Tensor& targets,
                         int64_t vocab_start, Communicator& tp) {
  const int64_t rows = logits.shape().rows();
  TPB_CHECK(targets.numel() == rows && ce.losses.numel() == rows,
            "vocab-parallel cross-entropy: logits {} with {} targets", logits.shape().str(), targets.numel());
  ops::ce_row_max(ce.row_max, logits);
  all_reduce_tp(ce.row_max, tp, ReduceOp::max);
  if (exps)
    ops::ce_sum_exp_target_keep_exps(ce.sum_exp, *exps, ce.row_max, targets, vocab_start);
  else
    ops::ce_sum_exp_target(ce.sum_exp, logits, ce.row_max, targets, vocab_start);
  all_reduce_tp(ce.sum_exp, tp);
  ops::ce_losses(ce.losses, ce.sum_exp, ce.row_max);
}

}  // namespace

void vocab_parallel_cross_entropy_forward(VocabParallelCE& ce, const Tensor& logits, const Tensor& targets,
                                          int64_t vocab_start, Communicator& tp) {
  cross_entropy_stats(ce, logits, nullptr, targets, vocab_start, tp);
}

void vocab_parallel_cross_entropy_with_grad(VocabParallelCE& ce, Tensor& dlogits, Tensor& logits,
                                            const Tensor& targets, int64_t vocab_start, float scale,
                                            Communicator& tp) {
  const bool one_pass = logits.device() == Device::cpu && dlogits.dtype() == DType::f32;
  cross_entropy_stats(ce, logits, one_pass ? &logits : nullptr, targets, vocab_start, tp);
  if (one_pass)
    ops::ce_backward_from_exps(dlogits, logits, ce.sum_exp, targets, vocab_start, scale);
  else
    ops::ce_backward(dlogits, logits, ce.row_max, ce.sum_exp, targets, vocab_start, scale);
}

double mean_loss(const VocabParallelCE& ce) {
  const Tensor host = ce.losses.device() == Device::cpu ? ce.losses : ce.losses.to(Device::cpu, MemCategory::other);
  double total = 0;
  for (float l : host.span_f32()) total += l;
  return host.numel() ? total / static_cast<double>(host.numel()) : 0.0;
}

void vocab_parallel_cross_entropy_backward(Tensor& dlogits, const VocabParallelCE& ce,
                                           const Tensor& logits, const Tensor& targets,
                                           int64_t vocab_start, float dloss) {
  const int64_t rows = logits.shape().rows();
  TPB_CHECK(dlogits.numel() == logits.numel(), "dlogits {} for logits {}", dlogits.shape().str(),
            logits.shape().str());
  const float scale = dloss / static_cast<float>(rows);
  ops::ce_backward(dlogits, logits, ce.row_max, ce.sum_exp, targets, vocab_start, scale);
}

}  // namespace tpb
