// The shared-memory route (comm/mpi/shm_collectives.h) on split groups, on 4 ranks as a
// 2x2 mesh: tp groups {0,1} {2,3}, dp groups {0,2} {1,3}, the route forced to shm.
//   - both tp groups run the same op at once, each on its own window: all_reduce,
//     reduce_scatter(_v), all_gather(_v), broadcast at 0, 1, 13 and 1000003 elements (an odd
//     count, past the 1 MiB staging chunk), and uneven counts; results to the bit;
//   - a thread all-reduces on dp while the main thread all-reduces on tp (the DP-overlap
//     pattern of a communication thread), results to the bit;
//   - the CommLog says those calls took shm;
//   - under a table (all_reduce mpi below 4 KiB, shm from there) each call takes its route;
//   - a group destroyed while an error unwinds does not wait for its peers.
// Values are integers below 2^24, so every fp32 sum is exact whatever the order.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "comm/mpi/mpi_communicator.h"
#include "comm_test_util.h"

namespace tpb::testing {
namespace {

constexpr float kRankStride = 2097152.0f;  // 2^21: rank r's values are i + r * 2^21
const std::vector<size_t> kCounts = {0, 1, 13, 1000003};

float value(int world_rank, size_t i) { return static_cast<float>(i) + kRankStride * static_cast<float>(world_rank); }

class ShmMesh : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = MpiCommunicator::world();
    if (world_->size() != 4) GTEST_SKIP() << "needs 4 ranks, has " << world_->size();
    auto policy = std::make_shared<RoutePolicy>();
    policy->forced = CollRoute::shm;
    world_->set_route_policy(policy);
    me_ = world_->rank();
    tp_ = world_->split(me_ / 2, me_, "tp");  // {0,1} {2,3}
    dp_ = world_->split(me_ % 2, me_, "dp");  // {0,2} {1,3}
    ASSERT_TRUE(tp_->intra_node() && dp_->intra_node());
    world_->log().clear();
  }

  // The world ranks of my group, in group-rank order.
  std::vector<int> members(Communicator& c) { return c.world_ranks(); }

  // Every record of `c`'s group since the log was cleared took shm; returns how many.
  int expect_all_shm(Communicator& c) {
    int n = 0;
    for (const CommRecord& r : world_->log().records()) {
      if (r.group != c.group_id()) continue;
      ++n;
      EXPECT_EQ(static_cast<CollRoute>(r.route), CollRoute::shm)
          << comm_op_name(r.op) << " of " << r.bytes << " bytes on " << c.name();
    }
    return n;
  }

  std::unique_ptr<MpiCommunicator> world_;
  std::unique_ptr<Communicator> tp_, dp_;
  int me_ = 0;
};

TEST_F(ShmMesh, BothTpGroupsAtOnceGiveExactResults) {
  Communicator& tp = *tp_;
  const std::vector<int> m = members(tp);
  const int g = tp.rank();
  for (size_t n : kCounts) {
    SCOPED_TRACE("count " + std::to_string(n));
    const auto mine = make<float>(n, [&](size_t i) { return value(me_, i); });
    const auto sum_of_members = [&](size_t i) { return value(m[0], i) + value(m[1], i); };

    std::vector<float> ar(n, -1.0f);
    tp.all_reduce(mine.data(), ar.data(), n, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(ar, sum_of_members), -1);
    std::vector<float> in_place = mine;
    tp.all_reduce(in_place.data(), in_place.data(), n, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(in_place, sum_of_members), -1);

    // reduce_scatter: 2n in, my n out (block g of the sum).
    const auto mine2 = make<float>(2 * n, [&](size_t i) { return value(me_, i); });
    std::vector<float> rs(n, -1.0f);
    tp.reduce_scatter(mine2.data(), rs.data(), n, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(rs, [&](size_t i) { return sum_of_members(g * n + i); }), -1);

    std::vector<float> ag(2 * n, -1.0f);
    tp.all_gather(mine.data(), ag.data(), n, DType::f32);
    EXPECT_EQ(first_mismatch(ag, [&](size_t i) { return value(m[i / n], i % n); }), -1);

    for (int root = 0; root < 2; ++root) {
      std::vector<float> b = g == root ? mine : std::vector<float>(n, -1.0f);
      tp.broadcast(b.data(), n, DType::f32, root);
      EXPECT_EQ(first_mismatch(b, [&](size_t i) { return value(m[root], i); }), -1) << "root " << root;
    }
  }
  EXPECT_EQ(expect_all_shm(tp), static_cast<int>(kCounts.size()) * 6);
}

TEST_F(ShmMesh, UnevenCountsOnBothTpGroups) {
  Communicator& tp = *tp_;
  const std::vector<int> m = members(tp);
  const int g = tp.rank();
  const std::vector<std::vector<int64_t>> splits = {{500002, 500001}, {0, 13}, {1000003, 0}, {1, 0}, {0, 0}, {7, 1000003}};
  for (const auto& counts : splits) {
    SCOPED_TRACE("counts " + std::to_string(counts[0]) + ", " + std::to_string(counts[1]));
    const int64_t total = counts[0] + counts[1];
    const size_t off = g == 0 ? 0 : static_cast<size_t>(counts[0]);  // my block in the full buffer
    const auto full_sum = [&](size_t i) { return value(m[0], i) + value(m[1], i); };

    const auto mine = make<float>(static_cast<size_t>(total), [&](size_t i) { return value(me_, i); });
    std::vector<float> rs(static_cast<size_t>(counts[static_cast<size_t>(g)]), -1.0f);
    tp.reduce_scatter_v(mine.data(), rs.data(), counts, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(rs, [&](size_t i) { return full_sum(off + i); }), -1);

    // all_gather_v: rank g sends its block of `total` values (value(me, off + i)).
    const auto piece = make<float>(static_cast<size_t>(counts[static_cast<size_t>(g)]),
                                   [&](size_t i) { return value(me_, off + i); });
    std::vector<float> ag(static_cast<size_t>(total), -1.0f);
    tp.all_gather_v(piece.data(), ag.data(), counts, DType::f32);
    EXPECT_EQ(first_mismatch(ag, [&](size_t i) { return value(m[i < static_cast<size_t>(counts[0]) ? 0 : 1], i); }), -1);
  }
  EXPECT_EQ(expect_all_shm(tp), static_cast<int>(splits.size()) * 2);
}

TEST_F(ShmMesh, DpThreadOverlapsTpAllReduces) {
  if (!tp_->concurrent_calls_ok() || !dp_->concurrent_calls_ok())
    GTEST_SKIP() << "MPI was not given MPI_THREAD_MULTIPLE";
  constexpr int kIters = 200;
  // Mostly past the staging chunk (several rounds, long reductions that overlap), every
  // fourth small.
  const auto count_of = [](int it) { return it % 4 != 0 ? size_t{300007} : static_cast<size_t>(13 + it); };
  // Call `it` on a group of members m: rank r sends i + r * 2^21 + it (exact below 2^24).
  const auto run = [&](Communicator& c, int64_t& wrong) {
    const std::vector<int> m = c.world_ranks();
    for (int it = 0; it < kIters; ++it) {
      const size_t n = count_of(it);
      auto buf = make<float>(n, [&](size_t i) { return value(me_, i) + static_cast<float>(it); });
      c.all_reduce(buf.data(), buf.data(), n, DType::f32, ReduceOp::sum);
      if (first_mismatch(buf, [&](size_t i) { return value(m[0], i) + value(m[1], i) + 2.0f * it; }) != -1) ++wrong;
    }
  };
  int64_t dp_wrong = 0, tp_wrong = 0;
  std::thread comm_thread([&] { run(*dp_, dp_wrong); });
  run(*tp_, tp_wrong);
  comm_thread.join();
  EXPECT_EQ(dp_wrong, 0) << "dp all_reduces with a wrong value";
  EXPECT_EQ(tp_wrong, 0) << "tp all_reduces with a wrong value";
  EXPECT_EQ(expect_all_shm(*dp_), kIters);
  EXPECT_EQ(expect_all_shm(*tp_), kIters);
}

TEST_F(ShmMesh, TableRoutesEachCallBySize) {
  RouteTable t;
  t.set(CommOp::all_reduce, 2, {{4096, CollRoute::mpi}, {INT64_MAX, CollRoute::shm}});
  auto policy = std::make_shared<RoutePolicy>();
  policy->table = t;  // auto: the table
  tp_->set_route_policy(policy);
  const std::vector<int> m = tp_->world_ranks();
  const std::vector<std::pair<size_t, CollRoute>> calls = {
      {256, CollRoute::mpi}, {2048, CollRoute::shm}, {1023, CollRoute::mpi}, {1024, CollRoute::shm}};
  for (const auto& [n, route] : calls) {  // 1 KiB, 8 KiB, 4 KiB - 4 bytes, 4 KiB
    auto buf = make<float>(n, [&](size_t i) { return value(me_, i); });
    tp_->all_reduce(buf.data(), buf.data(), n, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(buf, [&](size_t i) { return value(m[0], i) + value(m[1], i); }), -1) << n;
  }
  const std::vector<CommRecord>& r = world_->log().records();
  ASSERT_EQ(r.size(), calls.size());
  for (size_t k = 0; k < calls.size(); ++k) {
    EXPECT_EQ(r[k].bytes, static_cast<int64_t>(calls[k].first * 4));
    EXPECT_EQ(static_cast<CollRoute>(r[k].route), calls[k].second) << r[k].bytes << " bytes";
  }
}

// A rank that fails gives up its shm groups while its error unwinds the stack, without the
// collective teardown (a last sync and MPI_Win_free) its peers may never reach: here the
// odd rank of each tp pair fails at once and the even one waits in a world barrier first,
// so a teardown that waited for its peer would deadlock (SIGALRM ends the test then). This
// is how `train` used to hang when one rank found its data file truncated.
TEST_F(ShmMesh, AGroupDestroyedWhileUnwindingDoesNotWaitForItsPeers) {
  alarm(60);
  bool caught = false;
  try {
    std::unique_ptr<Communicator> g = world_->split(me_ / 2, me_, "pair");
    auto buf = make<float>(13, [&](size_t i) { return value(me_, i); });
    g->all_reduce(buf.data(), buf.data(), buf.size(), DType::f32, ReduceOp::sum);  // the window exists
    if (me_ % 2 == 0) world_->barrier();  // the peer is unwinding meanwhile
    throw Error("this rank's error");
  } catch (const Error&) {
    caught = true;
  }
  if (me_ % 2 == 1) world_->barrier();
  alarm(0);
  EXPECT_TRUE(caught);
}

}  // namespace
}  // namespace tpb::testing
