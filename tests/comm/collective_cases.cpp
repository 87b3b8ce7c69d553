// The collective test body of every backend (see collective_cases.h): closed forms for
// counts 0, 1, a prime, mid sizes and 16 Mi floats (64 MiB), in and out of place, every
// reduce op, fp32 / bf16 / fp64 / i32 / i64 / u8, uneven and empty v-collective counts,
// every broadcast root, splits, the CommLog, and argument errors.
#include "collective_cases.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <typeinfo>
#include <vector>

#include "base/error.h"

namespace tpb::testing {

void Collectives::SetUp() {
  setup_ = GetParam().make();
  if (!setup_.skip.empty()) GTEST_SKIP() << GetParam().name << ": " << setup_.skip;
  ASSERT_NE(setup_.comm, nullptr);
  ASSERT_NE(setup_.memory, nullptr);
}

void Collectives::TearDown() {
  if (setup_.comm && setup_.after_test && !IsSkipped()) setup_.after_test(*setup_.comm);
  setup_.comm.reset();  // before the memory it may use (a fake device)
  setup_ = BackendSetup{};
}

namespace {

constexpr size_t kBig = size_t{16} << 20;  // 16 Mi floats = 64 MiB
const std::vector<size_t> kCounts = {0, 1, 13, 1000, size_t{1} << 16, kBig};
// Per-rank block sizes for the collectives whose buffers are size() blocks.
const std::vector<size_t> kBlockCounts = {0, 1, 13, size_t{1} << 15, kBig / 4};

// op over ranks r of value(r), as the exact (double) reduction.
template <typename F>
double reduce_over_ranks(int n, ReduceOp op, F value) {
  double acc = op == ReduceOp::max ? value(0) : 0.0;
  for (int r = 0; r < n; ++r) acc = op == ReduceOp::max ? std::max(acc, static_cast<double>(value(r))) : acc + value(r);
  return op == ReduceOp::avg ? acc / n : acc;
}

// MPI's avg in fp32: the exact sum, scaled once by 1/n.
float mpi_avg(float sum, int n) { return sum * (1.0f / static_cast<float>(n)); }

TEST_P(Collectives, AllReduceOfRankIdsIsTriangularNumber) {
  auto x = buf<float>(1, static_cast<float>(rank()));
  comm().all_reduce(x.span(), ReduceOp::sum);
  EXPECT_EQ(x.host()[0], n() * (n() - 1) / 2.0f);
}

TEST_P(Collectives, AllReduceSumAvgMaxInAndOutOfPlace) {
  for (size_t count : kCounts) {
    SCOPED_TRACE("count " + std::to_string(count));
    const auto init = make<float>(count, [&](size_t i) { return static_cast<float>(rank() + static_cast<int>(i % 7)); });
    // Out of place, sum.
    auto in = buf(init);
    auto out = buf<float>(count, -1.0f);
    comm().all_reduce(in.data(), out.data(), count, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(out.host(), [&](size_t i) { return tri() + n() * static_cast<float>(i % 7); }), -1) << "sum";
    // In place, max.
    auto m = buf(init);
    comm().all_reduce(m.span(), ReduceOp::max);
    EXPECT_EQ(first_mismatch(m.host(), [&](size_t i) { return static_cast<float>(n() - 1 + static_cast<int>(i % 7)); }), -1) << "max";
    // In place, avg: (sum of ranks)/n + i%7, exact when n is a power of two; 1e-5 otherwise.
    auto a = buf(init);
    comm().all_reduce(a.data(), a.data(), count, DType::f32, ReduceOp::avg);
    const auto got = a.host();
    EXPECT_EQ(first_far(got, [&](size_t i) { return (n() - 1) / 2.0 + static_cast<double>(i % 7); }, 1e-5, 1 + count / 1000), -1)
        << "avg";
    if (backend().avg_exact) {
      EXPECT_EQ(first_mismatch(got, [&](size_t i) { return mpi_avg(tri() + n() * static_cast<float>(i % 7), n()); }), -1)
          << "avg to the bit";
    }
    if (count == kBig) continue;
    // Other patterns: max where the largest comes from different ranks, avg over i % 5.
    auto m2 = buf(make<float>(count, [&](size_t i) { return static_cast<float>((rank() * 3 + static_cast<int>(i)) % 11); }));
    comm().all_reduce(m2.data(), m2.data(), count, DType::f32, ReduceOp::max);
    EXPECT_EQ(first_mismatch(m2.host(), [&](size_t i) {
                return static_cast<float>(reduce_over_ranks(n(), ReduceOp::max, [&](int r) { return (r * 3 + static_cast<int>(i)) % 11; }));
              }), -1) << "max, mod 11";
    auto a2 = buf(make<float>(count, [&](size_t i) { return static_cast<float>(rank() + static_cast<int>(i % 5)); }));
    comm().all_reduce(a2.data(), a2.data(), count, DType::f32, ReduceOp::avg);
    const auto got2 = a2.host();
    EXPECT_EQ(first_far(got2, [&](size_t i) { return (n() - 1) / 2.0 + static_cast<double>(i % 5); }, 1e-5), -1)
        << "avg, mod 5";
    if (backend().avg_exact) {
      EXPECT_EQ(first_mismatch(got2, [&](size_t i) { return mpi_avg(tri() + n() * static_cast<float>(i % 5), n()); }), -1)
          << "avg, mod 5, to the bit";
    }
  }
}

TEST_P(Collectives, AllReduceOtherTypes) {
  // bf16: sums within 256 are exact; avg is exact when the group size is a power of two
  // (and to the bit for MPI's single scaling whatever the size).
  const auto values = make<float>(1001, [&](size_t i) { return static_cast<float>(rank() + static_cast<int>(i % 7)); });
  const auto bits = to_bf16(values);
  auto s = buf(bits);
  auto a = buf(bits);
  comm().all_reduce(s.data(), s.data(), s.size(), DType::bf16, ReduceOp::sum);
  comm().all_reduce(a.data(), a.data(), a.size(), DType::bf16, ReduceOp::avg);
  const auto sum = s.host(), avg = a.host();
  const bool pow2 = (n() & (n() - 1)) == 0;
  auto want = [&](size_t i) { return tri() + static_cast<float>(n() * static_cast<int>(i % 7)); };
  EXPECT_EQ(first_mismatch(from_bf16(sum), want), -1) << "bf16 sum";
  EXPECT_EQ(first_far(from_bf16(avg), [&](size_t i) { return want(i) / static_cast<float>(n()); }, pow2 ? 0.0 : 0.05), -1)
      << "bf16 avg";
  if (backend().avg_exact) {
    EXPECT_EQ(first_mismatch(avg, [&](size_t i) { return float_to_bf16(mpi_avg(want(i), n())); }), -1) << "bf16 avg to the bit";
  }
  auto d = buf(make<double>(5, [&](size_t i) { return 0.5 * rank() + static_cast<double>(i); }));
  comm().all_reduce(d.data(), d.data(), d.size(), DType::f64, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(d.host(), [&](size_t i) { return 0.5 * tri() + static_cast<double>(n() * static_cast<int>(i)); }), -1) << "f64";
  // An f64 scalar averaged (a loss).
  auto loss = buf(std::vector<double>{0.25 + rank()});
  comm().all_reduce(loss.data(), loss.data(), 1, DType::f64, ReduceOp::avg);
  EXPECT_DOUBLE_EQ(loss.host()[0], 0.25 + (n() - 1) / 2.0) << "f64 avg";
  auto i32 = buf(make<int32_t>(7, [&](size_t i) { return rank() * 10 + static_cast<int32_t>(i); }));
  comm().all_reduce(i32.data(), i32.data(), i32.size(), DType::i32, ReduceOp::max);
  EXPECT_EQ(first_mismatch(i32.host(), [&](size_t i) { return (n() - 1) * 10 + static_cast<int32_t>(i); }), -1) << "i32 max";
  for (size_t count : {size_t{7}, size_t{33}}) {
    // Beyond 2^32, and beyond fp32's and fp64's integers... well within i64.
    auto i64 = buf(make<int64_t>(count, [&](size_t i) { return (int64_t{1} << 40) + rank() + static_cast<int64_t>(i); }));
    comm().all_reduce(i64.data(), i64.data(), i64.size(), DType::i64, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(i64.host(), [&](size_t i) { return n() * ((int64_t{1} << 40) + static_cast<int64_t>(i)) + static_cast<int64_t>(tri()); }), -1)
        << "i64 sum x" << count;
  }
  // Nothing at all: null buffers are fine for a count of 0.
  EXPECT_NO_THROW(comm().all_reduce(nullptr, nullptr, 0, DType::f32, ReduceOp::sum));
}

TEST_P(Collectives, Bf16AllReduceSumMaxAvg) {
  // Integers whose every partial sum stays within 256 are exact in bf16 (8 significant
  // bits), so sum and max must match to the bit in any reduction order.
  for (size_t count : {size_t{0}, size_t{1}, size_t{13}, size_t{1000}, size_t{1} << 16, size_t{1} << 20}) {
    SCOPED_TRACE("count " + std::to_string(count));
    const auto in = to_bf16(make<float>(count, [&](size_t i) { return static_cast<float>(rank() + static_cast<int>(i % 7)); }));
    auto src = buf(in);
    auto out = buf<uint16_t>(count, 0xffff);
    comm().all_reduce(src.data(), out.data(), count, DType::bf16, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(from_bf16(out.host()), [&](size_t i) { return tri() + n() * static_cast<float>(i % 7); }), -1) << "sum";
    auto m = buf(in);
    comm().all_reduce(m.data(), m.data(), count, DType::bf16, ReduceOp::max);
    EXPECT_EQ(first_mismatch(from_bf16(m.host()), [&](size_t i) { return static_cast<float>(n() - 1 + static_cast<int>(i % 7)); }), -1) << "max";
    auto a = buf(in);
    comm().all_reduce(a.data(), a.data(), count, DType::bf16, ReduceOp::avg);
    const auto avg = from_bf16(a.host());
    if (backend().avg_exact) {
      // The exact sum scaled in fp32 and rounded once to bf16.
      EXPECT_EQ(first_mismatch(avg, [&](size_t i) {
                  return bf16_to_float(float_to_bf16(mpi_avg(tri() + n() * static_cast<float>(i % 7), n())));
                }), -1) << "avg";
    } else {
      const bool pow2 = (n() & (n() - 1)) == 0;
      EXPECT_EQ(first_far(avg, [&](size_t i) { return (tri() + n() * static_cast<float>(i % 7)) / static_cast<float>(n()); },
                          pow2 ? 0.0 : 0.05, 1 + count / 1000), -1) << "avg";
    }
  }
}

TEST_P(Collectives, AllGatherConcatenatesInRankOrder) {
  for (size_t count : kBlockCounts) {
    SCOPED_TRACE("count " + std::to_string(count));
    auto want = [&](size_t j) {
      return static_cast<float>(static_cast<int>(j / std::max<size_t>(count, 1)) * 1000 +
                                static_cast<int>((j % std::max<size_t>(count, 1)) % 997));
    };
    auto in = buf(make<float>(count, [&](size_t i) { return static_cast<float>(rank() * 1000 + static_cast<int>(i % 997)); }));
    auto out = buf<float>(count * static_cast<size_t>(n()), -1.0f);
    comm().all_gather(std::span<const float>(in.data(), in.size()), out.span());
    EXPECT_EQ(first_mismatch(out.host(), want), -1) << "out of place";
    // In place: this rank's block already sits at its offset in the output.
    std::vector<float> init(count * static_cast<size_t>(n()), -1.0f);
    for (size_t i = 0; i < count; ++i) init[static_cast<size_t>(rank()) * count + i] = want(static_cast<size_t>(rank()) * count + i);
    auto b = buf(init);
    comm().all_gather(b.data() + static_cast<size_t>(rank()) * count, b.data(), count, DType::f32);
    EXPECT_EQ(first_mismatch(b.host(), want), -1) << "in place";
  }
  // u8 moves as bytes.
  auto in = buf<uint8_t>(3, static_cast<uint8_t>(rank() + 1));
  auto out = buf<uint8_t>(3 * static_cast<size_t>(n()), 0);
  comm().all_gather(in.data(), out.data(), 3, DType::u8);
  EXPECT_EQ(first_mismatch(out.host(), [](size_t j) { return static_cast<uint8_t>(j / 3 + 1); }), -1) << "u8";
}

TEST_P(Collectives, AllGatherVUnevenCounts) {
  const auto counts = tensor_split_counts(1000, n());
  const int64_t offset = sum_before(counts, rank());
  std::vector<float> init(static_cast<size_t>(counts[static_cast<size_t>(rank())]));
  std::iota(init.begin(), init.end(), static_cast<float>(offset));
  auto in = buf(init);
  auto out = buf<float>(1000, -1.0f);
  comm().all_gather_v(in.data(), out.data(), counts, DType::f32);
  EXPECT_EQ(first_mismatch(out.host(), [](size_t j) { return static_cast<float>(j); }), -1);
  // Wrong number of counts is an error naming both.
  std::vector<int64_t> short_counts(static_cast<size_t>(n()) + 1, 1);
  EXPECT_THROW(comm().all_gather_v(in.data(), out.data(), short_counts, DType::f32), Error);
}

TEST_P(Collectives, AllGatherVWithEmptyRanks) {
  const auto counts = uneven_counts(n());
  const int64_t total = sum_of(counts);
  const int64_t offset = sum_before(counts, rank());
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  auto in = buf(make<float>(mine, [&](size_t i) { return static_cast<float>(offset + static_cast<int64_t>(i)); }));
  auto out = buf<float>(static_cast<size_t>(total), -1.0f);
  comm().all_gather_v(in.data(), out.data(), counts, DType::f32);
  EXPECT_EQ(first_mismatch(out.host(), [](size_t j) { return static_cast<float>(j); }), -1) << "out of place";
  std::vector<float> init(static_cast<size_t>(total), -1.0f);
  for (size_t i = 0; i < mine; ++i) init[static_cast<size_t>(offset) + i] = static_cast<float>(offset + static_cast<int64_t>(i));
  auto b = buf(init);
  comm().all_gather_v(b.data() + offset, b.data(), counts, DType::f32);
  EXPECT_EQ(first_mismatch(b.host(), [](size_t j) { return static_cast<float>(j); }), -1) << "in place";
}

TEST_P(Collectives, ReduceScatterSumsThenSplits) {
  for (size_t recv_count : kBlockCounts) {
    SCOPED_TRACE("recv_count " + std::to_string(recv_count));
    const size_t total = recv_count * static_cast<size_t>(n());
    const auto init = make<float>(total, [&](size_t j) { return static_cast<float>(rank() + static_cast<int>(j % 101)); });
    auto want = [&](size_t i) {
      return tri() + static_cast<float>(n() * static_cast<int>((static_cast<size_t>(rank()) * recv_count + i) % 101));
    };
    auto in = buf(init);
    auto out = buf<float>(recv_count, -1.0f);
    comm().reduce_scatter(std::span<const float>(in.data(), in.size()), out.span(), ReduceOp::sum);
    EXPECT_EQ(first_mismatch(out.host(), want), -1) << "out of place";
    // In place (NCCL's convention): the result lands at this rank's block.
    const size_t at = static_cast<size_t>(rank()) * recv_count;
    auto b = buf(init);
    comm().reduce_scatter(b.data(), b.data() + at, recv_count, DType::f32, ReduceOp::sum);
    EXPECT_EQ(first_mismatch(b.host(at, recv_count), want), -1) << "in place";
    // In place, avg.
    auto c = buf(init);
    comm().reduce_scatter(c.data(), c.data() + at, recv_count, DType::f32, ReduceOp::avg);
    const auto got = c.host(at, recv_count);
    EXPECT_EQ(first_far(got, [&](size_t i) { return want(i) / static_cast<float>(n()); }, 1e-5, 1 + recv_count / 1000), -1)
        << "in place, avg";
    if (backend().avg_exact) {
      EXPECT_EQ(first_mismatch(got, [&](size_t i) { return mpi_avg(want(i), n()); }), -1) << "in place, avg to the bit";
    }
  }
}

TEST_P(Collectives, ReduceScatterThatCannotSplitEvenlyIsAnError) {
  if (n() == 1) GTEST_SKIP() << "every count splits over one rank";
  auto in = buf<float>(static_cast<size_t>(n()) * 3 + 1, 1.0f);
  auto out = buf<float>(3, 0.0f);
  try {
    comm().reduce_scatter(std::span<const float>(in.data(), in.size()), out.span(), ReduceOp::sum);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be split evenly"), std::string::npos) << e.what();
  }
}

TEST_P(Collectives, ReduceScatterVUneven) {
  std::vector<int64_t> counts(static_cast<size_t>(n()));
  for (int r = 0; r < n(); ++r) counts[static_cast<size_t>(r)] = r + 1;
  std::vector<float> init(static_cast<size_t>(sum_of(counts)));
  std::iota(init.begin(), init.end(), 0.0f);  // same on every rank: sum = n * value
  auto in = buf(init);
  auto out = buf<float>(static_cast<size_t>(rank() + 1), -1.0f);
  comm().reduce_scatter_v(in.data(), out.data(), counts, DType::f32, ReduceOp::sum);
  const int64_t offset = rank() * (rank() + 1) / 2;
  EXPECT_EQ(first_mismatch(out.host(), [&](size_t i) { return static_cast<float>(n() * (offset + static_cast<int64_t>(i))); }), -1);
}

TEST_P(Collectives, ReduceScatterVWithEmptyRanks) {
  const auto counts = uneven_counts(n());
  const size_t total = static_cast<size_t>(sum_of(counts));
  const int64_t offset = sum_before(counts, rank());
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  // Rank r holds j + r at global index j: sum n*j + tri, max j + n - 1, avg j + (n-1)/2.
  const auto init = make<float>(total, [&](size_t j) { return static_cast<float>(static_cast<int>(j) + rank()); });
  // A second pattern, (r + j) % 9: the largest value comes from different ranks.
  const auto init9 = make<float>(total, [&](size_t j) { return static_cast<float>((rank() + static_cast<int>(j)) % 9); });
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::avg}) {
    SCOPED_TRACE(std::string(reduce_op_name(op)));
    auto want = [&](size_t i) {
      const double j = static_cast<double>(offset) + static_cast<double>(i);
      return op == ReduceOp::sum ? n() * j + tri() : op == ReduceOp::max ? j + n() - 1 : j + (n() - 1) / 2.0;
    };
    auto want_bits = [&](size_t i) {  // MPI's fp32 result
      const float j = static_cast<float>(offset + static_cast<int64_t>(i));
      const float s = static_cast<float>(n()) * j + tri();
      return op == ReduceOp::sum ? s : op == ReduceOp::max ? j + static_cast<float>(n() - 1) : mpi_avg(s, n());
    };
    auto in = buf(init);
    auto out = buf<float>(mine, -1.0f);
    comm().reduce_scatter_v(in.data(), out.data(), counts, DType::f32, op);
    const auto got = out.host();
    EXPECT_EQ(first_far(got, want, 1e-5), -1) << "out of place";
    if (backend().avg_exact) { EXPECT_EQ(first_mismatch(got, want_bits), -1) << "out of place, to the bit"; }
    auto c = buf(init9);
    auto out9 = buf<float>(mine, -1.0f);
    comm().reduce_scatter_v(c.data(), out9.data(), counts, DType::f32, op);
    auto want9 = [&](size_t i) {
      const int j = static_cast<int>(offset) + static_cast<int>(i);
      return reduce_over_ranks(n(), op, [&](int r) { return (r + j) % 9; });
    };
    const auto got9 = out9.host();
    if (op == ReduceOp::avg && !backend().avg_exact) {
      EXPECT_EQ(first_far(got9, want9, 1e-5), -1) << "mod 9";
    } else if (op == ReduceOp::avg) {
      EXPECT_EQ(first_mismatch(got9, [&](size_t i) { return mpi_avg(static_cast<float>(want9(i) * n()), n()); }), -1) << "mod 9";
    } else {
      EXPECT_EQ(first_mismatch(got9, [&](size_t i) { return static_cast<float>(want9(i)); }), -1) << "mod 9";
    }
  }
}

TEST_P(Collectives, ReduceScatterVInPlaceWithEmptyRanks) {
  const auto counts = uneven_counts(n());
  const size_t total = static_cast<size_t>(sum_of(counts));
  const int64_t offset = sum_before(counts, rank());
  const size_t mine = static_cast<size_t>(counts[static_cast<size_t>(rank())]);
  const auto init = make<float>(total, [&](size_t j) { return static_cast<float>(static_cast<int>(j) + rank()); });
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::avg}) {
    SCOPED_TRACE(std::string(reduce_op_name(op)));
    auto want = [&](size_t i) {
      const double j = static_cast<double>(offset) + static_cast<double>(i);
      return op == ReduceOp::sum ? n() * j + tri() : op == ReduceOp::max ? j + n() - 1 : j + (n() - 1) / 2.0;
    };
    // In place (NCCL's form): recv is this rank's block of send.
    auto b = buf(init);
    comm().reduce_scatter_v(b.data(), b.data() + offset, counts, DType::f32, op);
    EXPECT_EQ(first_far(b.host(static_cast<size_t>(offset), mine), want, 1e-5), -1) << "in place";
  }
}

TEST_P(Collectives, BroadcastFromEveryRoot) {
  for (int root = 0; root < n(); ++root) {
    for (size_t count : kCounts) {
      auto b = buf<float>(count, static_cast<float>(rank()));
      comm().broadcast(b.span(), root);
      EXPECT_EQ(first_mismatch(b.host(), [&](size_t) { return static_cast<float>(root); }), -1)
          << "root " << root << ", count " << count;
    }
    auto pattern = buf(make<float>(777, [&](size_t i) { return static_cast<float>(rank() * 1000 + static_cast<int>(i)); }));
    comm().broadcast(pattern.data(), pattern.size(), DType::f32, root);
    EXPECT_EQ(first_mismatch(pattern.host(), [&](size_t i) { return static_cast<float>(root * 1000 + static_cast<int>(i)); }), -1)
        << "pattern, root " << root;
    auto bytes = buf<uint8_t>(5, static_cast<uint8_t>(rank() + 7));
    comm().broadcast(bytes.data(), bytes.size(), DType::u8, root);
    EXPECT_EQ(bytes.host(), std::vector<uint8_t>(5, static_cast<uint8_t>(root + 7))) << "u8, root " << root;
  }
  auto b = buf<float>(1, 0.0f);
  EXPECT_THROW(comm().broadcast(b.span(), n()), Error);
}

TEST_P(Collectives, AllToAllTransposesBlocks) {
  // Rank r's block p holds code(r, p, k); after the call rank r's block p is rank p's
  // block r: code(p, r, k).
  auto code = [](int from, int to, size_t k) {
    return static_cast<float>(from * 100000 + to * 1000 + static_cast<int>(k % 997));
  };
  const size_t peers = static_cast<size_t>(n());
  const size_t biggest = kBig / 16;
  for (size_t per_peer : {size_t{0}, size_t{1}, size_t{13}, size_t{1} << 15, biggest}) {
    SCOPED_TRACE("per peer " + std::to_string(per_peer));
    const auto init = make<float>(per_peer * peers, [&](size_t j) { return code(rank(), static_cast<int>(j / per_peer), j % per_peer); });
    auto want = [&](size_t j) { return code(static_cast<int>(j / per_peer), rank(), j % per_peer); };
    auto send = buf(init);
    auto recv = buf<float>(init.size(), -1.0f);
    comm().all_to_all(send.data(), recv.data(), per_peer, DType::f32);
    EXPECT_EQ(first_mismatch(recv.host(), want), -1) << "out of place";
    comm().all_to_all(send.data(), send.data(), per_peer, DType::f32);
    EXPECT_EQ(first_mismatch(send.host(), want), -1) << "in place";
  }
  const auto& last = comm().log().records().back();
  EXPECT_EQ(last.op, CommOp::all_to_all);
  EXPECT_EQ(last.bytes, static_cast<int64_t>(biggest * peers * sizeof(float)));
}

TEST_P(Collectives, Bf16ReduceScatterInAndOutOfPlace) {
  const size_t recv_count = 1001;
  const size_t total = recv_count * static_cast<size_t>(n());
  const auto values = make<float>(total, [&](size_t j) { return static_cast<float>((rank() + static_cast<int>(j)) % 5); });
  auto want = [&](size_t i) {
    float s = 0;
    for (int r = 0; r < n(); ++r) s += static_cast<float>((r + static_cast<int>(static_cast<size_t>(rank()) * recv_count + i)) % 5);
    return s;
  };
  const auto in = to_bf16(values);
  auto src = buf(in);
  auto out = buf<uint16_t>(recv_count, 0xffff);
  comm().reduce_scatter(src.data(), out.data(), recv_count, DType::bf16, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(from_bf16(out.host()), want), -1) << "out of place";
  const size_t at = static_cast<size_t>(rank()) * recv_count;
  auto b = buf(in);
  comm().reduce_scatter(b.data(), b.data() + at, recv_count, DType::bf16, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(from_bf16(b.host(at, recv_count)), want), -1) << "in place";
}

TEST_P(Collectives, SplitIntoEvenAndOddRanksGivesAChildOfTheSameKind) {
  auto half = comm().split(rank() % 2, rank(), "parity");
  const Communicator& child = *half;
  const Communicator& parent = comm();
  EXPECT_EQ(typeid(child), typeid(parent));
  EXPECT_EQ(half->name(), "parity");
  EXPECT_EQ(&half->log(), &comm().log());
  EXPECT_EQ(half->size(), (n() + 1 - rank() % 2) / 2);
  for (int r : half->world_ranks()) EXPECT_EQ(r % 2, rank() % 2);
  float want = 0;
  for (int r = rank() % 2; r < n(); r += 2) want += static_cast<float>(r);
  auto x = buf<float>(1, static_cast<float>(rank()));
  half->all_reduce(x.span(), ReduceOp::sum);
  EXPECT_EQ(x.host()[0], want);
  auto big = buf<float>(1000, static_cast<float>(rank()));
  half->all_reduce(big.data(), big.data(), big.size(), DType::f32, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(big.host(), [&](size_t) { return want; }), -1);
  // The parent still works after the child was made (and after it is gone).
  half.reset();
  auto y = buf<float>(10, 1.0f);
  comm().all_reduce(y.data(), y.data(), y.size(), DType::f32, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(y.host(), [&](size_t) { return static_cast<float>(n()); }), -1);
}

TEST_P(Collectives, EveryCallIsRecordedOnce) {
  const size_t first = comm().log().records().size();
  auto x = buf<float>(100, 1.0f);
  auto y = buf<float>(100 * static_cast<size_t>(n()), 0.0f);
  comm().all_reduce(x.span(), ReduceOp::sum);
  comm().all_gather(std::span<const float>(x.data(), x.size()), y.span());
  comm().barrier();
  const auto recs = comm().log().since(first);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].op, CommOp::all_reduce);
  EXPECT_EQ(recs[0].bytes, 400);
  EXPECT_EQ(recs[1].op, CommOp::all_gather);
  EXPECT_EQ(recs[1].bytes, 400 * n());
  EXPECT_EQ(recs[2].op, CommOp::barrier);
  for (const auto& r : recs) {
    EXPECT_LE(r.start_ns, r.end_ns);
    EXPECT_EQ(comm().log().group(r.group).name, "world");
  }
  EXPECT_LE(recs[0].end_ns, recs[1].start_ns);
  EXPECT_EQ(first_mismatch(y.host(), [&](size_t) { return static_cast<float>(n()); }), -1);
}

TEST_P(Collectives, BadArgumentsAreClearErrors) {
  // Checked before any communication, on every rank alike, so nobody hangs.
  EXPECT_THROW(comm().all_reduce(nullptr, nullptr, size_t{1} << 32, DType::f32, ReduceOp::sum), Error);
  auto x = buf<float>(4, 0.0f);
  EXPECT_THROW(comm().all_reduce(nullptr, x.data(), 4, DType::f32, ReduceOp::sum), Error);
  uint8_t bytes[2] = {0, 0};  // host memory: every backend reduces it with MPI, which has no u8 sum
  EXPECT_THROW(comm().all_reduce(bytes, bytes, 2, DType::u8, ReduceOp::sum), Error);
  auto small = buf<float>(1, 0.0f);
  EXPECT_THROW(comm().all_gather(std::span<const float>(x.data(), x.size()), small.span()), Error);
}

TEST_P(Collectives, HostScalarsGoThroughTheSameCommunicator) {
  std::vector<double> loss = {0.5 + rank()};
  comm().all_reduce(loss.data(), loss.data(), 1, DType::f64, ReduceOp::avg);
  EXPECT_DOUBLE_EQ(loss[0], 0.5 + (n() - 1) / 2.0);
  std::vector<int64_t> mine = {rank() * 3 + 1}, all(static_cast<size_t>(n()), -1);
  comm().all_gather(mine.data(), all.data(), 1, DType::i64);
  for (int r = 0; r < n(); ++r) EXPECT_EQ(all[static_cast<size_t>(r)], r * 3 + 1);
}

TEST_P(Collectives, MixedHostAndDeviceBuffers) {
  if (backend().mixing_is_error) {
    auto d = buf<float>(4, 1.0f);
    std::vector<float> h(4, 1.0f);
    // Refused on every rank before any communication, so nobody waits.
    EXPECT_THROW(comm().all_reduce(d.data(), h.data(), 4, DType::f32, ReduceOp::sum), Error);
    return;
  }
  // Each buffer is taken as it is: a host send into a test-memory recv...
  const auto in = make<float>(100, [&](size_t i) { return static_cast<float>(rank() * 1000 + static_cast<int>(i)); });
  auto out = buf<float>(100 * static_cast<size_t>(n()), -1.0f);
  comm().all_gather(in.data(), out.data(), in.size(), DType::f32);
  EXPECT_EQ(first_mismatch(out.host(), [](size_t j) { return static_cast<float>(static_cast<int>(j / 100) * 1000 + static_cast<int>(j % 100)); }), -1)
      << "all_gather, host send";
  // ... and a test-memory send into a host recv.
  auto src = buf(make<float>(100 * static_cast<size_t>(n()), [&](size_t j) { return static_cast<float>(rank() + static_cast<int>(j % 13)); }));
  std::vector<float> dst(100, -1.0f);
  comm().reduce_scatter(src.data(), dst.data(), dst.size(), DType::f32, ReduceOp::sum);
  EXPECT_EQ(first_mismatch(dst, [&](size_t i) { return tri() + static_cast<float>(n() * static_cast<int>((static_cast<size_t>(rank()) * 100 + i) % 13)); }), -1)
      << "reduce_scatter, host recv";
}

TEST_P(Collectives, ResultsAreOrderedAgainstTheComputeStream) {
  if (!backend().gpu) GTEST_SKIP() << "buffers in host memory: no compute stream to order against";
  // Work queued on the compute stream before the call is its input; work queued after it
  // sees its result. No host synchronisation in between.
  constexpr size_t kCount = size_t{1} << 22;
  auto x = buf<float>(kCount, 0.0f);
  auto copy = buf<float>(kCount, -1.0f);
  for (int round = 1; round <= 3; ++round) {
    device::fill_f32(x.data(), kCount, static_cast<float>(rank() + round));
    comm().all_reduce(x.data(), x.data(), kCount, DType::f32, ReduceOp::sum);
    device::copy_bytes(copy.data(), x.data(), x.bytes());
    const float want = tri() + static_cast<float>(n() * round);
    EXPECT_EQ(first_mismatch(copy.host(), [&](size_t) { return want; }), -1) << "round " << round;
  }
}

}  // namespace
}  // namespace tpb::testing
