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

void ce_sum_exp_target(float* stats, const float* logits, const float* row_max,
                       const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start) {
  for (int64_t n = 0; n < rows; ++n) {
    const float* zn = logits + n * v;
    // Sum in float lanes of 8 (vectorised), combined in double.
    float lanes[8] = {};
    const float mn = row_max[n];
    int64_t j = 0;
    for (; j + 8 <= v; j += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += fast_exp(zn[j + l] - mn);
    double acc = 0;
    for (int l = 0; l < 8; ++l) acc += lanes[l];
    for (; j < v; ++j) acc += fast_exp(zn[j] - mn);
    stats[n] = static_cast<float>(acc);
    const int64_t local = static_cast<int64_t>(targets[n]) - vocab_start;
    stats[rows + n] = (local >= 0 && local < v) ? zn[local] : 0.0f;
  }
}

void ce_sum_exp_target_keep_exps(float* stats, float* logits, const float* row_max, const int32_t* targets,
                                 int64_t rows, int64_t v, int64_t vocab_start) {
  for (int64_t n = 0; n < rows; ++n) {
    float* zn = logits + n * v;
    const int64_t local = static_cast<int64_t>(targets[n]) - vocab_start;
    stats[rows + n] = (local >= 0 && local < v) ? zn[local] : 0.0f;  // before it is overwritten
    float lanes[8] = {};
    const float mn = row_max[n];
    int64_t j = 0;
    for (; j + 8 <= v; j += 8)
      for (int l = 0; l < 8; ++l) {
        const float e = fast_exp(zn[j + l] - mn);
        zn[j + l] = e;
        lanes[l] += e;
      }
    double acc = 0;
    for (int l = 0; l < 8; ++l) acc += lanes[l];
    for (; j < v; ++j) {
      const float e = fast_exp(zn[j] - mn);
      zn[j] = e;
      acc += e;
    }
    stats[n] = static_cast<float>(acc);
  }
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
