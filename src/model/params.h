// The model's parameters on one rank: every tensor by name, its tensor-parallel sharding,
// and views into flat buffers (values and gradients), so data parallelism can reduce
// gradients in a few large buckets and optimizers can walk one array.
//
// The flat layout is by unit (0 the embedding, 1 + l layer l, L + 1 the final norm and the
// output), each unit's range padded with zeros to a multiple of the dp size so it can be
// split evenly over the data-parallel ranks (ZeRO / FSDP shard every unit). With
// `materialize` the whole flat values and gradients are allocated and every parameter
// views them (DDP, ZeRO-1); without (FSDP), a unit's parameters exist only while
// bind_unit() has pointed them at buffers someone gathered.
//
// Sharding (Megatron): column-parallel weights (wq, wk, wv, w1, w3) and the vocab-parallel
// embedding and output keep a slice of ROWS (dim 0); row-parallel weights (wo, w2) a slice
// of COLUMNS (dim 1); norm weights are replicated on every TP rank. The slices' sizes are
// the model's LocalSizes (model/config.h), published by local().
//
// Serial-equivalent initialisation: each FULL tensor is drawn from its own stream seeded
// by (seed, name), then this rank keeps its slice, so tp = 1, 2, 4 start from the same model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/parallel_dims.h"
#include "model/config.h"
#include "parallel/sharding.h"
#include "tensor/tensor.h"

namespace tpb {

enum class ShardKind { replicated, rows, cols };

struct Param {
  std::string name;
  int64_t full_rows = 0, full_cols = 0;  // the unsharded shape (norm weights: rows = 1)
  ShardKind kind = ShardKind::replicated;
  Shard shard;           // rows or cols kept by this rank (the whole dim when replicated)
  Tensor value;          // local shape: (rows_local, cols_local), or (dim) for norms (fp32 master)
  Tensor grad;           // same shape, fp32
  Tensor compute;        // what the forward/backward read: value itself, or its bf16 copy
  int unit = 0;          // backward completion unit: 0 embedding, 1 + l layer l, L + 1 head
  int64_t flat_offset = 0;  // first element in the flat buffer

  Shape local_shape() const;  // (rows_local, cols_local), or (dim) for norms
  int64_t value_numel() const;
};

struct UnitRange {
  int64_t begin = 0;   // first element in the flat buffer
  int64_t size = 0;    // elements of parameters
  int64_t padded = 0;  // size rounded up to a multiple of the dp size
};

class ModelParams {
 public:
  // This TP rank's parameters of the layout `dims` (units padded to a multiple of dims.dp()).
  ModelParams(const ModelConfig& c, const ParallelDims& dims = {}, int tp_rank = 0, bool materialize = true,
              Placement placement = {});

  // Draws every full tensor from the seed and keeps this rank's slice (every unit must be bound) (DESIGN.md section 6
  // initialisation: embedding std 1; wq, wk, wv, w1 std 0.02; wo, w2, w3 std
  // 0.02 / sqrt(2 (l + 1)); output truncated normal (+-3 std) with std dim^-1/2; norms 1).
  void init_from_seed(uint64_t seed);
  // Replaces every local slice with the matching slice of `full` values given in
  // parameter order (tests). full[i] holds full_rows * full_cols floats.
  void set_from_full(const std::vector<std::vector<float>>& full);
  // Param i's local slice from its full values (full_rows * full_cols floats).
  void load_full(size_t i, const std::vector<float>& full);
  // The full tensor of param i (every rank draws the same), as init_from_seed would.
  std::vector<float> full_init(size_t i, uint64_t seed) const;

  std::vector<Param>& all() { return params_; }
  const std::vector<Param>& all() const { return params_; }
  // The flat buffers (materialized mode only; undefined otherwise).
  Tensor& values() { return values_; }
  Tensor& grads() { return grads_; }
  void zero_grads() { grads_.zero(); }
  const Placement& placement() const { return placement_; }
  // Mixed precision: casts the fp32 master values into the bf16 compute copy (after
  // initialisation and after every optimizer step). Nothing to do in fp32.
  void refresh_compute();
  bool materialized() const { return values_.defined(); }

  const std::vector<UnitRange>& units() const { return units_; }
  int64_t flat_size() const { return flat_size_; }
  // Points unit u's parameters at `values` and `grads` (each units()[u].padded elements;
  // grads may be undefined), or drops them (unbind).
  void bind_unit(int u, const Tensor& values, const Tensor& grads);
  void unbind_unit(int u);

  struct Layer {
    Param *attention_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w2, *w3;
  };
  Layer layer(int64_t l);
  Param& tok_embeddings() { return params_[0]; }
  Param& norm() { return params_[params_.size() - 2]; }
  Param& output() { return params_.back(); }
  int num_units() const { return static_cast<int>(config_.n_layers) + 2; }
  const ModelConfig& config() const { return config_; }
  const ParallelDims& dims() const { return dims_; }
  const LocalSizes& local() const { return local_; }
  int tp_rank() const { return tp_rank_; }
  int tp_size() const { return dims_.tp(); }

 private:
  // `local`: the size of this rank's slice of the split dimension (unused when replicated).
  void add(const std::string& name, int64_t rows, int64_t cols, ShardKind kind, int unit, int64_t local = 0);

  ModelConfig config_;
  ParallelDims dims_;
  LocalSizes local_;
  int tp_rank_;
  std::vector<Param> params_;
  std::vector<UnitRange> units_;
  int64_t flat_size_ = 0;
  Placement placement_;
  Tensor values_, grads_;  // flat, in parameter order (materialized mode)
  Tensor compute_;         // flat bf16 copy of values_ (mixed precision only)
};

}  // namespace tpb
