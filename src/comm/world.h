// The world communicator of a run, chosen by where the run computes.
//
//   CPU:   MpiCommunicator on host memory.
//   CUDA:  each rank selects GPU (rank on its node) % (GPUs it sees), then NCCL when
//          every rank of every node holds a GPU of its own (distinct PCI bus ids, so a
//          launcher's CUDA_VISIBLE_DEVICES per rank counts too; NCCL needs one GPU per
//          rank), else the host-staged MPI communicator (ranks sharing a GPU).
//
// Device (tensor/allocator.h) is not visible here (comm depends on base and device only),
// so the caller says `cuda`.
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"

namespace tpb {

struct World {
  std::unique_ptr<Communicator> comm;
  // How collectives move data, for reports: "MPI (host memory)",
  // "NCCL (one GPU per rank, 4 ranks)", "MPI with host staging (4 ranks share 1 GPU(s): ...)".
  std::string path;
};

// Collective over MPI_COMM_WORLD (MPI initialised). Every rank takes the same path: the
// ranks agree on it before any communicator is made. With `cuda`, a rank that sees no CUDA
// device makes every rank throw UsageError ("--device cuda: no CUDA device (...)").
World make_world(bool cuda);

}  // namespace tpb
