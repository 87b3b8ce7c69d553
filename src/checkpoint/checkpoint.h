// tpbench's sharded checkpoints (docs/checkpoints.md): each rank writes its own shard file,
// one metadata file says where every piece of every tensor lies in global coordinates, so a
// checkpoint saved at one layout (tp, dp, --dp-shard, --sp) loads at any other.
//
//   SAVE_DIR/step-00000010/metadata.json    format, step, layout, the run's config, what
//                                           `train --resume` continues with, every file's
//                                           size and per-MiB CRC-32s, every tensor's chunks
//   SAVE_DIR/step-00000010/rank-00000.bin   rank 0's elements, raw little-endian fp32
//   SAVE_DIR/latest                         "step-00000010": written last
//
// What a rank writes: its 1/dp share of every unit of its TP-local flat buffers (parameters,
// AdamW exp_avg and exp_avg_sq): for FSDP and ZeRO-1 what it owns, for DDP an even split of
// what every DP rank holds, so each element is written once per TP rank (norm weights,
// replicated over TP, are referenced from TP rank 0's files only).
//
// Atomic: the files go to SAVE_DIR/.tmp-step-...-PID, each fsynced; then metadata.json;
// the directory is renamed to step-N (never over an existing one), then `latest` replaced.
// A kill at any point leaves the previous checkpoint and `latest` as they were.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "checkpoint/tensor_store.h"
#include "comm/communicator.h"
#include "comm/parallel_dims.h"
#include "model/params.h"
#include "tensor/tensor.h"

namespace tpb::ckpt {

inline constexpr const char* kFormat = "tpbench.checkpoint/1";

enum class StateKind { param, exp_avg, exp_avg_sq };
// The stored tensor's key: "layers.0.attention.wq", "optim.exp_avg.layers.0.attention.wq", ...
std::string state_key(StateKind kind, const std::string& param);

// Elements [flat_begin, flat_begin + data.numel()) of one of this rank's TP-local flat
// buffers (ModelParams' layout, padding included), viewed by data (1-D fp32, any device).
struct StateRange {
  StateKind kind = StateKind::param;
  int64_t flat_begin = 0;
  Tensor data;
};

// The global rectangle a parameter's local slice covers (norm weights: 1 x dim).
Box local_box(const Param& p);

struct SaveRequest {
  std::string save_dir;
  int64_t step = 0;              // iterations done
  nlohmann::json resume;         // what `train --resume` continues with (cli/cmd_train.cpp)
  nlohmann::json config;         // the run's config.json
};

struct SaveResult {
  std::string dir;               // SAVE_DIR/step-N
  uint64_t rank_bytes = 0;       // this rank's file
  uint64_t total_bytes = 0;      // every rank's
  double seconds = 0;            // the slowest rank's write and fsync
};

// "step-00000010"
std::string step_dir_name(int64_t step);

// Collective over world: every rank writes `owned`; throws Error, the same on every rank,
// when any rank could not write (nothing of this checkpoint is then left behind).
SaveResult save_checkpoint(Communicator& world, const ModelParams& p, std::span<const StateRange> owned,
                           const SaveRequest& req);

struct Checkpoint {
  std::string dir;   // the step directory
  nlohmann::json meta;
  TensorStore store;
  int64_t step = 0;
};

// DIR is a step directory (it holds metadata.json) or a save directory whose `latest` names
// one. Reads and checks the metadata and that every shard file exists with its recorded
// size: UsageError naming the path otherwise.
Checkpoint open_checkpoint(const std::string& path);

// Every parameter of `p` (any layout) is in the checkpoint with its full shape, and the
// checkpoint holds no other parameter: UsageError naming the tensor otherwise.
void check_model_matches(const Checkpoint& c, const ModelParams& p);

struct LoadResult {
  std::string error;   // "" or the first failing rank's message (the same on every rank)
  ReadStats stats;     // this rank's
  double seconds = 0;  // the slowest rank's
};
// Collective over world: fills every range from the checkpoint (checksums verified).
LoadResult load_state(Communicator& world, const TensorStore& store, const ModelParams& p,
                      std::span<const StateRange> held);

// Test hook (docs/reliability.md): with TPB_TEST_FAULT=checkpoint-kill-before-metadata, rank 0
// kills itself after every shard file of a checkpoint is written, before its metadata.
inline constexpr const char* kFaultEnv = "TPB_TEST_FAULT";

}  // namespace tpb::ckpt
