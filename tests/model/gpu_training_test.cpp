// The CUDA backend trains the same model as the CPU backend (runs wherever a GPU is present;
// on a machine without one every test skips and says so):
//   - one rank, tiny model, 10 steps: every step's loss and gradient norm on the GPU in fp32
//     match the CPU's within 1e-4 relative (different summation orders, nothing more);
//   - the same in bf16 mixed precision: the loss curve within 2e-2 relative of the fp32 CPU
//     run, and it learns;
//   - TP = 2 on 2 ranks sharing one GPU (MPI with host staging; NCCL when each has its own)
//     gives the losses and gradient norms of TP = 1 on the GPU, with and without sequence
//     parallelism (all-gathers and reduce-scatters on the device buffers).
// Runs on 2 ranks.
#include <gtest/gtest.h>

#include "comm/mpi/mpi_communicator.h"
#include "comm/world.h"
#include "device/device.h"
#include "model/tiny_train.h"
#include "train/trainer.h"

namespace tpb {
namespace {

TrainConfig tiny_config(int tp, const std::string& device, const std::string& dtype) {
  TrainConfig c = tiny_train_config(tp, 2);
  c.placement = parse_placement(device, dtype);
  return c;
}

// Loss, then gradient norm, of every step (rank 0's view).
std::vector<double> curve(const TrainResult& r) {
  std::vector<double> v;
  for (const IterRecord& it : r.per_rank.at(0)) {
    v.push_back(it.loss);
    v.push_back(it.grad_norm);
  }
  return v;
}

// Trains on the first `size` ranks of `world` (the others return {}).
std::vector<double> train_on(Communicator& world, int size, const TrainConfig& c) {
  const bool member = world.rank() < size;
  auto group = world.split(member ? 0 : 1, world.rank(), "mesh");
  if (!member) return {};
  DeviceMesh mesh(*group, ParallelDims(group->size(), c.tp, c.sp));
  return curve(train_tiny(c, mesh));
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  bool norms, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (i % 2 == 1 && !norms) continue;
    EXPECT_NEAR(got[i], want[i], rtol * std::abs(want[i]))
        << what << ", step " << i / 2 + 1 << (i % 2 ? " gradient norm" : " loss");
  }
}

class GpuTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (device::cuda_device_count(&why) == 0)
      GTEST_SKIP() << "no CUDA device (" << why << "): GPU training tests did not run";
  }
};

TEST_F(GpuTraining, Fp32AndBf16MatchTheCpuBackend) {
  auto cpu_world = MpiCommunicator::world();
  World gpu_world = make_world(/*cuda=*/true);
  const auto cpu = train_on(*cpu_world, 1, tiny_config(1, "cpu", "fp32"));
  const auto gpu = train_on(*gpu_world.comm, 1, tiny_config(1, "cuda", "fp32"));
  const auto bf16 = train_on(*gpu_world.comm, 1, tiny_config(1, "cuda", "bf16"));
  if (cpu_world->rank() != 0) return;
  ASSERT_EQ(cpu.size(), 20u);
  expect_close(gpu, cpu, 1e-4, /*norms=*/true, "GPU fp32 vs CPU");
  expect_close(bf16, cpu, 2e-2, /*norms=*/false, "GPU bf16 vs CPU fp32");
  EXPECT_LT(bf16[18], bf16[0]) << "bf16 training should learn";
}

TEST_F(GpuTraining, TensorParallelOnTwoRanksMatchesOneRank) {
  auto cpu_world = MpiCommunicator::world();
  ASSERT_EQ(cpu_world->size(), 2) << "run this test on 2 ranks";
  World gpu_world = make_world(/*cuda=*/true);
  if (cpu_world->rank() == 0) std::printf("collectives: %s\n", gpu_world.path.c_str());
  const auto tp1 = train_on(*gpu_world.comm, 1, tiny_config(1, "cuda", "fp32"));
  const auto tp2 = train_on(*gpu_world.comm, 2, tiny_config(2, "cuda", "fp32"));
  if (cpu_world->rank() == 0) expect_close(tp2, tp1, 1e-4, /*norms=*/true, "TP 2 vs TP 1 on the GPU");
  TrainConfig sp = tiny_config(2, "cuda", "fp32");
  sp.sp = true;
  const auto tp2_sp = train_on(*gpu_world.comm, 2, sp);
  if (cpu_world->rank() == 0) expect_close(tp2_sp, tp1, 1e-4, /*norms=*/true, "TP 2 --sp vs TP 1 on the GPU");
  const auto tp1_bf16 = train_on(*gpu_world.comm, 1, tiny_config(1, "cuda", "bf16"));
  const auto tp2_bf16 = train_on(*gpu_world.comm, 2, tiny_config(2, "cuda", "bf16"));
  if (cpu_world->rank() == 0)
    expect_close(tp2_bf16, tp1_bf16, 2e-2, /*norms=*/false, "bf16 TP 2 vs TP 1 on the GPU");
}

}  // namespace
}  // namespace tpb
