// The benchmark harness for real under mpirun (2, 3 and 4 ranks): every op passes the
// bit-exact check in and out of place, in fp32 and bf16, at sizes whose counts do not
// divide by the rank count (all_reduce, broadcast) or get rounded down to a multiple of it
// (all_gather, reduce_scatter, all_to_all), on the world and on a mesh's groups; and the
// checker does see a wrong value.
#include <gtest/gtest.h>

#include <optional>

#include "base/bf16.h"
#include "comm/device_mesh.h"
#include "comm/mpi/mpi_communicator.h"
#include "commbench/bench_op.h"
#include "commbench/check_values.h"
#include "commbench/collective_call.h"
#include "commbench/comm_report.h"
#include "commbench/harness.h"

namespace tpb {
namespace {

class Harness : public ::testing::Test {
 protected:
  void SetUp() override { world_ = MpiCommunicator::world(); }
  // Sizes 4 * 7^k bytes up to 460 KiB: 7^k fp32 or 2 * 7^k bf16 elements, counts that 3
  // and 4 (and, in fp32, 2) do not divide.
  CommBenchConfig small_sweep(DType dtype) const {
    CommBenchConfig c;
    c.ops = bench_ops();
    c.min_bytes = 4;
    c.max_bytes = 512 << 10;
    c.step_factor = 7;
    c.iters = 2;
    c.warmup = 1;
    c.dtype = dtype;
    return c;
  }
  std::unique_ptr<MpiCommunicator> world_;
};

void expect_clean(const OpResult& r, const CommBenchConfig& c, int n) {
  for (const SizeResult& s : r.sizes) {
    EXPECT_EQ(s.out_of_place.wrong, 0) << comm_op_name(r.op) << " out of place, " << s.count << " elements";
    EXPECT_EQ(s.in_place.wrong, 0) << comm_op_name(r.op) << " in place, " << s.count << " elements";
    EXPECT_GT(s.out_of_place.time_s, 0.0);
    EXPECT_EQ(s.count, op_element_count(r.op, s.requested_bytes, c.dtype, n));
    EXPECT_EQ(s.bytes, s.count * dtype_size(c.dtype));
  }
}

TEST_F(Harness, EveryOpIsExactOnTheWorldInBothDtypes) {
  for (DType dtype : {DType::f32, DType::bf16}) {
    CommBenchConfig c = small_sweep(dtype);
    c.root = world_->size() - 1;
    const GroupLayout layout = comm_group_layout(c, world_->size());
    for (CommOp op : c.ops) {
      const OpResult r = run_comm_op(op, c, layout, *world_, *world_);
      EXPECT_EQ(r.sizes.size(), 7u);
      expect_clean(r, c, world_->size());
    }
  }
  // The sweep did exercise an all_reduce count that n does not divide.
  EXPECT_NE(op_element_count(CommOp::all_reduce, 28, DType::f32, world_->size()) % world_->size(), 0u);
  EXPECT_EQ(world_->log().records().size(), 0u) << "the log is cleared after every size";
}

TEST_F(Harness, MeshGroupsRunAllAtOnce) {
  if (world_->size() != 4) GTEST_SKIP() << "a 2 x 2 mesh needs 4 ranks";
  for (const char* which : {"tp", "dp"}) {
    CommBenchConfig c = small_sweep(DType::f32);
    c.max_bytes = 4096;
    c.tp = 2;
    c.group = which;
    c.per_rank = true;
    const GroupLayout layout = comm_group_layout(c, 4);
    DeviceMesh mesh(*world_, ParallelDims(world_->size(), 2));
    Communicator& group = c.group == "tp" ? mesh.tp() : mesh.dp();
    for (CommOp op : c.ops) {
      const OpResult r = run_comm_op(op, c, layout, *world_, group);
      expect_clean(r, c, 2);
      for (const SizeResult& s : r.sizes) {
        ASSERT_EQ(s.out_of_place.group_time_s.size(), 2u);
        EXPECT_DOUBLE_EQ(s.out_of_place.time_s, std::max(s.out_of_place.group_time_s[0],
                                                         s.out_of_place.group_time_s[1]));
        ASSERT_EQ(s.ranks.size(), 4u);
        for (const RankView& v : s.ranks) {
          EXPECT_EQ(v.group, layout.group_of(v.rank));
          EXPECT_GE(v.out_of_place.wait_s, 0.0);
          EXPECT_GE(v.out_of_place.transfer_s, 0.0);
          EXPECT_LE(v.out_of_place.wait_s, v.out_of_place.time_s * 1.0001 + 1e-9);
        }
      }
    }
  }
}

TEST_F(Harness, TheCheckerSeesOneWrongValue) {
  const int n = world_->size();
  for (DType dtype : {DType::f32, DType::bf16}) {
    for (CommOp op : bench_ops()) {
      for (bool in_place : {false, true}) {
        const size_t count = op_element_count(op, 1000, dtype, n);
        BenchBuffers buffers;
        buffers.resize(count, dtype);
        const CollectiveCall call = make_call(op, dtype, count, in_place, 0, *world_, buffers);
        fill_check_values(call, world_->rank(), n);
        issue(*world_, call);
        // EXPECT, not ASSERT: a rank that returned early would leave the others waiting in
        // the next collective.
        EXPECT_EQ(count_wrong(call, world_->rank(), n), 0) << comm_op_name(op);
        // 1000 is no check value (all are below 251), and exact in bf16.
        if (dtype == DType::bf16) static_cast<uint16_t*>(call.recv)[0] = float_to_bf16(1000.0f);
        else static_cast<float*>(call.recv)[0] = 1000.0f;
        EXPECT_EQ(count_wrong(call, world_->rank(), n), 1) << comm_op_name(op) << (in_place ? " in place" : "");
      }
    }
  }
}

TEST_F(Harness, FitAndJsonCoverEveryOp) {
  CommBenchConfig c = small_sweep(DType::f32);
  c.per_rank = true;
  const GroupLayout layout = comm_group_layout(c, world_->size());
  std::vector<OpResult> results;
  std::vector<std::optional<AlphaBetaFit>> fits;
  for (CommOp op : c.ops) {
    results.push_back(run_comm_op(op, c, layout, *world_, *world_));
    fits.push_back(fit_op(results.back()));
    ASSERT_TRUE(fits.back().has_value());
    EXPECT_GE(fits.back()->alpha_s, 0.0);
    EXPECT_GE(fits.back()->beta_s_per_byte, 0.0);
  }
  const nlohmann::json j = comm_results_json(c, layout, world_->size(), MachineInfo{}, results, fits);
  EXPECT_EQ(j["wrong_total"], 0);
  EXPECT_EQ(j["ops"].size(), 5u);
  EXPECT_EQ(j["ops"][0]["sizes"][0]["per_rank"].size(), static_cast<size_t>(world_->size()));
  const std::string table = format_comm_table(results[0], c, layout);
  EXPECT_NE(table.find("# Out of bounds values : 0 OK"), std::string::npos) << table;
}

}  // namespace
}  // namespace tpb
