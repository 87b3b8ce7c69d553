#include "comm/world.h"

#include <mpi.h>

#include "base/error.h"
#include "comm/mpi/host_staged_communicator.h"
#include "comm/mpi/mpi_communicator.h"
#include "comm/nccl/nccl_world.h"
#include "device/device.h"

namespace tpb {

World make_world(bool cuda) {
  if (!cuda) return World{MpiCommunicator::world(), "MPI (host memory)"};

  int world_rank = 0;
  int world_size = 1;
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &world_size), "MPI_Comm_size");
  // The ranks of this node: they share its GPUs.
  MPI_Comm node = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL,
                                &node),
            "MPI_Comm_split_type (ranks of this node)");
  int local_rank = 0;
  int local_size = 1;
  const int rc_rank = MPI_Comm_rank(node, &local_rank);
  const int rc_size = MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);
  check_mpi(rc_rank, "MPI_Comm_rank (node)");
  check_mpi(rc_size, "MPI_Comm_size (node)");

  std::string why;
  const int devices = device::cuda_device_count(&why);
  // Agree before anything rank-specific can throw or pick a transport: the fewest GPUs any
  // rank sees, and whether every node has a GPU per rank.
  const int mine[2] = {devices, local_size <= devices ? 1 : 0};
  int fewest[2] = {0, 0};
  check_mpi(MPI_Allreduce(mine, fewest, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
            "MPI_Allreduce (GPUs per node)");
  if (fewest[0] == 0) {
    const int lacking_here = devices == 0 ? 1 : 0;
    int lacking = 0;
    check_mpi(MPI_Allreduce(&lacking_here, &lacking, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce (ranks without a GPU)");
    if (devices == 0) usage_error("--device cuda: no CUDA device ({})", why);
    usage_error("--device cuda: no CUDA device on {} of {} ranks (rank {} sees {})", lacking,
                world_size, world_rank, devices);
  }
  device::use_cuda_device(local_rank % devices);

  if (fewest[1] == 1)
    return World{make_nccl_world(), fmt::format("NCCL (one GPU per rank, {} ranks)", world_size)};
  std::string path =
      local_size > devices
          ? fmt::format("MPI with host staging ({} ranks share {} GPU(s): NCCL needs one GPU per rank)",
                        local_size, devices)
          : fmt::format("MPI with host staging (a node has more ranks than GPUs: NCCL needs one "
                        "GPU per rank; this one has {} ranks on {} GPU(s))",
                        local_size, devices);
  return World{HostStagedCommunicator::world(), std::move(path)};
}

}  // namespace tpb
