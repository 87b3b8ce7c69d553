// Every data-parallel strategy's overlapped paths on the CPU: the dp communicator is a
// QueuingCommunicator (tests/testing/queuing_communicator.h), which reports that it queues
// device work and runs deferred collectives only at join(), as late as a GPU stream could.
// DDP and ZeRO-1 then take the deferred path (no thread) that NCCL runs take on GPUs;
// FSDP, which never defers, prefetches on its communication thread. Each run must train
// bit for bit as the synchronous run of the same strategy on the plain MPI communicator.
// Runs on 2 ranks (dp 2, tp 1).
#include <gtest/gtest.h>

#include <cstring>

#include "comm/device_mesh.h"
#include "comm/mpi/mpi_communicator.h"
#include "data/token_source.h"
#include "model/tiny_train.h"
#include "testing/queuing_communicator.h"
#include "train/data_parallel.h"

namespace tpb {
namespace {

struct Trained {
  std::vector<double> losses, norms;
  std::vector<float> values;  // the flat parameters after training (materialized layouts)
};

// Three steps of the tiny model, driven as the trainer drives them.
Trained train(DpShard mode, bool overlap, Communicator& dp, Communicator& tp) {
  const TrainConfig c = tiny_train_config(1, 2);
  ModelParams p(c.model, ParallelDims(dp.size(), 1), 0, mode != DpShard::full);
  TransformerActivations acts = make_transformer_activations(c.model, p.local(), c.batch);
  // Small buckets: DDP has several, so buckets complete during backward.
  const auto data_parallel = make_data_parallel(mode, p, dp, tp, /*bucket_bytes=*/4096, overlap);
  data_parallel->init_params(c.seed);
  const auto source = open_token_source(c.data, c.model.vocab, c.model.seq);
  OptimizerConfig oc = c.opt;
  oc.total_steps = 3;
  Trained t;
  for (int it = 0; it < 3; ++it) {
    get_batch(*source, it, static_cast<int64_t>(dp.rank()) * c.batch, acts.tokens, acts.targets);
    transformer_forward_pass(acts, p, tp, nullptr, data_parallel.get());
    data_parallel->zero_grads();
    transformer_backward(acts, p, tp, nullptr, data_parallel.get());
    data_parallel->finish_backward();
    t.norms.push_back(data_parallel->optimizer_step(oc, it + 1, learning_rate(oc, it + 1)));
    t.losses.push_back(mean_loss(acts.head.ce));
  }
  if (p.materialized()) {
    t.values.resize(static_cast<size_t>(p.flat_size()));
    std::memcpy(t.values.data(), p.values().f32(), t.values.size() * sizeof(float));
  }
  return t;
}

class DeferredDataParallel : public ::testing::TestWithParam<DpShard> {};

TEST_P(DeferredDataParallel, OverlappedOnAQueuingCommunicatorTrainsAsSynchronous) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 2) << "run this test on 2 ranks";
  DeviceMesh mesh(*world, ParallelDims(2, 1));
  const DpShard mode = GetParam();
  const Trained want = train(mode, /*overlap=*/false, mesh.dp(), mesh.tp());

  QueuingCommunicator queued(mesh.dp());
  const Trained got = train(mode, /*overlap=*/true, queued, mesh.tp());
  // The deferred path really deferred (DDP, ZeRO-1), and FSDP never does.
  if (mode == DpShard::full) EXPECT_EQ(queued.deferred_calls(), 0);
  else EXPECT_GT(queued.deferred_calls(), 0);
  EXPECT_EQ(queued.pending(), 0u) << "collectives left queued after the step";
  EXPECT_EQ(got.losses, want.losses);
  EXPECT_EQ(got.norms, want.norms);
  EXPECT_EQ(got.values, want.values);

  // Without overlap a queuing communicator is used synchronously: nothing deferred.
  QueuingCommunicator plain(mesh.dp());
  const Trained sync = train(mode, /*overlap=*/false, plain, mesh.tp());
  EXPECT_EQ(plain.deferred_calls(), 0);
  EXPECT_EQ(sync.losses, want.losses);
  EXPECT_EQ(sync.values, want.values);
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, DeferredDataParallel,
                         ::testing::Values(DpShard::none, DpShard::optimizer, DpShard::full),
                         [](const auto& p) { return dp_shard_name(p.param); });

}  // namespace
}  // namespace tpb
