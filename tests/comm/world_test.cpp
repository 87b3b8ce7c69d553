// make_world on the ranks mpirun started: the CPU path always; the CUDA path either refuses
// plainly on every rank (no CUDA device, or a build without CUDA) or picks a transport.
#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "comm/world.h"
#include "device/device.h"

namespace tpb {
namespace {

TEST(World, CpuIsMpiOnHostMemory) {
  World w = make_world(false);
  ASSERT_NE(w.comm, nullptr);
  EXPECT_EQ(w.path, "MPI (host memory)");
  EXPECT_EQ(w.comm->name(), "world");
  std::vector<double> x = {1.0};
  w.comm->all_reduce(x.data(), x.data(), 1, DType::f64, ReduceOp::sum);
  EXPECT_EQ(x[0], static_cast<double>(w.comm->size()));
}

TEST(World, CudaRefusesWithoutADeviceOrPicksATransport) {
  std::string why;
  if (device::cuda_device_count(&why) == 0) {
    try {
      (void)make_world(true);
      FAIL() << "no error without a CUDA device";
    } catch (const UsageError& e) {
      const std::string text = e.what();
      EXPECT_NE(text.find("--device cuda: no CUDA device"), std::string::npos) << text;
      EXPECT_NE(text.find(why), std::string::npos) << text;
    }
    return;
  }
  World w = make_world(true);
  ASSERT_NE(w.comm, nullptr);
  EXPECT_TRUE(w.path.starts_with("NCCL (one GPU per rank, ") ||
              w.path.starts_with("MPI with host staging ("))
      << w.path;
  std::vector<double> x = {1.0};
  w.comm->all_reduce(x.data(), x.data(), 1, DType::f64, ReduceOp::sum);
  EXPECT_EQ(x[0], static_cast<double>(w.comm->size()));
}

}  // namespace
}  // namespace tpb
