#include "model/vocab_parallel.h"

#include <cmath>

#include "base/error.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/ops.h"

namespace tpb {

void vocab_parallel_embedding_forward(Tensor& out, const Tensor& tokens, const Tensor& table,
                                      int64_t vocab_start, Communicator& tp) {
  ops::embedding_forward(out, tokens, table, vocab_start);
  if (tp.size() > 1) tp.all_reduce(out.span_f32(), ReduceOp::sum);
}

void vocab_parallel_embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& tokens,
                                       int64_t vocab_start) {
  ops::embedding_backward(dtable, dout, tokens, vocab_start);
}

VocabParallelCE make_vocab_parallel_ce(int64_t rows) {
  return {Tensor::empty({rows}, MemCategory::activations), Tensor::empty({2 * rows}, MemCategory::activations),
          Tensor::empty({rows}, MemCategory::activations)};
}

double vocab_parallel_cross_entropy_forward(VocabParallelCE& ce, const Tensor& logits,
                                            const Tensor& targets, int64_t vocab_start,
                                            Communicator& tp) {
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  TPB_CHECK(targets.numel() == rows && ce.losses.numel() == rows,
            "vocab-parallel cross-entropy: logits {} with {} targets", logits.shape().str(), targets.numel());
  const float* z = logits.f32();
  const int32_t* t = targets.i32();
  float* m = ce.row_max.f32();
  for (int64_t n = 0; n < rows; ++n) {
    const float* zn = z + n * v;
    float mx = -INFINITY;
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, zn[j]);
    m[n] = mx;
  }
  if (tp.size() > 1) tp.all_reduce(ce.row_max.span_f32(), ReduceOp::max);
  float* s = ce.sum_exp.f32();  // [0, rows): sum-exp; [rows, 2 rows): target logit
  for (int64_t n = 0; n < rows; ++n) {
    const float* zn = z + n * v;
    // Sum in float lanes of 8 (vectorised), combined in double.
    float lanes[8] = {};
    const float mn = m[n];
    int64_t j = 0;
    for (; j + 8 <= v; j += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += cpu::fast_exp(zn[j + l] - mn);
    double acc = 0;
    for (int l = 0; l < 8; ++l) acc += lanes[l];
    for (; j < v; ++j) acc += cpu::fast_exp(zn[j] - mn);
    s[n] = static_cast<float>(acc);
    const int64_t local = static_cast<int64_t>(t[n]) - vocab_start;
    s[rows + n] = (local >= 0 && local < v) ? zn[local] : 0.0f;
  }
  if (tp.size() > 1) tp.all_reduce(ce.sum_exp.span_f32(), ReduceOp::sum);
  double total = 0;
  for (int64_t n = 0; n < rows; ++n) {
    const double loss = std::log(static_cast<double>(s[n])) + m[n] - s[rows + n];
    ce.losses.f32()[n] = static_cast<float>(loss);
    total += loss;
  }
  return rows ? total / static_cast<double>(rows) : 0.0;
}

void vocab_parallel_cross_entropy_backward(Tensor& dlogits, const VocabParallelCE& ce,
                                           const Tensor& logits, const Tensor& targets,
                                           int64_t vocab_start, float dloss) {
  const int64_t rows = logits.shape().rows(), v = logits.shape().last();
  TPB_CHECK(dlogits.numel() == logits.numel(), "dlogits {} for logits {}", dlogits.shape().str(),
            logits.shape().str());
  const float scale = dloss / static_cast<float>(rows);
  const float* z = logits.f32();
  const float* m = ce.row_max.f32();
  const float* s = ce.sum_exp.f32();
  const int32_t* t = targets.i32();
  float* dz = dlogits.f32();
  for (int64_t n = 0; n < rows; ++n) {
    const float inv = scale / s[n];
    const float* zn = z + n * v;
    float* dn = dz + n * v;
    const float mn = m[n];
    for (int64_t j = 0; j < v; ++j) dn[j] = cpu::fast_exp(zn[j] - mn) * inv;
    const int64_t local = static_cast<int64_t>(t[n]) - vocab_start;
    if (local >= 0 && local < v) dn[local] -= scale;
  }
}

}  // namespace tpb
