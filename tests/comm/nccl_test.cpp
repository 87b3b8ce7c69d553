// Collectives on device buffers, against closed forms, for the two GPU communicators:
// NCCL (one GPU per rank: skipped when ranks share a GPU) and MPI with host staging. Every
// rank selects GPU (rank on its node) % (GPUs on its node), as make_world does. Without a
// CUDA device every test is skipped, saying so.
//
// Values are small integers, so every sum is exact whatever the reduction order; results
// are copied back to the host with device::copy_bytes (on the compute stream, so it also
// checks that the results are ordered before later work there).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <numeric>
#include <string>
#include <typeinfo>
#include <vector>

#include "base/bf16.h"
#include "base/error.h"
#include "comm/mpi/host_staged_communicator.h"
#include "comm/nccl/nccl_world.h"
#include "device/device.h"

namespace tpb {
namespace {

// What this job has, decided once and alike on every rank (an all-reduce over the world).
struct Gpus {
  int devices = 0;     // the fewest any rank sees
  int local_size = 1;  // ranks on this node
  bool one_per_rank = false;
  std::string why;
};

const Gpus& gpus() {
  static const Gpus g = [] {
    Gpus out;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm node = MPI_COMM_NULL;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    int local_rank = 0;
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &out.local_size);
    MPI_Comm_free(&node);
    const int devices = device::cuda_device_count(&out.why);
    const int mine[2] = {devices, out.local_size <= devices ? 1 : 0};
    int fewest[2] = {0, 0};
    MPI_Allreduce(mine, fewest, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    out.devices = fewest[0];
    out.one_per_rank = fewest[1] == 1;
    if (out.devices > 0) device::use_cuda_device(local_rank % devices);
    return out;
  }();
  return g;
}

// A device copy of a host vector, freed with the scope; host() copies it back.
template <typename T>
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<T>& init) : n_(init.size()) {
    if (n_ > 0) ptr_ = static_cast<T*>(device::cuda_malloc(bytes()));
    device::copy_bytes(ptr_, init.data(), bytes());
  }
  DeviceVector(size_t n, T value) : DeviceVector(std::vector<T>(n, value)) {}
  ~DeviceVector() {
    if (ptr_) device::cuda_free(ptr_, bytes());
  }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;

  T* data() const { return ptr_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  std::vector<T> host() const {
    std::vector<T> v(n_);
    device::copy_bytes(v.data(), ptr_, bytes());
    return v;
  }

 private:
  size_t n_ = 0;
  T* ptr_ = nullptr;
};

template <typename T, typename F>
std::vector<T> make(size_t n, F value) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = value(i);
  return v;
}

// First index where got[i] != want(i), or -1 (one line of output on millions of values).
template <typename T, typename F>
int64_t first_mismatch(const std::vector<T>& got, F want) {
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want(i))) return static_cast<int64_t>(i);
  return -1;
}

std::vector<int64_t> uneven_counts(int n) {  // rank r: r + 2 elements when even, none when odd
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) counts[static_cast<size_t>(r)] = r % 2 == 0 ? r + 2 : 0;
  return counts;
}

enum class Backend { nccl, host_staged };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::nccl ? "Nccl" : "HostStaged";
}

constexpr size_t kBig = size_t{1} << 22;  // 4 Mi elements: 16 MiB of fp32

class DeviceCollectives : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const Gpus& g = gpus();
    if (g.devices == 0)
      GTEST_SKIP() << "no CUDA device: NCCL/host-staging GPU tests did not run (" << g.why << ")";
    if (GetParam() == Backend::nccl && !g.one_per_rank)
      GTEST_SKIP() << "NCCL needs one GPU per rank: " << g.local_size << " ranks on this node, "
                   << g.devices << " GPU(s)";
    if (GetParam() == Backend::nccl)
      comm_ = make_nccl_world();
    else
      comm_ = HostStagedCommunicator::world();
  }
  void TearDown() override { comm_.reset(); }

  int rank() const { return comm_->rank(); }
  int n() const { return comm_->size(); }
  float tri() const { return static_cast<float>(n() * (n() - 1) / 2); }
  std::unique_ptr<Communicator> comm_;
};

TEST_P(DeviceCollectives, AllReduceSumMaxAvgInAndOutOfPlace) {
  for (size_t count : {size_t{1}, size_t{13}, kBig}) {
    SCOPED_TRACE("count " + std::to_string(count));
    const auto init = make<float>(count, [&](size_t i) { return static_cast<float>(rank() + static_cast<int>(i % 7)); });
    DeviceVector<float> in(init), out(count, -1.0f);
    comm_->all_reduce(in.data(), out.data(), count, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(out.host(), [&](size_t i) { return tri() + static_cast<float>(n() * static_cast<int>(i % 7)); }), -1) << "sum";
    DeviceVector<float> m(init);
    comm_->all_reduce(m.data(), m.data(), count, DType::f32, ReduceOp::max);
    EXPECT_EQ(first_mismatch(m.host(), [&](size_t i) { return static_cast<float>(n() - 1 + static_cast<int>(i % 7)); }), -1) << "max";
    DeviceVector<float> a(init);
    comm_->all_reduce(a.data(), a.data(), count, DType::f32, ReduceOp::avg);
    const auto got = a.host();
    for (size_t i = 0; i < count; i += 1 + count / 1000)
      ASSERT_NEAR(got[i], (n() - 1) / 2.0 + static_cast<double>(i % 7), 1e-5) << "avg at " << i;
  }
}

TEST_P(DeviceCollectives, AllReduceOtherTypes) {
  // bf16: sums within 256 are exact; avg is exact when the group size is a power of two.
  const auto values = make<float>(1001, [&](size_t i) { return static_cast<float>(rank() + static_cast<int>(i % 7)); });
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = float_to_bf16(values[i]);
  DeviceVector<uint16_t> s(bits), a(bits);
  comm_->all_reduce(s.data(), s.data(), s.size(), DType::bf16, ReduceOp::sum);
  comm_->all_reduce(a.data(), a.data(), a.size(), DType::bf16, ReduceOp::avg);
  const auto sum = s.host(), avg = a.host();
  const bool pow2 = (n() & (n() - 1)) == 0;
  for (size_t i = 0; i < bits.size(); ++i) {
    const float want = tri() + static_cast<float>(n() * static_cast<int>(i % 7));
    ASSERT_EQ(bf16_to_float(sum[i]), want) << "bf16 sum at " << i;
    ASSERT_NEAR(bf16_to_float(avg[i]), want / static_cast<float>(n()), pow2 ? 0.0 : 0.05) << "bf16 avg at " << i;
  }
  DeviceVector<double> d(make<double>(5, [&](size_t i) { return 0.5 * rank() + static_cast<double>(i); }));
  comm_->all_reduce(d.data(), d.data(), d.size(), DType::f64, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(d.host(), [&](size_t i) { return 0.5 * tri() + static_cast<double>(n() * static_cast<int>(i)); }), -1) << "f64";
  DeviceVector<int32_t> i32(make<int32_t>(7, [&](size_t i) { return rank() * 10 + static_cast<int32_t>(i); }));
  comm_->all_reduce(i32.data(), i32.data(), i32.size(), DType::i32, ReduceOp::max);
  EXPECT_EQ(first_mismatch(i32.host(), [&](size_t i) { return (n() - 1) * 10 + static_cast<int32_t>(i); }), -1) << "i32 max";
  DeviceVector<int64_t> i64(make<int64_t>(7, [&](size_t i) { return (int64_t{1} << 40) + rank() + static_cast<int64_t>(i); }));
  comm_->all_reduce(i64.data(), i64.data(), i64.size(), DType::i64, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(i64.host(), [&](size_t i) { return n() * ((int64_t{1} << 40) + static_cast<int64_t>(i)) + static_cast<int64_t>(tri()); }), -1) << "i64 sum";
}

TEST_P(DeviceCollectives, AllGatherInAndOutOfPlace) {
  for (size_t count : {size_t{1}, size_t{13}, kBig / 4}) {
    SCOPED_TRACE("count " + std::to_string(count));
    auto want = [&](size_t j) { return static_cast<float>(static_cast<int>(j / count) * 1000 + static_cast<int>(j % count % 997)); };
    DeviceVector<float> in(make<float>(count, [&](size_t i) { return static_cast<float>(rank() * 1000 + static_cast<int>(i % 997)); }));
    DeviceVector<float> out(count * static_cast<size_t>(n()), -1.0f);
    comm_->all_gather(in.data(), out.data(), count, DType::f32);
    EXPECT_EQ(first_mismatch(out.host(), want), -1) << "out of place";
    std::vector<float> init(count * static_cast<size_t>(n()), -1.0f);
    for (size_t i = 0; i < count; ++i) init[static_cast<size_t>(rank()) * count + i] = want(static_cast<size_t>(rank()) * count + i);
    DeviceVector<float> buf(init);
    comm_->all_gather(buf.data() + static_cast<size_t>(rank()) * count, buf.data(), count, DType::f32);
    EXPECT_EQ(first_mismatch(buf.host(), want), -1) << "in place";
  }
  // u8 moves as bytes.
  DeviceVector<uint8_t> in(3, static_cast<uint8_t>(rank() + 1)), out(3 * static_cast<size_t>(n()), 0);
  comm_->all_gather(in.data(), out.data(), 3, DType::u8);
  EXPECT_EQ(first_mismatch(out.host(), [](size_t j) { return static_cast<uint8_t>(j / 3 + 1); }), -1) << "u8";
}

TEST_P(DeviceCollectives, AllGatherVWithEmptyRanks) {
  const auto counts = uneven_counts(n());
  const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  const int64_t offset = std::accumulate(counts.begin(), counts.begin() + rank(), int64_t{0});
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  DeviceVector<float> in(make<float>(mine, [&](size_t i) { return static_cast<float>(offset + static_cast<int64_t>(i)); }));
  DeviceVector<float> out(static_cast<size_t>(total), -1.0f);
  comm_->all_gather_v(in.data(), out.data(), counts, DType::f32);
  EXPECT_EQ(first_mismatch(out.host(), [](size_t j) { return static_cast<float>(j); }), -1) << "out of place";
  std::vector<float> init(static_cast<size_t>(total), -1.0f);
  for (size_t i = 0; i < mine; ++i) init[static_cast<size_t>(offset) + i] = static_cast<float>(offset + static_cast<int64_t>(i));
  DeviceVector<float> buf(init);
  comm_->all_gather_v(buf.data() + offset, buf.data(), counts, DType::f32);
  EXPECT_EQ(first_mismatch(buf.host(), [](size_t j) { return static_cast<float>(j); }), -1) << "in place";
}

TEST_P(DeviceCollectives, ReduceScatterInAndOutOfPlace) {
  for (size_t recv_count : {size_t{1}, size_t{13}, kBig / 4}) {
    SCOPED_TRACE("recv_count " + std::to_string(recv_count));
    const size_t total = recv_count * static_cast<size_t>(n());
    const auto init = make<float>(total, [&](size_t j) { return static_cast<float>(rank() + static_cast<int>(j % 101)); });
    auto want = [&](size_t i) {
      return tri() + static_cast<float>(n() * static_cast<int>((static_cast<size_t>(rank()) * recv_count + i) % 101));
    };
    DeviceVector<float> in(init), out(recv_count, -1.0f);
    comm_->reduce_scatter(in.data(), out.data(), recv_count, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(out.host(), want), -1) << "out of place";
    DeviceVector<float> buf(init);
    float* mine = buf.data() + static_cast<size_t>(rank()) * recv_count;
    comm_->reduce_scatter(buf.data(), mine, recv_count, DType::f32, ReduceOp::avg);
    const auto all = buf.host();
    const std::vector<float> got(all.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(rank()) * recv_count),
                                 all.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(rank() + 1) * recv_count));
    for (size_t i = 0; i < recv_count; i += 1 + recv_count / 1000)
      ASSERT_NEAR(got[i], want(i) / static_cast<float>(n()), 1e-5) << "in place, avg, at " << i;
  }
}

TEST_P(DeviceCollectives, ReduceScatterVWithEmptyRanks) {
  const auto counts = uneven_counts(n());
  const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  const int64_t offset = std::accumulate(counts.begin(), counts.begin() + rank(), int64_t{0});
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  // Rank r holds j + r at global index j: sum n*j + tri, max j + n - 1, avg j + (n-1)/2.
  const auto init = make<float>(total, [&](size_t j) { return static_cast<float>(static_cast<int>(j) + rank()); });
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::avg}) {
    SCOPED_TRACE(std::string(reduce_op_name(op)));
    auto want = [&](size_t i) {
      const double j = static_cast<double>(offset) + static_cast<double>(i);
      return op == ReduceOp::sum ? n() * j + tri() : op == ReduceOp::max ? j + n() - 1 : j + (n() - 1) / 2.0;
    };
    DeviceVector<float> in(init), out(mine, -1.0f);
    comm_->reduce_scatter_v(in.data(), out.data(), counts, DType::f32, op);
    const auto got = out.host();
    for (size_t i = 0; i < mine; ++i) ASSERT_NEAR(got[i], want(i), 1e-5) << "out of place at " << i;
    // In place (NCCL's form): recv is this rank's block of send.
    DeviceVector<float> buf(init);
    comm_->reduce_scatter_v(buf.data(), buf.data() + offset, counts, DType::f32, op);
    const auto all = buf.host();
    for (size_t i = 0; i < mine; ++i)
      ASSERT_NEAR(all[static_cast<size_t>(offset) + i], want(i), 1e-5) << "in place at " << i;
  }
}

TEST_P(DeviceCollectives, BroadcastFromEveryRoot) {
  for (int root = 0; root < n(); ++root) {
    for (size_t count : {size_t{1}, size_t{13}, kBig}) {
      DeviceVector<float> buf(count, static_cast<float>(rank()));
      comm_->broadcast(buf.data(), count, DType::f32, root);
      EXPECT_EQ(first_mismatch(buf.host(), [&](size_t) { return static_cast<float>(root); }), -1)
          << "root " << root << ", count " << count;
    }
    DeviceVector<uint8_t> bytes(5, static_cast<uint8_t>(rank() + 7));
    comm_->broadcast(bytes.data(), bytes.size(), DType::u8, root);
    EXPECT_EQ(bytes.host(), std::vector<uint8_t>(5, static_cast<uint8_t>(root + 7))) << "u8, root " << root;
  }
}

TEST_P(DeviceCollectives, AllToAllTransposesBlocksInAndOutOfPlace) {
  auto code = [](int from, int to, size_t k) {
    return static_cast<float>(from * 100000 + to * 1000 + static_cast<int>(k % 997));
  };
  const size_t peers = static_cast<size_t>(n());
  for (size_t per_peer : {size_t{1}, size_t{13}, kBig / 16}) {
    SCOPED_TRACE("per peer " + std::to_string(per_peer));
    const auto init = make<float>(per_peer * peers, [&](size_t j) { return code(rank(), static_cast<int>(j / per_peer), j % per_peer); });
    auto want = [&](size_t j) { return code(static_cast<int>(j / per_peer), rank(), j % per_peer); };
    DeviceVector<float> send(init), recv(init.size(), -1.0f);
    comm_->all_to_all(send.data(), recv.data(), per_peer, DType::f32);
    EXPECT_EQ(first_mismatch(recv.host(), want), -1) << "out of place";
    comm_->all_to_all(send.data(), send.data(), per_peer, DType::f32);
    EXPECT_EQ(first_mismatch(send.host(), want), -1) << "in place";
  }
}

TEST_P(DeviceCollectives, ResultsAreOrderedAgainstTheComputeStream) {
  // Work queued on the compute stream before the call is its input; work queued after it
  // sees its result. No host synchronisation in between.
  DeviceVector<float> x(kBig, 0.0f), copy(kBig, -1.0f);
  for (int round = 1; round <= 3; ++round) {
    device::fill_f32(x.data(), kBig, static_cast<float>(rank() + round));
    comm_->all_reduce(x.data(), x.data(), kBig, DType::f32, ReduceOp::sum);
    device::copy_bytes(copy.data(), x.data(), x.bytes());
    const float want = tri() + static_cast<float>(n() * round);
    EXPECT_EQ(first_mismatch(copy.host(), [&](size_t) { return want; }), -1) << "round " << round;
  }
}

TEST_P(DeviceCollectives, HostScalarsGoThroughTheSameCommunicator) {
  std::vector<double> loss = {0.5 + rank()};
  comm_->all_reduce(loss.data(), loss.data(), 1, DType::f64, ReduceOp::avg);
  EXPECT_DOUBLE_EQ(loss[0], 0.5 + (n() - 1) / 2.0);
  std::vector<int64_t> mine = {rank() * 3 + 1}, all(static_cast<size_t>(n()), -1);
  comm_->all_gather(mine.data(), all.data(), 1, DType::i64);
  for (int r = 0; r < n(); ++r) EXPECT_EQ(all[static_cast<size_t>(r)], r * 3 + 1);
}

TEST_P(DeviceCollectives, MixingHostAndDeviceBuffersIsAnErrorForNccl) {
  if (GetParam() != Backend::nccl) GTEST_SKIP() << "host staging takes each buffer as it is";
  DeviceVector<float> d(4, 1.0f);
  std::vector<float> h(4, 1.0f);
  // Refused on every rank before any communication, so nobody waits.
  EXPECT_THROW(comm_->all_reduce(d.data(), h.data(), 4, DType::f32, ReduceOp::sum), Error);
}

TEST_P(DeviceCollectives, EachCallIsLoggedOnceAndBarrierWaits) {
  const size_t first = comm_->log().records().size();
  DeviceVector<float> x(100, 1.0f), y(100 * static_cast<size_t>(n()), 0.0f);
  comm_->all_reduce(x.data(), x.data(), 100, DType::f32, ReduceOp::sum);
  comm_->all_gather(x.data(), y.data(), 100, DType::f32);
  comm_->barrier();
  const auto recs = comm_->log().since(first);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].op, CommOp::all_reduce);
  EXPECT_EQ(recs[0].bytes, 400);
  EXPECT_EQ(recs[1].op, CommOp::all_gather);
  EXPECT_EQ(recs[1].bytes, 400 * n());
  EXPECT_EQ(recs[2].op, CommOp::barrier);
  EXPECT_EQ(first_mismatch(y.host(), [&](size_t) { return static_cast<float>(n()); }), -1);
}

TEST_P(DeviceCollectives, SplitGivesAChildOfTheSameKind) {
  auto half = comm_->split(rank() % 2, rank(), "parity");
  const Communicator& child = *half;
  const Communicator& parent = *comm_;
  EXPECT_EQ(typeid(child), typeid(parent));
  EXPECT_EQ(half->name(), "parity");
  EXPECT_EQ(&half->log(), &comm_->log());
  DeviceVector<float> x(1000, static_cast<float>(rank()));
  half->all_reduce(x.data(), x.data(), x.size(), DType::f32, ReduceOp::sum);
  float want = 0;
  for (int r = rank() % 2; r < n(); r += 2) want += static_cast<float>(r);
  EXPECT_EQ(first_mismatch(x.host(), [&](size_t) { return want; }), -1);
  // The parent still works after the child was made (and after it is gone).
  half.reset();
  DeviceVector<float> y(10, 1.0f);
  comm_->all_reduce(y.data(), y.data(), y.size(), DType::f32, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(y.host(), [&](size_t) { return static_cast<float>(n()); }), -1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DeviceCollectives,
                         ::testing::Values(Backend::nccl, Backend::host_staged), backend_name);

}  // namespace
}  // namespace tpb
