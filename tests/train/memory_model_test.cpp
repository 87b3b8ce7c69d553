// The memory model (src/train/memory_model.h) against the tracking allocator on the tiny
// model: what each --dp-shard layout holds after the last step, and the activations with
// and without --recompute block. Runs on 4 ranks.
#include <gtest/gtest.h>

#include <map>

#include "comm/mpi/mpi_communicator.h"
#include "model/tiny_train.h"
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

}  // namespace
}  // namespace tpb
