// What each rank's memory should be, by category, for a model, mesh and data-parallel
// layout: the formulas of docs/metrics.md ("Memory"), beside which `train` prints what the
// tracking allocator measured, and which `train --dry-run` prints to plan a run.
#pragma once

#include <array>
#include <cstdint>

#include "comm/parallel_dims.h"
#include "model/config.h"
#include "tensor/allocator.h"
#include "train/dp_shard.h"

namespace tpb {

struct MemoryPrediction {
  // Bytes held between steps, and the most each category adds during a step (activations
  // are allocated once and count as persistent).
  std::array<double, kNumMemCategories> persistent{};
  std::array<double, kNumMemCategories> transient{};
  double peak(MemCategory c) const { return persistent[idx(c)] + transient[idx(c)]; }
  double held(MemCategory c) const { return persistent[idx(c)]; }
  double total_peak() const;  // sum over categories of peak(): an upper bound

 private:
  static size_t idx(MemCategory c) { return static_cast<size_t>(c); }
};

// Elements of the TP-local flat parameter buffer (units padded to a multiple of dp).
int64_t local_parameter_elements(const ModelConfig& c, const ParallelDims& dims);
// The bytes of activations `make_transformer_activations` allocates.
// loss_chunk: --loss-chunk (0: auto, model/loss_head.h).
double activation_bytes(const ModelConfig& c, const LocalSizes& local, int64_t batch, bool recompute,
                        int64_t loss_chunk = 0);

MemoryPrediction predict_memory(const ModelConfig& c, const ParallelDims& dims, DpShard shard, int64_t batch,
                                bool recompute, int64_t loss_chunk = 0);

}  // namespace tpb
