// The collective test body (collective_cases.cpp) on device buffers, for the two GPU
// communicators: NCCL (one GPU per rank: skipped when ranks share a GPU) and MPI with host
// staging. Every rank selects GPU (rank on its node) % (GPUs on its node), as make_world
// does. Without a CUDA device every test is skipped, saying so.
//
// Results are copied back to the host with device::copy_bytes (on the compute stream, so
// it also checks that the results are ordered before later work there).
#include <gtest/gtest.h>
#include <mpi.h>

#include <memory>
#include <string>

#include "collective_cases.h"
#include "comm/mpi/host_staged_communicator.h"
#include "comm/nccl/nccl_world.h"
#include "device/device.h"

namespace tpb::testing {
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

std::string no_gpu_reason() {
  return "no CUDA device: NCCL/host-staging GPU tests did not run (" + gpus().why + ")";
}

Backend nccl_on_gpu() {
  Backend b;
  b.name = "NcclGpu";
  b.avg_exact = false;  // ncclAvg: inputs scaled by 1/size, then summed
  b.gpu = true;
  b.mixing_is_error = true;
  b.make = [] {
    BackendSetup s;
    const Gpus& g = gpus();
    if (g.devices == 0) {
      s.skip = no_gpu_reason();
    } else if (!g.one_per_rank) {
      s.skip = "NCCL needs one GPU per rank: " + std::to_string(g.local_size) + " ranks on this node, " +
               std::to_string(g.devices) + " GPU(s)";
    } else {
      s.memory = std::make_shared<GpuMemory>();
      s.comm = make_nccl_world();
    }
    return s;
  };
  return b;
}

Backend host_staged_on_gpu() {
  Backend b;
  b.name = "HostStagedGpu";
  b.gpu = true;
  b.make = [] {
    BackendSetup s;
    if (gpus().devices == 0) {
      s.skip = no_gpu_reason();
    } else {
      s.memory = std::make_shared<GpuMemory>();
      s.comm = HostStagedCommunicator::world();
    }
    return s;
  };
  return b;
}

INSTANTIATE_TEST_SUITE_P(Gpu, Collectives, ::testing::Values(nccl_on_gpu(), host_staged_on_gpu()), backend_name);

}  // namespace
}  // namespace tpb::testing
