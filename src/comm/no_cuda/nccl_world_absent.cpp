// make_nccl_world() of a build without the CUDA toolkit.
#include "base/error.h"
#include "comm/nccl/nccl_world.h"

namespace tpb {

std::unique_ptr<Communicator> make_nccl_world() {
  throw Error(
      "NCCL communicator: tpbench was built without CUDA (CMake did not find the CUDA "
      "toolkit); rebuild on a machine with nvcc and NCCL to use --device cuda");
}

}  // namespace tpb
