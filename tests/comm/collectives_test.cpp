// Collectives against closed forms, on however many ranks mpirun started (1..4), for
// counts 0, 1, a prime, and 16 Mi floats. Values are small integers, so every sum is
// exact in fp32 whatever the reduction order: results must match to the bit.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "base/error.h"
#include "base/bf16.h"
#include "comm/mpi/mpi_communicator.h"

namespace tpb {
namespace {

constexpr size_t kBig = size_t{16} << 20;  // 16 Mi floats = 64 MiB
const std::vector<size_t> kCounts = {0, 1, 13, kBig};

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override { world_ = MpiCommunicator::world(); }
  int rank() const { return world_->rank(); }
  int n() const { return world_->size(); }
  std::unique_ptr<MpiCommunicator> world_;
};

// First index where got != want, or -1; keeps failure output to one line on 16 Mi floats.
template <typename F>
int64_t first_mismatch(const std::vector<float>& got, F want) {
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want(i)) return static_cast<int64_t>(i);
  return -1;
}

TEST_F(Collectives, AllReduceOfRankIdsIsTriangularNumber) {
  std::vector<float> x = {static_cast<float>(rank())};
  world_->all_reduce(x, ReduceOp::sum);
  EXPECT_EQ(x[0], n() * (n() - 1) / 2.0f);
}

TEST_F(Collectives, AllReduceSumAvgMaxInAndOutOfPlace) {
  const float tri = n() * (n() - 1) / 2.0f;
  for (size_t count : kCounts) {
    std::vector<float> in(count);
    for (size_t i = 0; i < count; ++i) in[i] = static_cast<float>(rank() + static_cast<int>(i % 7));
    // Out of place, sum.
    std::vector<float> out(count, -1.0f);
    world_->all_reduce(in.data(), out.data(), count, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(out, [&](size_t i) { return tri + n() * static_cast<float>(i % 7); }), -1)
        << "sum, count " << count;
    // In place, max.
    std::vector<float> m = in;
    world_->all_reduce(m, ReduceOp::max);
    EXPECT_EQ(first_mismatch(m, [&](size_t i) { return static_cast<float>(n() - 1 + static_cast<int>(i % 7)); }), -1)
        << "max, count " << count;
    // In place, avg: (sum of ranks)/n + i%7, exact when n is a power of two; 1e-6 otherwise.
    std::vector<float> a = in;
    world_->all_reduce(a, ReduceOp::avg);
    for (size_t i = 0; i < count; i += 1 + count / 1000)
      ASSERT_NEAR(a[i], (n() - 1) / 2.0 + static_cast<double>(i % 7), 1e-5) << "avg, count " << count;
  }
}

TEST_F(Collectives, AllGatherConcatenatesInRankOrder) {
  for (size_t count : {size_t{0}, size_t{1}, size_t{13}, kBig / 4}) {
    std::vector<float> in(count);
    for (size_t i = 0; i < count; ++i) in[i] = static_cast<float>(rank() * 1000 + static_cast<int>(i % 997));
    std::vector<float> out(count * static_cast<size_t>(n()), -1.0f);
    world_->all_gather(in, out);
    auto want = [&](size_t j) {
      return static_cast<float>(static_cast<int>(j / std::max<size_t>(count, 1)) * 1000 +
                                static_cast<int>((j % std::max<size_t>(count, 1)) % 997));
    };
    EXPECT_EQ(first_mismatch(out, want), -1) << "out of place, count " << count;
    // In place: this rank's block already sits at its offset in the output.
    std::vector<float> buf(count * static_cast<size_t>(n()), -1.0f);
    std::copy(in.begin(), in.end(), buf.begin() + static_cast<std::ptrdiff_t>(rank() * count));
    world_->all_gather(buf.data() + rank() * count, buf.data(), count, DType::f32);
    EXPECT_EQ(first_mismatch(buf, want), -1) << "in place, count " << count;
  }
}

TEST_F(Collectives, AllGatherVUnevenCounts) {
  // torch.tensor_split sizes: 1000 over n ranks, the first (1000 % n) get one more.
  std::vector<int64_t> counts(static_cast<size_t>(n()));
  for (int r = 0; r < n(); ++r) counts[static_cast<size_t>(r)] = 1000 / n() + (r < 1000 % n() ? 1 : 0);
  const int64_t offset = std::accumulate(counts.begin(), counts.begin() + rank(), int64_t{0});
  std::vector<float> in(static_cast<size_t>(counts[static_cast<size_t>(rank())]));
  std::iota(in.begin(), in.end(), static_cast<float>(offset));
  std::vector<float> out(1000, -1.0f);
  world_->all_gather_v(in.data(), out.data(), counts, DType::f32);
  EXPECT_EQ(first_mismatch(out, [](size_t j) { return static_cast<float>(j); }), -1);
  // Wrong number of counts is an error naming both.
  std::vector<int64_t> short_counts(static_cast<size_t>(n()) + 1, 1);
  EXPECT_THROW(world_->all_gather_v(in.data(), out.data(), short_counts, DType::f32), Error);
}

TEST_F(Collectives, ReduceScatterSumsThenSplits) {
  for (size_t recv_count : {size_t{0}, size_t{1}, size_t{13}, kBig / 4}) {
    const size_t total = recv_count * static_cast<size_t>(n());
    std::vector<float> in(total);
    for (size_t j = 0; j < total; ++j) in[j] = static_cast<float>(rank() + static_cast<int>(j % 101));
    std::vector<float> out(recv_count, -1.0f);
    world_->reduce_scatter(in, out, ReduceOp::sum);
    const float tri = n() * (n() - 1) / 2.0f;
    auto want = [&](size_t i) {
      return tri + static_cast<float>(n() * static_cast<int>((rank() * recv_count + i) % 101));
    };
    EXPECT_EQ(first_mismatch(out, want), -1) << "out of place, recv_count " << recv_count;
    // In place (NCCL's convention): the result lands at this rank's block.
    std::vector<float> buf = in;
    float* mine = buf.data() + rank() * recv_count;
    world_->reduce_scatter(buf.data(), mine, recv_count, DType::f32, ReduceOp::sum);
    std::vector<float> got(mine, mine + recv_count);
    EXPECT_EQ(first_mismatch(got, want), -1) << "in place, recv_count " << recv_count;
  }
}

TEST_F(Collectives, ReduceScatterThatCannotSplitEvenlyIsAnError) {
  if (n() == 1) GTEST_SKIP() << "every count splits over one rank";
  std::vector<float> in(static_cast<size_t>(n()) * 3 + 1, 1.0f);
  std::vector<float> out(3);
  try {
    world_->reduce_scatter(in, out, ReduceOp::sum);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be split evenly"), std::string::npos) << e.what();
  }
}

TEST_F(Collectives, ReduceScatterVUneven) {
  std::vector<int64_t> counts(static_cast<size_t>(n()));
  for (int r = 0; r < n(); ++r) counts[static_cast<size_t>(r)] = r + 1;
  const int64_t total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  std::vector<float> in(static_cast<size_t>(total));
  std::iota(in.begin(), in.end(), 0.0f);  // same on every rank: sum = n * value
  std::vector<float> out(static_cast<size_t>(rank() + 1), -1.0f);
  world_->reduce_scatter_v(in.data(), out.data(), counts, DType::f32, ReduceOp::sum);
  const int64_t offset = rank() * (rank() + 1) / 2;
  EXPECT_EQ(first_mismatch(out, [&](size_t i) { return static_cast<float>(n() * (offset + static_cast<int64_t>(i))); }), -1);
}

TEST_F(Collectives, BroadcastFromEveryRoot) {
  for (int root = 0; root < n(); ++root) {
    for (size_t count : kCounts) {
      std::vector<float> buf(count, static_cast<float>(rank()));
      world_->broadcast(buf, root);
      EXPECT_EQ(first_mismatch(buf, [&](size_t) { return static_cast<float>(root); }), -1)
          << "root " << root << ", count " << count;
    }
  }
  std::vector<float> buf(1);
  EXPECT_THROW(world_->broadcast(buf, n()), Error);
}

TEST_F(Collectives, AllToAllTransposesBlocks) {
  // Rank r's block p holds code(r, p, k); after the call rank r's block p is rank p's
  // block r: code(p, r, k).
  auto code = [](int from, int to, size_t k) {
    return static_cast<float>(from * 100000 + to * 1000 + static_cast<int>(k % 997));
  };
  const size_t peers = static_cast<size_t>(n());
  for (size_t per_peer : {size_t{0}, size_t{1}, size_t{13}, kBig / 16}) {
    std::vector<float> send(per_peer * peers);
    for (size_t p = 0; p < peers; ++p)
      for (size_t k = 0; k < per_peer; ++k) send[p * per_peer + k] = code(rank(), static_cast<int>(p), k);
    auto want = [&](size_t j) { return code(static_cast<int>(j / per_peer), rank(), j % per_peer); };
    std::vector<float> recv(send.size(), -1.0f);
    world_->all_to_all(send.data(), recv.data(), per_peer, DType::f32);
    EXPECT_EQ(first_mismatch(recv, want), -1) << "out of place, per peer " << per_peer;
    world_->all_to_all(send.data(), send.data(), per_peer, DType::f32);
    EXPECT_EQ(first_mismatch(send, want), -1) << "in place, per peer " << per_peer;
  }
  const auto& last = world_->log().records().back();
  EXPECT_EQ(last.op, CommOp::all_to_all);
  EXPECT_EQ(last.bytes, static_cast<int64_t>(kBig / 16 * peers * sizeof(float)));
}

// bf16 reductions: integers whose every partial sum stays within 256 are exact in bf16
// (8 significant bits), so results must match to the bit in any reduction order.
std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_float(v[i]);
  return out;
}

TEST_F(Collectives, Bf16AllReduceSumMaxAvg) {
  const float tri = n() * (n() - 1) / 2.0f;
  for (size_t count : {size_t{0}, size_t{1}, size_t{13}, size_t{1} << 20}) {
    std::vector<float> values(count);
    for (size_t i = 0; i < count; ++i) values[i] = static_cast<float>(rank() + static_cast<int>(i % 7));
    const std::vector<uint16_t> in = to_bf16(values);
    std::vector<uint16_t> out(count, 0xffff);
    world_->all_reduce(in.data(), out.data(), count, DType::bf16, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(from_bf16(out), [&](size_t i) { return tri + n() * static_cast<float>(i % 7); }), -1)
        << "sum, count " << count;
    std::vector<uint16_t> m = in;
    world_->all_reduce(m.data(), m.data(), count, DType::bf16, ReduceOp::max);
    EXPECT_EQ(first_mismatch(from_bf16(m), [&](size_t i) { return static_cast<float>(n() - 1 + static_cast<int>(i % 7)); }), -1)
        << "max, count " << count;
    // avg: the exact sum scaled in fp32 and rounded once to bf16.
    std::vector<uint16_t> a = in;
    world_->all_reduce(a.data(), a.data(), count, DType::bf16, ReduceOp::avg);
    EXPECT_EQ(first_mismatch(from_bf16(a), [&](size_t i) {
                return bf16_to_float(float_to_bf16((tri + n() * static_cast<float>(i % 7)) *
                                                   (1.0f / static_cast<float>(n()))));
              }), -1)
        << "avg, count " << count;
  }
}

TEST_F(Collectives, Bf16ReduceScatterInAndOutOfPlace) {
  const size_t recv_count = 1001;
  const size_t total = recv_count * static_cast<size_t>(n());
  std::vector<float> values(total);
  for (size_t j = 0; j < total; ++j) values[j] = static_cast<float>((rank() + static_cast<int>(j)) % 5);
  auto want = [&](size_t i) {
    float s = 0;
    for (int r = 0; r < n(); ++r) s += static_cast<float>((r + static_cast<int>(rank() * recv_count + i)) % 5);
    return s;
  };
  const std::vector<uint16_t> in = to_bf16(values);
  std::vector<uint16_t> out(recv_count, 0xffff);
  world_->reduce_scatter(in.data(), out.data(), recv_count, DType::bf16, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(from_bf16(out), want), -1) << "out of place";
  std::vector<uint16_t> buf = in;
  uint16_t* mine = buf.data() + rank() * recv_count;
  world_->reduce_scatter(buf.data(), mine, recv_count, DType::bf16, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(from_bf16(std::vector<uint16_t>(mine, mine + recv_count)), want), -1) << "in place";
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(256.0f)), 256.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(257.0f)), 256.0f);  // tie: to even
  EXPECT_EQ(bf16_to_float(float_to_bf16(259.0f)), 260.0f);  // tie: to even
  EXPECT_EQ(bf16_to_float(float_to_bf16(258.0f)), 258.0f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(INFINITY))));
}

TEST_F(Collectives, SplitIntoEvenAndOddRanks) {
  auto half = world_->split(rank() % 2, rank(), "parity");
  std::vector<float> x = {static_cast<float>(rank())};
  half->all_reduce(x, ReduceOp::sum);
  float want = 0;
  for (int r = rank() % 2; r < n(); r += 2) want += static_cast<float>(r);
  EXPECT_EQ(x[0], want);
  EXPECT_EQ(half->size(), (n() + 1 - rank() % 2) / 2);
  EXPECT_EQ(half->name(), "parity");
  for (int r : half->world_ranks()) EXPECT_EQ(r % 2, rank() % 2);
}

TEST_F(Collectives, EveryCallIsRecorded) {
  const size_t first = world_->log().records().size();
  std::vector<float> x(100, 1.0f), y(100 * static_cast<size_t>(n()));
  world_->all_reduce(x, ReduceOp::sum);
  world_->all_gather(x, y);
  world_->barrier();
  const auto recs = world_->log().since(first);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].op, CommOp::all_reduce);
  EXPECT_EQ(recs[0].bytes, 400);
  EXPECT_EQ(recs[1].op, CommOp::all_gather);
  EXPECT_EQ(recs[1].bytes, 400 * n());
  EXPECT_EQ(recs[2].op, CommOp::barrier);
  for (const auto& r : recs) {
    EXPECT_LE(r.start_ns, r.end_ns);
    EXPECT_EQ(world_->log().group(r.group).name, "world");
  }
  EXPECT_LE(recs[0].end_ns, recs[1].start_ns);
}

TEST_F(Collectives, BadArgumentsAreClearErrors) {
  // Checked before any communication, on every rank alike, so nobody hangs.
  EXPECT_THROW(world_->all_reduce(nullptr, nullptr, size_t{1} << 32, DType::f32, ReduceOp::sum), Error);
  std::vector<float> x(4);
  EXPECT_THROW(world_->all_reduce(nullptr, x.data(), 4, DType::f32, ReduceOp::sum), Error);
  uint8_t bytes[2] = {0, 0};
  EXPECT_THROW(world_->all_reduce(bytes, bytes, 2, DType::u8, ReduceOp::sum), Error);
  std::vector<float> small(1);
  EXPECT_THROW(world_->all_gather(x, small), Error);
}

}  // namespace
}  // namespace tpb
