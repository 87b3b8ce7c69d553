// Pure rules of the collective benchmark: bus-bandwidth factors, sizes and counts, the
// check values' closed form, and the command-line checks.
#include <gtest/gtest.h>

#include "base/error.h"
#include "commbench/bench_op.h"
#include "commbench/check_values.h"
#include "commbench/comm_config.h"
#include "commbench/sizes.h"

namespace tpb {
namespace {

TEST(BusBandwidth, FactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_reduce, 1), 0.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_reduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_reduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::all_reduce, 3), 4.0 / 3.0);
  for (CommOp op : {CommOp::all_gather, CommOp::reduce_scatter, CommOp::all_to_all,
                    CommOp::all_gather_v, CommOp::reduce_scatter_v}) {
    EXPECT_DOUBLE_EQ(bus_bandwidth_factor(op, 2), 0.5) << comm_op_name(op);
    EXPECT_DOUBLE_EQ(bus_bandwidth_factor(op, 4), 0.75) << comm_op_name(op);
    EXPECT_DOUBLE_EQ(bus_bandwidth_factor(op, 3), 2.0 / 3.0) << comm_op_name(op);
  }
  EXPECT_DOUBLE_EQ(bus_bandwidth_factor(CommOp::broadcast, 8), 1.0);
  EXPECT_THROW(bus_bandwidth_factor(CommOp::barrier, 2), Error);
  EXPECT_THROW(bus_bandwidth_factor(CommOp::all_reduce, 0), Error);
}

TEST(Counts, RoundedDownToWhatTheOpCanSplit) {
  // 8 bytes of fp32 = 2 elements: any count for all_reduce/broadcast, a multiple of n else.
  EXPECT_EQ(op_element_count(CommOp::all_reduce, 8, DType::f32, 3), 2u);
  EXPECT_EQ(op_element_count(CommOp::broadcast, 10, DType::f32, 3), 2u);
  EXPECT_EQ(op_element_count(CommOp::all_gather, 8, DType::f32, 3), 0u);
  EXPECT_EQ(op_element_count(CommOp::reduce_scatter, 64, DType::f32, 3), 15u);
  EXPECT_EQ(op_element_count(CommOp::all_to_all, 64, DType::bf16, 3), 30u);
  EXPECT_EQ(op_element_count(CommOp::all_gather, 1 << 20, DType::bf16, 4), 1u << 19);
  // The call's own count: the buffer, one rank's block, or one peer's block.
  EXPECT_EQ(op_call_count(CommOp::all_reduce, 7, 3), 7u);
  EXPECT_EQ(op_call_count(CommOp::all_gather, 15, 3), 5u);
  EXPECT_EQ(op_call_count(CommOp::all_to_all, 0, 3), 0u);
  EXPECT_THROW(op_call_count(CommOp::reduce_scatter, 7, 3), Error);
}

TEST(Ops, ParseNamesAndAll) {
  EXPECT_EQ(parse_bench_ops("all").size(), 5u);
  EXPECT_EQ(parse_bench_ops("all_to_all"), std::vector<CommOp>{CommOp::all_to_all});
  EXPECT_THROW(parse_bench_ops("all_gather_v"), UsageError);
  EXPECT_EQ(parse_bench_dtype("bf16"), DType::bf16);
  EXPECT_THROW(parse_bench_dtype("fp16"), UsageError);
}

TEST(Sizes, ParseLikeNcclTests) {
  EXPECT_EQ(parse_size("8", "-b"), 8u);
  EXPECT_EQ(parse_size("64K", "-b"), 65536u);
  EXPECT_EQ(parse_size("64m", "-b"), size_t{64} << 20);
  EXPECT_EQ(parse_size("2G", "-b"), size_t{2} << 30);
  for (const char* bad : {"", "K", "12X", "1.5M", "-8", "8 M", "99999999999999999999"})
    EXPECT_THROW(parse_size(bad, "-b"), UsageError) << bad;
  EXPECT_EQ(format_size(65536), "64K");
  EXPECT_EQ(format_size(100), "100");
}

TEST(Sizes, SweepIsGeometricUpToMax) {
  EXPECT_EQ(sweep_sizes(8, 64 << 20, 4).size(), 12u);  // 8 * 4^11 = 32M; 8 * 4^12 = 128M > 64M
  EXPECT_EQ(sweep_sizes(8, 64 << 20, 4).back(), size_t{32} << 20);
  EXPECT_EQ(sweep_sizes(8, 1 << 20, 8), (std::vector<size_t>{8, 64, 512, 4096, 32768, 262144}));
  EXPECT_EQ(sweep_sizes(5, 5, 2), std::vector<size_t>{5});
  // No overflow near the top of size_t.
  EXPECT_EQ(sweep_sizes(size_t{1} << 62, ~size_t{0}, 2).size(), 2u);
}

TEST(CheckValues, ClosedFormSumMatchesTheLoop) {
  for (int n = 1; n <= 9; ++n)
    for (size_t j = 0; j < 10; ++j) {
      int64_t loop = 0;
      for (int r = 0; r < n; ++r) loop += static_cast<int64_t>((static_cast<size_t>(r) + j) % 3);
      EXPECT_EQ(sum_of_reduce_values(j, n), loop) << "n " << n << " j " << j;
      EXPECT_LE(loop, 2 * n);  // partial sums stay within 2n: exact in bf16 up to 128 ranks
    }
}

std::string usage_message(const CommBenchConfig& c, int world) {
  try {
    validate_comm_config(c, world);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, EachBadValueHasItsMessage) {
  CommBenchConfig ok;
  EXPECT_EQ(usage_message(ok, 4), "");
  auto with = [&](auto change) {
    CommBenchConfig c = ok;
    change(c);
    return usage_message(c, 4);
  };
  EXPECT_EQ(with([](auto& c) { c.min_bytes = 0; }), "-b/--min-bytes must be > 0, got 0");
  EXPECT_EQ(with([](auto& c) { c.min_bytes = 1024, c.max_bytes = 8; }),
            "-b/--min-bytes 1K is larger than -e/--max-bytes 8");
  EXPECT_EQ(with([](auto& c) { c.step_factor = 1; }), "-f/--step-factor must be >= 2, got 1");
  EXPECT_EQ(with([](auto& c) { c.iters = 0; }), "-n/--iters must be >= 1, got 0");
  EXPECT_EQ(with([](auto& c) { c.warmup = -1; }), "-w/--warmup must be >= 0, got -1");
  EXPECT_EQ(with([](auto& c) { c.check = -1; }), "-c/--check must be >= 0, got -1");
  EXPECT_EQ(with([](auto& c) { c.tp = 3; }), "--tp 3 does not divide the world size 4 (world = dp x tp)");
  EXPECT_EQ(with([](auto& c) { c.tp = 2, c.group = "pp"; }), "--group pp is not one of tp|dp");
  EXPECT_EQ(with([](auto& c) { c.group = "dp"; }), "--group dp needs --tp (without it the world is one group)");
  EXPECT_EQ(with([](auto& c) { c.tp = 2, c.root = 2; }), "--root 2 is outside a tp group of 2 ranks");
  EXPECT_EQ(with([](auto& c) { c.max_bytes = size_t{16} << 30; }),
            "-e/--max-bytes 16G is 4294967296 elements of fp32, more than the 2147483647 one call can move");
  EXPECT_EQ(usage_message([] { CommBenchConfig c; c.dtype = DType::bf16; return c; }(), 200),
            "-c with --dtype bf16 needs groups of at most 128 ranks (sums exact in bf16), got 200");
}

TEST(Config, GroupLayoutFollowsTheMesh) {
  CommBenchConfig c;
  GroupLayout world = comm_group_layout(c, 3);
  EXPECT_EQ(world.name, "world");
  EXPECT_EQ(world.size, 3);
  EXPECT_EQ(world.groups, (std::vector<std::vector<int>>{{0, 1, 2}}));
  c.tp = 2;
  GroupLayout tp = comm_group_layout(c, 4);
  EXPECT_EQ(tp.groups, (std::vector<std::vector<int>>{{0, 1}, {2, 3}}));
  EXPECT_EQ(tp.group_of(3), 1);
  c.group = "dp";
  GroupLayout dp = comm_group_layout(c, 4);
  EXPECT_EQ(dp.groups, (std::vector<std::vector<int>>{{0, 2}, {1, 3}}));
  EXPECT_EQ(dp.group_of(3), 1);
  EXPECT_EQ(dp.size, 2);
}

}  // namespace
}  // namespace tpb
