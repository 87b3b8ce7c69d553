// AdamW settings, the learning-rate schedule, and the global gradient norm under tensor
// parallelism (the AdamW update itself is applied by DataParallel, which knows where the
// gradients and optimizer state of each layout live).
#pragma once

#include <cstdint>

#include "comm/communicator.h"
#include "model/params.h"

namespace tpb {

struct OptimizerConfig {
  float lr = 3e-3f;
  float min_lr_ratio = 0.1f;  // cosine decays to lr * min_lr_ratio
  int64_t lr_warmup = 0;      // linear warm-up steps
  int64_t total_steps = 1;    // cosine reaches its floor here
  float weight_decay = 0.1f;  // decoupled (AdamW), applied to every parameter
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float grad_clip = 1.0f;     // max global gradient norm; <= 0 disables clipping
};

// lr at step (1-based): linear warm-up over lr_warmup steps, then cosine from lr down to
// lr * min_lr_ratio at total_steps, constant after.
float learning_rate(const OptimizerConfig& c, int64_t step);

// Global L2 norm of the gradients of the whole model: sharded parameters contribute their
// local squares summed over the TP group; replicated ones (norm weights, identical on every
// TP rank) are counted once. Gradients must already be averaged over data parallelism
// (identical on every DP rank), so no DP reduction is needed. Collective over tp.
double global_grad_norm(ModelParams& p, Communicator& tp);

}  // namespace tpb
