// The host-staged communicator on the ranks mpirun started, without a GPU:
//  * host buffers pass straight through: every collective gives the MPI communicator's
//    results to the bit, and nothing is staged;
//  * the staging path itself runs against a fake device (host memory that the
//    StagingMemory predicate calls device memory, copied with memcpy): same results again,
//    in and out of place and with host and device buffers mixed, with the synchronise /
//    copy in / copy back pattern and the kept staging buffer checked by counting.
// Values are small integers, so every reduction is exact whatever the order.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "base/bf16.h"
#include "comm/mpi/host_staged_communicator.h"
#include "comm/mpi/mpi_communicator.h"

namespace tpb {
namespace {

// Host memory standing in for device memory: vectors claimed here are "device" buffers to
// the StagingMemory it makes. Counts the calls the communicator makes.
class FakeDevice {
 public:
  template <typename T>
  void claim(std::vector<T>& v) {
    if (!v.empty()) ranges_.push_back({reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)});
  }
  bool contains(const void* p) const {
    const char* c = static_cast<const char*>(p);
    for (const auto& [begin, bytes] : ranges_)
      if (c >= begin && c < begin + bytes) return true;
    return false;
  }
  StagingMemory memory() {
    return StagingMemory{
        [this](const void* p) { return contains(p); },
        [this](void* dst, const void* src, size_t bytes) {
          EXPECT_NE(contains(dst), contains(src)) << "a staging copy is host <-> device";
          ++(contains(dst) ? to_device : to_host);
          std::memcpy(dst, src, bytes);
        },
        [this] { ++syncs; },
    };
  }
  void forget() { ranges_.clear(); }

  int to_host = 0;
  int to_device = 0;
  int syncs = 0;

 private:
  std::vector<std::pair<const char*, size_t>> ranges_;
};

using Bytes = std::vector<unsigned char>;

template <typename T>
Bytes bytes_of(const T* p, size_t n) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return Bytes(b, b + n * sizeof(T));
}
template <typename T>
Bytes bytes_of(const std::vector<T>& v) {
  return bytes_of(v.data(), v.size());
}

// Puts a buffer on the fake device, or leaves it in host memory when there is none.
struct Place {
  FakeDevice* fake;
  template <typename T>
  void operator()(std::vector<T>& v) const {
    if (fake) fake->claim(v);
  }
};

template <typename T, typename F>
std::vector<T> make(size_t n, F value) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = value(i);
  return v;
}

std::vector<uint16_t> bf16_of(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

// Counts with zeros in them: rank r contributes r + 2 when r is even, nothing when odd.
std::vector<int64_t> uneven_counts(int n) {
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) counts[static_cast<size_t>(r)] = r % 2 == 0 ? r + 2 : 0;
  return counts;
}

// One collective call as a test case: runs it on `c` with its buffers placed by `place`
// and returns what it produced on this rank.
using Case = std::function<Bytes(Communicator& c, Place place)>;

std::vector<std::pair<std::string, Case>> cases() {
  std::vector<std::pair<std::string, Case>> all;
  auto add = [&](std::string name, Case run) { all.emplace_back(std::move(name), std::move(run)); };

  for (size_t count : {size_t{1}, size_t{1000}, size_t{1} << 16}) {
    const std::string n = " x" + std::to_string(count);
    add("all_reduce sum, out of place" + n, [count](Communicator& c, Place place) {
      auto in = make<float>(count, [&](size_t i) { return static_cast<float>(c.rank() + static_cast<int>(i % 7)); });
      std::vector<float> out(count, -1.0f);
      place(in), place(out);
      c.all_reduce(in.data(), out.data(), count, DType::f32, ReduceOp::sum);
      return bytes_of(out);
    });
    add("all_reduce max, in place" + n, [count](Communicator& c, Place place) {
      auto x = make<float>(count, [&](size_t i) { return static_cast<float>((c.rank() * 3 + static_cast<int>(i)) % 11); });
      place(x);
      c.all_reduce(x.data(), x.data(), count, DType::f32, ReduceOp::max);
      return bytes_of(x);
    });
    add("all_reduce avg, in place" + n, [count](Communicator& c, Place place) {
      auto x = make<float>(count, [&](size_t i) { return static_cast<float>(c.rank() + static_cast<int>(i % 5)); });
      place(x);
      c.all_reduce(x.data(), x.data(), count, DType::f32, ReduceOp::avg);
      return bytes_of(x);
    });
    add("all_reduce bf16 sum" + n, [count](Communicator& c, Place place) {
      auto in = bf16_of(make<float>(count, [&](size_t i) { return static_cast<float>(c.rank() + static_cast<int>(i % 7)); }));
      std::vector<uint16_t> out(count, 0xffff);
      place(in), place(out);
      c.all_reduce(in.data(), out.data(), count, DType::bf16, ReduceOp::sum);
      return bytes_of(out);
    });
  }
  add("all_reduce f64 scalar (a host loss)", [](Communicator& c, Place place) {
    std::vector<double> loss = {0.25 + c.rank()};
    place(loss);
    c.all_reduce(loss.data(), loss.data(), 1, DType::f64, ReduceOp::avg);
    return bytes_of(loss);
  });
  add("all_reduce i64 sum", [](Communicator& c, Place place) {
    auto x = make<int64_t>(33, [&](size_t i) { return int64_t{1} << 40 | (c.rank() + static_cast<int64_t>(i)); });
    place(x);
    c.all_reduce(x.data(), x.data(), x.size(), DType::i64, ReduceOp::sum);
    return bytes_of(x);
  });
  add("all_reduce of nothing (null buffers)", [](Communicator& c, Place) {
    c.all_reduce(nullptr, nullptr, 0, DType::f32, ReduceOp::sum);
    return Bytes{};
  });

  for (size_t count : {size_t{13}, size_t{1} << 15}) {
    const std::string n = " x" + std::to_string(count);
    add("all_gather, out of place" + n, [count](Communicator& c, Place place) {
      auto in = make<float>(count, [&](size_t i) { return static_cast<float>(c.rank() * 1000 + static_cast<int>(i % 997)); });
      std::vector<float> out(count * static_cast<size_t>(c.size()), -1.0f);
      place(in), place(out);
      c.all_gather(in.data(), out.data(), count, DType::f32);
      return bytes_of(out);
    });
    add("all_gather, in place" + n, [count](Communicator& c, Place place) {
      std::vector<float> buf(count * static_cast<size_t>(c.size()), -1.0f);
      float* mine = buf.data() + static_cast<size_t>(c.rank()) * count;
      for (size_t i = 0; i < count; ++i) mine[i] = static_cast<float>(c.rank() * 1000 + static_cast<int>(i % 997));
      place(buf);
      c.all_gather(mine, buf.data(), count, DType::f32);
      return bytes_of(buf);
    });
    add("reduce_scatter, out of place" + n, [count](Communicator& c, Place place) {
      auto in = make<float>(count * static_cast<size_t>(c.size()), [&](size_t j) { return static_cast<float>(c.rank() + static_cast<int>(j % 101)); });
      std::vector<float> out(count, -1.0f);
      place(in), place(out);
      c.reduce_scatter(in.data(), out.data(), count, DType::f32, ReduceOp::sum);
      return bytes_of(out);
    });
    add("reduce_scatter avg, in place" + n, [count](Communicator& c, Place place) {
      auto buf = make<float>(count * static_cast<size_t>(c.size()), [&](size_t j) { return static_cast<float>(c.rank() + static_cast<int>(j % 101)); });
      place(buf);
      float* mine = buf.data() + static_cast<size_t>(c.rank()) * count;
      c.reduce_scatter(buf.data(), mine, count, DType::f32, ReduceOp::avg);
      return bytes_of(mine, count);  // only this rank's block is the result
    });
    add("all_to_all, out of place" + n, [count](Communicator& c, Place place) {
      const size_t peers = static_cast<size_t>(c.size());
      auto send = make<float>(count * peers, [&](size_t j) { return static_cast<float>(c.rank() * 100000 + static_cast<int>(j / count) * 1000 + static_cast<int>(j % count % 997)); });
      std::vector<float> recv(send.size(), -1.0f);
      place(send), place(recv);
      c.all_to_all(send.data(), recv.data(), count, DType::f32);
      return bytes_of(recv);
    });
    add("all_to_all, in place" + n, [count](Communicator& c, Place place) {
      const size_t peers = static_cast<size_t>(c.size());
      auto buf = make<float>(count * peers, [&](size_t j) { return static_cast<float>(c.rank() * 100000 + static_cast<int>(j / count) * 1000 + static_cast<int>(j % count % 997)); });
      place(buf);
      c.all_to_all(buf.data(), buf.data(), count, DType::f32);
      return bytes_of(buf);
    });
  }

  add("all_gather_v with empty ranks, out of place", [](Communicator& c, Place place) {
    const auto counts = uneven_counts(c.size());
    const int64_t offset = std::accumulate(counts.begin(), counts.begin() + c.rank(), int64_t{0});
    std::vector<float> in(static_cast<size_t>(counts[static_cast<size_t>(c.rank())]));
    std::iota(in.begin(), in.end(), static_cast<float>(offset));
    std::vector<float> out(static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0})), -1.0f);
    place(in), place(out);
    c.all_gather_v(in.data(), out.data(), counts, DType::f32);
    return bytes_of(out);
  });
  add("all_gather_v with empty ranks, in place", [](Communicator& c, Place place) {
    const auto counts = uneven_counts(c.size());
    const int64_t offset = std::accumulate(counts.begin(), counts.begin() + c.rank(), int64_t{0});
    std::vector<float> buf(static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0})), -1.0f);
    for (int64_t i = 0; i < counts[static_cast<size_t>(c.rank())]; ++i)
      buf[static_cast<size_t>(offset + i)] = static_cast<float>(offset + i);
    place(buf);
    c.all_gather_v(buf.data() + offset, buf.data(), counts, DType::f32);
    return bytes_of(buf);
  });
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
    add("reduce_scatter_v with empty ranks, " + std::string(reduce_op_name(op)),
        [op](Communicator& c, Place place) {
          const auto counts = uneven_counts(c.size());
          const size_t total = static_cast<size_t>(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
          auto in = make<float>(total, [&](size_t j) { return static_cast<float>((c.rank() + static_cast<int>(j)) % 9); });
          std::vector<float> out(static_cast<size_t>(counts[static_cast<size_t>(c.rank())]), -1.0f);
          place(in), place(out);
          c.reduce_scatter_v(in.data(), out.data(), counts, DType::f32, op);
          return bytes_of(out);
        });
  }
  add("broadcast from every root", [](Communicator& c, Place place) {
    Bytes got;
    for (int root = 0; root < c.size(); ++root) {
      auto buf = make<float>(777, [&](size_t i) { return static_cast<float>(c.rank() * 1000 + static_cast<int>(i)); });
      place(buf);
      c.broadcast(buf.data(), buf.size(), DType::f32, root);
      const Bytes b = bytes_of(buf);
      got.insert(got.end(), b.begin(), b.end());
    }
    return got;
  });
  // Mixed: one buffer on the (fake) device, the other in host memory.
  add("all_gather, host send into a device recv", [](Communicator& c, Place place) {
    auto in = make<float>(100, [&](size_t i) { return static_cast<float>(c.rank() * 1000 + static_cast<int>(i)); });
    std::vector<float> out(100 * static_cast<size_t>(c.size()), -1.0f);
    place(out);
    c.all_gather(in.data(), out.data(), in.size(), DType::f32);
    return bytes_of(out);
  });
  add("reduce_scatter, device send into a host recv", [](Communicator& c, Place place) {
    auto in = make<float>(100 * static_cast<size_t>(c.size()), [&](size_t j) { return static_cast<float>(c.rank() + static_cast<int>(j % 13)); });
    std::vector<float> out(100, -1.0f);
    place(in);
    c.reduce_scatter(in.data(), out.data(), out.size(), DType::f32, ReduceOp::sum);
    return bytes_of(out);
  });
  return all;
}

TEST(HostStaged, HostBuffersPassStraightThroughWithMpiResults) {
  auto mpi = MpiCommunicator::world();
  auto staged = HostStagedCommunicator::world();  // the real device runtime: host memory here
  for (const auto& [name, run] : cases()) {
    SCOPED_TRACE(name);
    const Bytes want = run(*mpi, Place{nullptr});
    const Bytes got = run(*staged, Place{nullptr});
    EXPECT_TRUE(got == want) << "results differ from the MPI communicator's";
  }
  EXPECT_EQ(staged->staging_bytes(), 0u) << "host buffers were staged";
}

TEST(HostStaged, DeviceBuffersAreStagedWithMpiResults) {
  auto mpi = MpiCommunicator::world();
  FakeDevice fake;
  auto staged = HostStagedCommunicator::world(fake.memory());
  for (const auto& [name, run] : cases()) {
    SCOPED_TRACE(name);
    const Bytes want = run(*mpi, Place{nullptr});
    const int syncs = fake.syncs;
    const Bytes got = run(*staged, Place{&fake});
    fake.forget();
    EXPECT_TRUE(got == want) << "results differ from the MPI communicator's";
    if (!want.empty()) {
      EXPECT_GT(fake.syncs, syncs) << "no compute-stream synchronisation";
    }
  }
  EXPECT_GE(staged->staging_bytes(), (size_t{1} << 16) * sizeof(float));
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

TEST(HostStaged, EachCallIsLoggedOnce) {
  FakeDevice fake;
  auto staged = HostStagedCommunicator::world(fake.memory());
  const size_t first = staged->log().records().size();
  std::vector<float> x(100, 1.0f), y(100 * static_cast<size_t>(staged->size()));
  fake.claim(x);
  fake.claim(y);
  staged->all_reduce(x, ReduceOp::sum);
  staged->all_gather(x, y);
  staged->barrier();
  const auto recs = staged->log().since(first);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].op, CommOp::all_reduce);
  EXPECT_EQ(recs[0].bytes, 400);
  EXPECT_EQ(recs[1].op, CommOp::all_gather);
  EXPECT_EQ(recs[1].bytes, 400 * staged->size());
  EXPECT_EQ(recs[2].op, CommOp::barrier);
  for (const auto& r : recs) EXPECT_EQ(staged->log().group(r.group).name, "world");
}

TEST(HostStaged, SplitGivesAHostStagedChildOnTheSameLog) {
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
}  // namespace tpb
