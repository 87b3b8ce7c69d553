// The one entry point to the NCCL backend that builds with or without CUDA: defined in
// nccl/nccl_communicator.cpp when CMake found the CUDA toolkit, and in
// no_cuda/nccl_world_absent.cpp (which throws "built without CUDA") otherwise.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace tpb {

// The NCCL communicator of every rank of the job, named "world", with a fresh CommLog,
// bootstrapped over MPI_COMM_WORLD. Collective; each rank must have selected its own GPU
// (device::use_cuda_device) first.
std::unique_ptr<Communicator> make_nccl_world();

}  // namespace tpb
