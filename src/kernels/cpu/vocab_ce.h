// Vocab-parallel cross-entropy in steps, so the tensor-parallel all-reduces can go between
// them (src/model/vocab_parallel.h): each rank holds the logits of token ids
// [vocab_start, vocab_start + v) for every row.
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, int32 targets, no threads of their own.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// row_max[n] = max_j logits[n, j]
void ce_row_max(float* row_max, const float* logits, int64_t rows, int64_t v);
// stats[n] = sum_j exp(logits[n, j] - row_max[n]) (summed in double);
// stats[rows + n] = logits[n, targets[n] - vocab_start] when held here, else 0.
void ce_sum_exp_target(float* stats, const float* logits, const float* row_max,
                       const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start);
// ce_sum_exp_target, and logits[n, j] <- exp(logits[n, j] - row_max[n]) in place, so that
// backward need not evaluate exp again (ce_backward_from_exps).
void ce_sum_exp_target_keep_exps(float* stats, float* logits, const float* row_max, const int32_t* targets,
                                 int64_t rows, int64_t v, int64_t vocab_start);
// dlogits[n, j] = scale * (exps[n, j] / stats[n] - [j == target - vocab_start]); dlogits may be exps.
void ce_backward_from_exps(float* dlogits, const float* exps, const float* stats, const int32_t* targets,
                           int64_t rows, int64_t v, int64_t vocab_start, float scale);
// losses[n] = log(stats[n]) + row_max[n] - stats[rows + n]   (after the all-reduces)
void ce_losses(float* losses, const float* stats, const float* row_max, int64_t rows);
// dlogits[n, j] = scale * (exp(logits[n, j] - row_max[n]) / stats[n] - [j == target - vocab_start])
// (written, not accumulated)
void ce_backward(float* dlogits, const float* logits, const float* row_max, const float* stats,
                 const int32_t* targets, int64_t rows, int64_t v, int64_t vocab_start,
                 float scale);

}  // namespace tpb::cpu
