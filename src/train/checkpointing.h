// How training uses checkpoints (checkpoint/checkpoint.h): what a checkpoint records for
// `train --resume`, the state a run starts from, and the saves during a run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "comm/communicator.h"
#include "train/data_parallel.h"
#include "train/trainer.h"

namespace tpb {

// The settings a resumed run continues with (a checkpoint's "resume"): preset, model,
// global batch, iterations, warm-up, optimizer, seed, data, and the layout it was saved at.
nlohmann::json resume_json(const TrainConfig& c, const ParallelDims& dims);
// The same settings read back into a TrainConfig (layout fields untouched; batch is the
// saved per-rank batch). UsageError naming the key when malformed.
TrainConfig config_from_resume(const nlohmann::json& resume);
// The global batch (sequences per step) a checkpoint was trained with.
int64_t resume_global_batch(const nlohmann::json& resume);

struct InitialState {
  int first_iter = 0;  // the checkpoint's step, or 0
  std::string note;    // where the state came from, for rank 0 to print
  std::string error;   // the same on every rank
};
// The seed, a checkpoint (c.resume_from) or HF weights (c.init_from) into the strategy's
// buffers. Collective over world.
InitialState load_initial_state(const TrainConfig& c, const ParallelDims& dims, DataParallel& dp, ModelParams& p,
                                Communicator& world);

// Whether iteration `it` (0-based) ends with a save: every save_every, and the last one.
bool save_due(const TrainConfig& c, int it);
// Saves the state after `steps` iterations; returns a line for rank 0 (the directory,
// bytes, seconds, MB/s a rank). Collective over world; throws Error on every rank.
std::string save_training_state(const TrainConfig& c, const ParallelDims& dims, DataParallel& dp, ModelParams& p,
                                Communicator& world, int64_t steps, const nlohmann::json& run_config);

}  // namespace tpb
