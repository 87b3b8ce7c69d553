// AdamW over the flat parameter buffer, the learning-rate schedule, and global-norm
// gradient clipping that is correct under tensor and data parallelism.
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

class AdamW {
 public:
  AdamW(const OptimizerConfig& c, ModelParams& p);
  // One update with the current grads: clip (returns the norm before clipping), then step.
  double step(ModelParams& p, Communicator& tp);
  int64_t steps_taken() const { return step_; }
  float last_lr() const { return last_lr_; }

 private:
  OptimizerConfig c_;
  Tensor m_, v_;  // flat, like the parameters (optimizer_state)
  int64_t step_ = 0;
  float last_lr_ = 0;
};

}  // namespace tpb
