// Both tensor-parallel linear layouts against the serial layer, on however many ranks
// mpirun started: forward output, dW, db, dX and the updated weights, for even and uneven
// splits; every weight that the serial step moves must move.
#include <gtest/gtest.h>

#include "comm/mpi/mpi_communicator.h"
#include "kernels/ops.h"
#include "linear/linear_bench.h"
#include "parallel/conjugate.h"
#include "parallel/linear.h"

namespace tpb {
namespace {

struct Case {
  int64_t in, out, batch;
};

class ParallelLinear : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { world_ = MpiCommunicator::world(); }
  std::unique_ptr<MpiCommunicator> world_;
};

TEST_P(ParallelLinear, BothModesMatchTheSerialLayer) {
  const Case k = GetParam();
  LinearConfig c;
  c.in_features = k.in;
  c.out_features = k.out;
  c.batch = k.batch;
  c.lr = 0.1f;
  for (LinearMode mode : {LinearMode::row, LinearMode::column}) {
    SCOPED_TRACE(linear_mode_name(mode) + " on " + std::to_string(world_->size()) + " ranks");
    const LinearVerify v = verify_linear_mode(mode, c, *world_);
    ASSERT_EQ(v.errors.size(), 6u);
    for (const auto& e : v.errors) EXPECT_LE(e.max_rel, 1e-5) << e.what << " max abs " << e.max_abs;
    EXPECT_TRUE(v.inputs_identical);
    EXPECT_EQ(v.weights_stuck, 0);
    // Every parameter exists once per shard: row shards weight and bias; column shards the
    // weight and replicates the bias.
    const int64_t n = world_->size();
    EXPECT_EQ(v.weights_total, mode == LinearMode::row ? k.in * k.out + k.out : k.in * k.out + n * k.out);
    EXPECT_TRUE(v.passed(1e-5));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ParallelLinear,
                         ::testing::Values(Case{1000, 1000, 20},  // the seed's defaults
                                           Case{7, 10, 3},        // uneven over 3 and 4 ranks
                                           Case{13, 5, 1}));      // prime sizes, one sample

TEST(ParallelLinearOps, GatherFromTpReassemblesFeatureOrder) {
  auto world = MpiCommunicator::world();
  const int n = world->size(), rank = world->rank();
  const int64_t rows = 3, total = 2 * n + 1;  // uneven on purpose
  const auto sizes = split_sizes(total, n);
  const Shard mine = shard_of(total, n, rank);
  Tensor local = Tensor::empty({rows, mine.size}, MemCategory::activations);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < mine.size; ++j) local.f32()[i * mine.size + j] = static_cast<float>(i * 100 + mine.offset + j);
  Tensor out = Tensor::empty({rows, total}, MemCategory::activations);
  Tensor staging = Tensor::empty({rows * total}, MemCategory::comm_buffers);
  gather_from_tp_forward(out, staging, local, sizes, *world);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < total; ++j) ASSERT_EQ(out.f32()[i * total + j], static_cast<float>(i * 100 + j));
  // And the backward's slice takes exactly this rank's columns back.
  Tensor back = Tensor::empty({rows, mine.size}, MemCategory::activations);
  take_feature_slice(back, out, mine.offset);
  for (int64_t e = 0; e < back.numel(); ++e) ASSERT_EQ(back.f32()[e], local.f32()[e]);
}

// The seed's bug, reproduced: if the input gradient of the column-parallel layer is not
// all-reduced (f's backward skipped), it differs from the serial one on >1 rank. Checks
// that the reduction is what makes dX right, i.e. the test above can fail.
TEST(ParallelLinearOps, SkippingTheInputGradientReductionIsWrong) {
  auto world = MpiCommunicator::world();
  if (world->size() == 1) GTEST_SKIP() << "one rank holds every partial product";
  const int64_t in = 6, out = 8, rows = 2;
  Tensor w = Tensor::empty({out, in}, MemCategory::parameters);
  for (int64_t e = 0; e < w.numel(); ++e) w.f32()[e] = 0.1f * static_cast<float>(e % 7) - 0.3f;
  Tensor b;
  ColumnParallelLinear layer = column_parallel_linear_init(w, b, world->rank(), world->size());
  Tensor x = Tensor::empty({rows, in}, MemCategory::activations);
  x.fill(1.0f);
  Tensor dy_local = Tensor::empty({rows, layer.out_shard.size}, MemCategory::activations);
  dy_local.fill(1.0f);
  Tensor dx = Tensor::zeros({rows, in}, MemCategory::activations);
  column_parallel_linear_backward(dx, layer, dy_local, x);
  // Serial dX = ones(rows, out) W: column sums of W.
  std::vector<float> want(static_cast<size_t>(in), 0.0f);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) want[static_cast<size_t>(i)] += w.f32()[o * in + i];
  bool partial_equals_full = true;
  for (int64_t i = 0; i < in; ++i) partial_equals_full &= std::abs(dx.f32()[i] - want[static_cast<size_t>(i)]) < 1e-6f;
  EXPECT_FALSE(partial_equals_full);
  all_reduce_tp(dx, *world);
  for (int64_t i = 0; i < in; ++i) EXPECT_NEAR(dx.f32()[i], want[static_cast<size_t>(i)], 1e-5f);
}

}  // namespace
}  // namespace tpb
