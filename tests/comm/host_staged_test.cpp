// The host-staged communicator on the ranks mpirun started, without a GPU:
//  * the collective test body (collective_cases.cpp) with host buffers, which pass
//    straight through (nothing is ever staged), and with every buffer on a fake device
//    (host memory that the StagingMemory predicate calls device memory, copied with
//    memcpy), which runs the staging path itself: closed forms to the bit either way, in
//    and out of place and with host and device buffers mixed;
//  * the staging pattern (synchronise / copy in / copy back, once per call, the staging
//    buffer kept) checked by counting, for every collective.
// Values are small integers, so every reduction is exact whatever the order.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "collective_cases.h"
#include "comm/mpi/host_staged_communicator.h"
#include "comm/mpi/mpi_communicator.h"

namespace tpb::testing {
namespace {

Backend host_staged_on_host_memory() {
  Backend b;
  b.name = "HostStagedHostMemory";
  b.make = [] {
    BackendSetup s;
    s.memory = std::make_shared<HostMemory>();
    s.comm = HostStagedCommunicator::world();  // the real device runtime: host memory here
    s.after_test = [](Communicator& c) {
      EXPECT_EQ(dynamic_cast<HostStagedCommunicator&>(c).staging_bytes(), 0u) << "host buffers were staged";
    };
    return s;
  };
  return b;
}

// The FakeDevice lives as long as the memory that claims its buffers (the setup keeps the
// memory alive past the communicator, whose StagingMemory points at the fake).
class FakeDeviceBackendMemory : public FakeDeviceMemory {
 public:
  FakeDeviceBackendMemory() : FakeDeviceMemory(&fake) {}
  FakeDevice fake;
};

Backend host_staged_on_fake_device() {
  Backend b;
  b.name = "HostStagedFakeDevice";
  b.make = [] {
    BackendSetup s;
    auto memory = std::make_shared<FakeDeviceBackendMemory>();
    s.comm = HostStagedCommunicator::world(memory->fake.memory());
    s.memory = memory;
    return s;
  };
  return b;
}

INSTANTIATE_TEST_SUITE_P(HostStaged, Collectives,
                         ::testing::Values(host_staged_on_host_memory(), host_staged_on_fake_device()),
                         backend_name);

// Every collective on fake-device buffers: exactly one compute-stream synchronisation per
// call, each buffer it reads copied in and each it writes copied back, once.
TEST(HostStaged, EveryCollectiveOnDeviceBuffersSynchronisesOnceAndStages) {
  FakeDevice fake;
  auto staged = HostStagedCommunicator::world(fake.memory());
  const int n = staged->size(), rank = staged->rank();
  const size_t peers = static_cast<size_t>(n);
  struct Call {
    std::string name;
    std::function<void()> run;
    int to_host;    // copies in (buffers read)
    int to_device;  // copies back (buffers written)
  };
  std::vector<float> a(1000 * peers, 1.0f), b(1000 * peers, 0.0f);
  fake.claim(a);
  fake.claim(b);
  const auto counts = tensor_split_counts(1000, n);
  const int64_t offset = sum_before(counts, rank);
  const std::vector<Call> calls = {
      {"all_reduce", [&] { staged->all_reduce(a.data(), b.data(), 1000, DType::f32, ReduceOp::sum); }, 1, 1},
      {"all_reduce in place", [&] { staged->all_reduce(b.data(), b.data(), 1000, DType::f32, ReduceOp::max); }, 1, 1},
      {"all_gather", [&] { staged->all_gather(a.data(), b.data(), 1000, DType::f32); }, 1, 1},
      {"all_gather_v", [&] { staged->all_gather_v(a.data() + offset, b.data(), counts, DType::f32); }, 1, 1},
      {"reduce_scatter", [&] { staged->reduce_scatter(a.data(), b.data(), 1000, DType::f32, ReduceOp::sum); }, 1, 1},
      {"reduce_scatter_v", [&] { staged->reduce_scatter_v(a.data(), b.data(), counts, DType::f32, ReduceOp::avg); }, 1, 1},
      {"all_to_all", [&] { staged->all_to_all(a.data(), b.data(), 1000, DType::f32); }, 1, 1},
  };
  for (const Call& c : calls) {
    SCOPED_TRACE(c.name);
    const int syncs = fake.syncs, to_host = fake.to_host, to_device = fake.to_device;
    c.run();
    EXPECT_EQ(fake.syncs - syncs, 1) << "one compute-stream synchronisation per call";
    EXPECT_EQ(fake.to_host - to_host, c.to_host);
    EXPECT_EQ(fake.to_device - to_device, c.to_device);
  }
  // A barrier has no buffers: nothing to wait for or copy.
  const int syncs = fake.syncs;
  staged->barrier();
  EXPECT_EQ(fake.syncs, syncs);
  // The staging buffer holds the largest call's send and recv regions.
  std::vector<float> big(size_t{1} << 16, 1.0f);
  fake.claim(big);
  staged->all_reduce(big.data(), big.data(), big.size(), DType::f32, ReduceOp::sum);
  EXPECT_GE(staged->staging_bytes(), (size_t{1} << 16) * sizeof(float));
  EXPECT_EQ(big[0], static_cast<float>(n));
}

TEST(HostStaged, SynchronisesCopiesInAndBackOncePerCallAndKeepsItsBuffer) {
  FakeDevice fake;
  auto staged = HostStagedCommunicator::world(fake.memory());
  std::vector<float> in(1000, 1.0f), out(1000);
  fake.claim(in);
  fake.claim(out);
  staged->all_reduce(in.data(), out.data(), in.size(), DType::f32, ReduceOp::sum);
  const size_t held = staged->staging_bytes();
  EXPECT_GE(held, 2 * in.size() * sizeof(float));  // send and recv regions
  for (int i = 0; i < 3; ++i) {
    staged->all_reduce(in.data(), out.data(), in.size(), DType::f32, ReduceOp::sum);
    EXPECT_EQ(staged->staging_bytes(), held) << "a call of the same size reallocated";
  }
  EXPECT_EQ(fake.syncs, 4);
  EXPECT_EQ(fake.to_host, 4);    // send in
  EXPECT_EQ(fake.to_device, 4);  // recv back
  EXPECT_EQ(out[0], static_cast<float>(staged->size()));
  // In place: one region, one copy each way. Smaller: the buffer is kept as it is.
  staged->all_reduce(out.data(), out.data(), 10, DType::f32, ReduceOp::max);
  EXPECT_EQ(fake.to_host, 5);
  EXPECT_EQ(fake.to_device, 5);
  EXPECT_EQ(staged->staging_bytes(), held);
  // Larger: grows once.
  std::vector<float> big(100000, 2.0f);
  fake.claim(big);
  staged->all_reduce(big.data(), big.data(), big.size(), DType::f32, ReduceOp::sum);
  EXPECT_GE(staged->staging_bytes(), big.size() * sizeof(float));
  EXPECT_EQ(big[99999], 2.0f * static_cast<float>(staged->size()));
  // Host buffers: no synchronisation, no copies.
  std::vector<double> scalar = {1.0};
  staged->all_reduce(scalar.data(), scalar.data(), 1, DType::f64, ReduceOp::sum);
  EXPECT_EQ(fake.syncs, 6);
  EXPECT_EQ(fake.to_host, 6);
  EXPECT_EQ(scalar[0], static_cast<double>(staged->size()));
}

TEST(HostStaged, BroadcastCopiesTheRootInAndTheOthersBack) {
  FakeDevice fake;
  auto staged = HostStagedCommunicator::world(fake.memory());
  for (int root = 0; root < staged->size(); ++root) {
    std::vector<int32_t> buf(50, staged->rank());
    fake.claim(buf);
    const int to_host = fake.to_host, to_device = fake.to_device;
    staged->broadcast(buf.data(), buf.size(), DType::i32, root);
    fake.forget();
    EXPECT_EQ(buf, std::vector<int32_t>(50, root));
    const bool is_root = staged->rank() == root;
    EXPECT_EQ(fake.to_host - to_host, is_root ? 1 : 0) << "root " << root;
    EXPECT_EQ(fake.to_device - to_device, is_root ? 0 : 1) << "root " << root;
  }
}

TEST(HostStaged, SplitGivesAHostStagedChildThatStages) {
  FakeDevice fake;
  auto staged = HostStagedCommunicator::world(fake.memory());
  const int rank = staged->rank(), n = staged->size();
  auto half = staged->split(rank % 2, rank, "parity");
  EXPECT_NE(dynamic_cast<HostStagedCommunicator*>(half.get()), nullptr);
  EXPECT_EQ(&half->log(), &staged->log());
  EXPECT_EQ(half->name(), "parity");
  std::vector<float> x = {static_cast<float>(rank)};
  fake.claim(x);
  const int syncs = fake.syncs;
  const size_t records = half->log().records().size();
  half->all_reduce(x, ReduceOp::sum);
  EXPECT_EQ(fake.syncs, syncs + 1) << "the child does not stage";
  EXPECT_EQ(half->log().records().size(), records + 1);
  float want = 0;
  for (int r = rank % 2; r < n; r += 2) want += static_cast<float>(r);
  EXPECT_EQ(x[0], want);
}

}  // namespace
}  // namespace tpb::testing
