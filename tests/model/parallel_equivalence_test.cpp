// The same tiny model trained 10 steps at every mesh that fits 4 ranks — (tp, dp) in
// (1,1), (2,1), (4,1), (1,2), (2,2) — must give the losses of TP = 1 / DP = 1 trained on
// the same global batch (DP = 2 with batch b sees what DP = 1 sees with batch 2b), within
// 1e-5 relative, step by step. Runs on 4 ranks; each mesh on the first tp x dp of them.
// The same with sequence parallelism (--sp) on each --dp-shard layout.
#include <gtest/gtest.h>

#include <map>

#include "comm/mpi/mpi_communicator.h"
#include "model/tiny_train.h"
#include "train/trainer.h"

namespace tpb {
namespace {

TrainConfig tiny_config(int tp, int64_t batch) { return tiny_train_config(tp, batch); }

// Loss and global gradient norm of every step. The norm matters: AdamW's first updates are
// nearly sign(gradient), so a gradient that is wrong in magnitude (a missing all-reduce)
// would barely show in the losses, but it shows in the norm.
std::vector<double> losses_of(const TrainResult& r) {
  std::vector<double> l;
  for (const IterRecord& it : r.per_rank.at(0)) {
    l.push_back(it.loss);
    l.push_back(it.grad_norm);
  }
  return l;
}

// Losses and gradient norms of training `c` on the first `size` ranks of `world` (others
// return {}).
std::vector<double> train_on(Communicator& world, int size, const TrainConfig& c, bool overlap = false) {
  const bool member = world.rank() < size;
  auto group = world.split(member ? 0 : 1, world.rank(), "mesh");
  if (!member) return {};
  DeviceMesh mesh(*group, ParallelDims(group->size(), c.tp, c.sp));
  TrainConfig cc = c;
  cc.dp_overlap = overlap;
  cc.bucket_mb = 0.01;  // several buckets even for the tiny model
  return losses_of(train_tiny(cc, mesh));
}

void expect_same_losses(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::abs(want[i]))
        << what << ", step " << i / 2 + 1 << (i % 2 ? " gradient norm" : " loss");
}

TEST(ParallelEquivalence, LossesMatchSerialForEveryMesh) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 4) << "run this test on 4 ranks";
  const int64_t b = 2;
  // References: TP = 1, DP = 1, global batch b and 2b, computed on rank 0 alone.
  const auto ref_b = train_on(*world, 1, tiny_config(1, b));
  const auto ref_2b = train_on(*world, 1, tiny_config(1, 2 * b));
  if (world->rank() == 0) {
    ASSERT_EQ(ref_b.size(), 20u);
    EXPECT_LT(ref_b[18], ref_b[0]) << "the tiny model should learn";
  }
  struct Mesh { int tp, dp; };
  for (Mesh m : {Mesh{2, 1}, Mesh{4, 1}, Mesh{1, 2}, Mesh{2, 2}}) {
    const auto got = train_on(*world, m.tp * m.dp, tiny_config(m.tp, b));
    if (world->rank() == 0)
      expect_same_losses(got, m.dp == 1 ? ref_b : ref_2b,
                         "tp " + std::to_string(m.tp) + " dp " + std::to_string(m.dp));
  }
  // Overlapped gradient reduction changes when, not what.
  const auto overlapped = train_on(*world, 4, tiny_config(2, b), /*overlap=*/true);
  if (world->rank() == 0) expect_same_losses(overlapped, ref_2b, "tp 2 dp 2 with --dp-overlap");
}

// Sequence parallelism moves the norms and the residual stream to sequence shards and
// changes f / g into all-gathers and reduce-scatters: every step's loss and gradient norm
// still match TP = 1 on the same global batch, at tp 2 and 4 with dp 1 and tp 2 with dp 2,
// under each --dp-shard mode, with block recomputation and with the DP-overlap thread. The
// gradient norm fails if the norm weights' gradients are not all-reduced over TP.
TEST(ParallelEquivalence, SequenceParallelMatchesSerial) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 4) << "run this test on 4 ranks";
  const int64_t b = 2;
  const auto ref_b = train_on(*world, 1, tiny_config(1, b));
  const auto ref_2b = train_on(*world, 1, tiny_config(1, 2 * b));
  struct Mesh { int tp, dp; };
  for (Mesh m : {Mesh{2, 1}, Mesh{4, 1}, Mesh{2, 2}})
    for (const std::string shard : {"none", "optimizer", "full"}) {
      TrainConfig c = tiny_config(m.tp, b);
      c.sp = true;
      c.dp_shard = parse_dp_shard(shard);
      const auto got = train_on(*world, m.tp * m.dp, c);
      if (world->rank() == 0)
        expect_same_losses(got, m.dp == 1 ? ref_b : ref_2b,
                           "sp, tp " + std::to_string(m.tp) + " dp " + std::to_string(m.dp) + ", --dp-shard " + shard);
    }
  TrainConfig c = tiny_config(2, b);
  c.sp = true;
  c.recompute = true;
  const auto recomputed = train_on(*world, 4, c);
  if (world->rank() == 0) expect_same_losses(recomputed, ref_2b, "sp, tp 2 dp 2, --recompute block");
  c.recompute = false;
  const auto overlapped = train_on(*world, 4, c, /*overlap=*/true);
  if (world->rank() == 0) expect_same_losses(overlapped, ref_2b, "sp, tp 2 dp 2, --dp-overlap");
  // The loss head in chunks of 5 token rows (32 per DP rank: the last chunk is short), with
  // and without SP, FSDP for the head's gradient added in backward.
  c.loss_chunk = 5;
  c.dp_shard = DpShard::full;
  const auto chunked = train_on(*world, 4, c);
  if (world->rank() == 0) expect_same_losses(chunked, ref_2b, "sp, tp 2 dp 2, --dp-shard full, --loss-chunk 5");
  c.sp = false;
  c.tp = 4;
  c.dp_shard = DpShard::none;
  const auto chunked_tp4 = train_on(*world, 4, c);
  if (world->rank() == 0) expect_same_losses(chunked_tp4, ref_b, "tp 4, --loss-chunk 5");
}

}  // namespace
}  // namespace tpb

namespace tpb {
namespace {

// ZeRO-1 and FSDP (with and without prefetch) and block recomputation change where bytes
// live and when they move, not the maths: every step's loss and gradient norm match DDP on
// the same mesh, on dp 2 x tp 2 and dp 4 x tp 1.
TEST(ParallelEquivalence, ShardedDataParallelAndRecomputeMatchDdp) {
  auto world = MpiCommunicator::world();
  ASSERT_EQ(world->size(), 4) << "run this test on 4 ranks";
  for (int tp : {2, 1}) {
    const std::string mesh = "dp " + std::to_string(4 / tp) + " x tp " + std::to_string(tp);
    const TrainConfig base = tiny_config(tp, 2);
    const auto ddp = train_on(*world, 4, base);
    struct Variant {
      std::string name, shard;
      bool prefetch, recompute, overlap;
    };
    for (const Variant& v : {Variant{"optimizer", "optimizer", true, false, false},
                             Variant{"optimizer + overlap", "optimizer", true, false, true},
                             Variant{"full + prefetch", "full", true, false, false},
                             Variant{"full, no prefetch", "full", false, false, false},
                             Variant{"recompute block", "none", true, true, false},
                             Variant{"full + recompute", "full", true, true, false}}) {
      TrainConfig c = base;
      c.dp_shard = parse_dp_shard(v.shard);
      c.prefetch = v.prefetch;
      c.recompute = v.recompute;
      const auto got = train_on(*world, 4, c, v.overlap);
      if (world->rank() == 0) expect_same_losses(got, ddp, mesh + ", " + v.name);
    }
  }
}

}  // namespace
}  // namespace tpb
