#include "comm/world.h"

#include <mpi.h>

#include <set>
#include <string>
#include <vector>

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
  if (rc_rank != MPI_SUCCESS || rc_size != MPI_SUCCESS) MPI_Comm_free(&node);
  check_mpi(rc_rank, "MPI_Comm_rank (node)");
  check_mpi(rc_size, "MPI_Comm_size (node)");

  std::string why;
  const int devices = device::cuda_device_count(&why);
  // Agree before anything rank-specific can throw or pick a transport: the fewest GPUs any
  // rank sees, and whether every node has a GPU per rank.
  int fewest = 0;
  check_mpi(MPI_Allreduce(&devices, &fewest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
            "MPI_Allreduce (GPUs per node)");
  if (fewest == 0) {
    MPI_Comm_free(&node);
    const int lacking_here = devices == 0 ? 1 : 0;
    int lacking = 0;
    check_mpi(MPI_Allreduce(&lacking_here, &lacking, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce (ranks without a GPU)");
    if (devices == 0) usage_error("--device cuda: no CUDA device ({})", why);
    usage_error("--device cuda: no CUDA device on {} of {} ranks (rank {} sees {})", lacking,
                world_size, world_rank, devices);
  }
  device::use_cuda_device(local_rank % devices);
  // NCCL needs a GPU of its own for every rank. Whether the ranks of a node got distinct
  // GPUs is read from their PCI bus ids, not from counts: a launcher may give each rank one
  // visible (different) GPU through CUDA_VISIBLE_DEVICES.
  constexpr int kIdLen = 32;
  char my_id[kIdLen] = {};
  const std::string id = device::cuda_device_pci_bus_id();
  id.copy(my_id, kIdLen - 1);
  std::vector<char> ids(static_cast<size_t>(local_size) * kIdLen);
  const int rc_ids = MPI_Allgather(my_id, kIdLen, MPI_CHAR, ids.data(), kIdLen, MPI_CHAR, node);
  MPI_Comm_free(&node);
  check_mpi(rc_ids, "MPI_Allgather (GPU PCI bus ids of this node)");
  std::set<std::string> distinct;
  for (int r = 0; r < local_size; ++r) distinct.insert(std::string(ids.data() + static_cast<size_t>(r) * kIdLen));
  const int own_gpu_here = static_cast<int>(distinct.size()) == local_size ? 1 : 0;
  int own_gpu_everywhere = 0;
  check_mpi(MPI_Allreduce(&own_gpu_here, &own_gpu_everywhere, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
            "MPI_Allreduce (a GPU per rank)");

  if (own_gpu_everywhere == 1)
    return World{make_nccl_world(), fmt::format("NCCL (one GPU per rank, {} ranks)", world_size)};
  std::string path =
      own_gpu_here == 0
          ? fmt::format("MPI with host staging ({} ranks share {} GPU(s): NCCL needs one GPU per rank)",
                        local_size, distinct.size())
          : fmt::format("MPI with host staging (ranks of another node share a GPU: NCCL needs one "
                        "GPU per rank; this node has {} ranks on {} GPU(s))",
                        local_size, distinct.size());
  return World{HostStagedCommunicator::world(), std::move(path)};
}

}  // namespace tpb
