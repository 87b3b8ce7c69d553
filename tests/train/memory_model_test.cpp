// The memory model (src/train/memory_model.h) against the tracking allocator on the tiny
// model: what each --dp-shard layout holds after the last step, and the activations with
// and without --recompute block. Runs on 4 ranks.
#include <gtest/gtest.h>

#include <map>

#include "comm/mpi/mpi_communicator.h"
#include "model/tiny_train.h"
#include "model/transformer.h"
#include "train/memory_model.h"
#include "train/trainer.h"

namespace tpb {
namespace {

// The memory each layout holds, measured by the tracking allocator after the last step,
// against docs/metrics.md's formula (within 5%), and the savings it promises on dp 4.
TEST(ShardedMemory, MeasuredMatchesFormulaAndShardingSaves) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 4);
  auto group = world->split(0, world->rank(), "mesh");
  DeviceMesh mesh(*group, ParallelDims(group->size(), 1));  // dp 4 x tp 1
  std::map<std::string, double> state, opt_state;
  for (const std::string shard : {"none", "optimizer", "full"}) {
    TrainConfig c = tiny_train_config(1, 2);
    c.model.dim = 64;  // large enough that per-unit padding and small tensors are noise
    c.model.ffn_hidden = 96;
    c.iters = 2;
    c.dp_shard = parse_dp_shard(shard);
    const TrainResult r = train_tiny(c, mesh);
    const MemStats& m = r.per_rank.at(static_cast<size_t>(world->rank())).back().mem;
    const MemoryPrediction want = predict_memory(c.model, ParallelDims(4, 1), c.dp_shard, c.batch, false);
    for (MemCategory cat : {MemCategory::parameters, MemCategory::gradients, MemCategory::optimizer_state}) {
      const double got = static_cast<double>(m.current_of(cat));
      EXPECT_NEAR(got, want.held(cat), 0.05 * want.held(cat)) << shard << " " << mem_category_name(cat);
    }
    state[shard] = static_cast<double>(m.current_of(MemCategory::parameters) + m.current_of(MemCategory::gradients) +
                                       m.current_of(MemCategory::optimizer_state));
    opt_state[shard] = static_cast<double>(m.current_of(MemCategory::optimizer_state));
  }
  EXPECT_LE(state["full"], 0.30 * state["none"]);
  EXPECT_NEAR(opt_state["none"] / opt_state["optimizer"], 4.0, 0.2);
}

TEST(ShardedMemory, RecomputeKeepsFewerActivations) {
  auto world = MpiCommunicator::world();
  auto group = world->split(0, world->rank(), "mesh");
  DeviceMesh mesh(*group, ParallelDims(group->size(), 2));
  TrainConfig c = tiny_train_config(2, 2);
  c.model.n_layers = 6;
  c.iters = 1;
  double peak[2];
  for (int rc = 0; rc < 2; ++rc) {
    c.recompute = rc == 1;
    const TrainResult r = train_tiny(c, mesh);
    peak[rc] = static_cast<double>(r.per_rank.at(0).back().mem.current_of(MemCategory::activations));
    EXPECT_NEAR(peak[rc], activation_bytes(c.model, local_sizes(c.model, 2), c.batch, c.recompute), 1.0);
  }
  EXPECT_LT(peak[1], 0.5 * peak[0]);
}

// The loss head holds one chunk of logits (and of their gradient) and one chunk's row
// statistics: a 1-step run of the tiny model at tp 2 x dp 2 with --loss-chunk 4 allocates the
// formula's activations to the byte, exactly 2 x (rows - 4) x V_local + 3 x (rows - 4) fp32
// values fewer than with one chunk of all 32 rows.
TEST(ShardedMemory, ChunkedLossHeadHoldsOneChunkOfLogits) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 4);
  auto group = world->split(0, world->rank(), "mesh");
  DeviceMesh mesh(*group, ParallelDims(group->size(), 2));
  double measured[2];
  const int64_t chunks[2] = {0, 4};
  TrainConfig c = tiny_train_config(2, 2);
  c.iters = 1;
  for (int k = 0; k < 2; ++k) {
    c.loss_chunk = chunks[k];
    const TrainResult r = train_tiny(c, mesh);
    measured[k] = static_cast<double>(r.per_rank.at(0).back().mem.current_of(MemCategory::activations));
    EXPECT_NEAR(measured[k], activation_bytes(c.model, local_sizes(c.model, 2), c.batch, false, c.loss_chunk), 0.5)
        << "--loss-chunk " << c.loss_chunk;
  }
  const double rows = static_cast<double>(c.batch * c.model.seq), vl = static_cast<double>(c.model.vocab / 2);
  EXPECT_EQ(measured[0] - measured[1], 4 * (2 * (rows - 4) * vl + 3 * (rows - 4)));
}

// With --sp the residual stream, the norms' statistics and the residual gradients hold
// seq / tp positions: the activations a 1-step run of the tiny model allocates (tp 2 x dp 2
// and tp 4, with and without recompute) equal the SP formula to the byte, and are fewer
// than without SP. The small preset (batch 8, seq 256) is checked on its allocation alone
// (make_transformer_activations, measured by the tracking allocator), as a run would take
// long here.
TEST(ShardedMemory, SequenceParallelActivationsMatchTheFormula) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 4);
  for (int tp : {2, 4}) {
    auto group = world->split(0, world->rank(), "mesh");
    for (bool recompute : {false, true}) {
      double measured[2];
      for (int sp = 0; sp < 2; ++sp) {
        DeviceMesh mesh(*group, ParallelDims(group->size(), tp, sp == 1));
        TrainConfig c = tiny_train_config(tp, 2);
        c.sp = sp == 1;
        c.recompute = recompute;
        c.iters = 1;
        const TrainResult r = train_tiny(c, mesh);
        measured[sp] = static_cast<double>(r.per_rank.at(0).back().mem.current_of(MemCategory::activations));
        EXPECT_NEAR(measured[sp], activation_bytes(c.model, local_sizes(c.model, tp, c.sp), c.batch, recompute), 0.5)
            << "tiny, tp " << tp << (c.sp ? " --sp" : "") << (recompute ? " --recompute block" : "");
      }
      EXPECT_LT(measured[1], measured[0]) << "tp " << tp << (recompute ? " --recompute block" : "");
    }
  }
  if (world->rank() != 0) return;
  const ModelConfig small = model_preset("small");
  TrackingAllocator& alloc = default_allocator(Device::cpu);
  for (int tp : {2, 4})
    for (bool recompute : {false, true}) {
      const LocalSizes local = local_sizes(small, tp, true);
      const int64_t before = alloc.stats().current_of(MemCategory::activations);
      {
        const TransformerActivations a = make_transformer_activations(small, local, 8, recompute);
        const double got = static_cast<double>(alloc.stats().current_of(MemCategory::activations) - before);
        EXPECT_NEAR(got, activation_bytes(small, local, 8, recompute), 0.5)
            << "small, tp " << tp << " --sp" << (recompute ? " --recompute block" : "");
      }
    }
}

}  // namespace
}  // namespace tpb
