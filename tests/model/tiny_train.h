// The tiny training run the model equivalence tests share: 10 steps of the `tiny` preset
// (dim 32, 2 layers, 4 heads, 4 KV heads, FFN 48, vocab 64, seq 16) from fixed seeds.
#pragma once

#include "train/trainer.h"

namespace tpb {

inline TrainConfig tiny_train_config(int tp, int64_t batch) {
  TrainConfig c;
  c.preset = "tiny";
  c.model = model_preset("tiny");
  c.batch = batch;
  c.iters = 10;
  c.warmup_iters = 0;
  c.tp = tp;
  c.opt.lr = 3e-3f;
  c.opt.lr_warmup = 2;
  c.data.seed = 7;
  c.seed = 3;
  return c;
}

// Trains `c` on the mesh with the run's token source opened here.
inline TrainResult train_tiny(const TrainConfig& c, DeviceMesh& mesh, const TrainHooks& hooks = {}) {
  const auto source = open_token_source(c.data, c.model.vocab, c.model.seq);
  return run_training(c, mesh, *source, hooks);
}

}  // namespace tpb
