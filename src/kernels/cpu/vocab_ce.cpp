#include "kernels/cpu/vocab_ce.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/fast_exp.h"

namespace tpb::cpu {

void ce_row_max(float* row_max, const float* logits, int64_t rows, int64_t v) {
  for (int64_t n = 0; n < rows; ++n) {
    const float* zn = logits + n * v;
    float mx = -INFINITY;
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, zn[j]);
    row_max[n] = mx;
  }
}

namespace {

// stats for every row; with exps (which may be logits itself) also exp(z - m) stored there.
// The target logit is read before its row is overwritten.
template <bool kKeepExps>
void sum_exp_target(float* stats, const float* logits, float* exps, const float* row_max, const int32_t* targets,
                    int64_t rows, int64_t v, int64_t vocab_start) {
  for (int64_t n = 0; n < rows; ++n) {
    const float* zn = logits + n * v;
    float* en = kKeepExps ? exps + n * v : nullptr;
    const int64_t local = static_cast<int64_t>(targets[n]) - vocab_start;
    stats[rows + n] = (local >= 0 && local < v) ? zn[local] : 0.0f;
    // Sum in float lanes of 8 (vectorised), combined in double.
    float lanes[8] = {};
    const float mn = row_max[n];
    int64_t j = 0;
    for (; j + 8 <= v; j += 8)
      for (int l = 0; l < 8; ++l) {
        const float e = fast_exp(zn[j + l] - mn);
        if constexpr (kKeepExps) en[j + l] = e;
        lanes[l] += e;
      }
    double acc = 0;
    for (int l = 0; l < 8; ++l) acc += lanes[l];
    for (; j < v; ++j) {
      const float e = fast_exp(zn[j] - mn);
      if constexpr (kKeepExps) en[j] = e;
      acc += e;
    }
    stats[n] = static_cast<float>(acc);
  }
}

}  // namespace

void ce_sum_exp_target(float* stats, const float* logits, const float* row_max,
                       const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start) {
  sum_exp_target<false>(stats, logits, nullptr, row_max, targets, rows, v, vocab_start);
}

void ce_sum_exp_target_keep_exps(float* stats, float* logits, const float* row_max, const int32_t* targets,
                                 int64_t rows, int64_t v, int64_t vocab_start) {
  sum_exp_target<true>(stats, logits, logits, row_max, targets, rows, v, vocab_start);
}

void ce_backward_from_exps(float* dlogits, const float* exps, const float* stats, const int32_t* targets,
                           int64_t rows, int64_t v, int64_t vocab_start, float scale) {
  for (int64_t n = 0; n < rows; ++n) {
    const float inv = scale / stats[n];
    const float* en = exps + n * v;
    float* dn = dlogits + n * v;
    for (int64_t j = 0; j < v; ++j) dn[j] = en[j] * inv;
    const int64_t local = static_cast<int64_t>(targets[n]) - vocab_start;
    if (local >= 0 && local < v) dn[local] -= scale;
  }
}

void ce_losses(float* losses, const float* stats, const float* row_max, int64_t rows) {
  for (int64_t n = 0; n < rows; ++n)
    losses[n] = static_cast<float>(std::log(static_cast<double>(stats[n])) + row_max[n] - stats[rows + n]);
}

void ce_backward(float* dlogits, const float* logits, const float* row_max, const float* stats,
                 const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start,
                 float scale) {
  for (int64_t n = 0; n < rows; ++n) {
    const float inv = scale / stats[n];
    const float* zn = logits + n * v;
    float* dn = dlogits + n * v;
    const float mn = row_max[n];
    for (int64_t j = 0; j < v; ++j) dn[j] = fast_exp(zn[j] - mn) * inv;
    const int64_t local = static_cast<int64_t>(targets[n]) - vocab_start;
    if (local >= 0 && local < v) dn[local] -= scale;
  }
}

}  // namespace tpb::cpu
