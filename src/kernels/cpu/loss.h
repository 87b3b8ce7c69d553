// Losses: softmax cross-entropy over a vocabulary (the language-model loss) and mean
// squared error (for the toy regression workloads).
//
// Conventions of every kernel in src/kernels/cpu: raw pointers and int64_t sizes, dense
// row-major fp32, int32 targets, no threads of their own. Backward kernels ACCUMULATE (+=)
// into every gradient output: the caller zeros gradients first.
#pragma once

#include <cstdint>

namespace tpb::cpu {

// losses[n] = logsumexp(logits[n, :]) - logits[n, targets[n]]   (max-subtracted, stable)
//   losses: (N)   logits: (N, V)   targets: (N) int32 in [0, V), checked
void cross_entropy_forward(float* losses, const float* logits, const int32_t* targets,
                           int64_t n_rows, int64_t v);

// dlogits[n, :] += dlosses[n] * (softmax(logits[n, :]) - onehot(targets[n]))
// The softmax is recomputed from the logits: no (N, V) probabilities are kept in between.
//   dlogits: (N, V)   dlosses: (N)   logits: (N, V)   targets: (N) int32 in [0, V), checked
void cross_entropy_backward(float* dlogits, const float* dlosses, const float* logits,
                            const int32_t* targets, int64_t n_rows, int64_t v);

// Returns mean_i (pred[i] - target[i])^2, accumulated in double. n > 0.
//   pred, target: (n)
double mse_forward(const float* pred, const float* target, int64_t n);

// dpred[i] += dloss * 2 (pred[i] - target[i]) / n. n > 0.
//   dpred, pred, target: (n)
void mse_backward(float* dpred, const float* pred, const float* target, int64_t n, float dloss);

}  // namespace tpb::cpu
