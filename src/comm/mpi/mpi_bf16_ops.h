// bf16 reductions for MPI, which has no bfloat16 type: user-defined, commutative MPI_Ops
// over MPI_UINT16_T that convert each element to fp32, combine, and round back to bf16
// (nearest even) per element.
//
// The ops are created on first use (after MPI_Init, since the first use is a collective)
// and live until MPI_Finalize, which frees them with everything else MPI owns.
#pragma once

#include <mpi.h>

#include "comm/communicator.h"

namespace tpb {

// The MPI_Op for `op` on bf16 data: sum (also used by avg, which scales afterwards) or max.
MPI_Op mpi_bf16_op(ReduceOp op);

}  // namespace tpb
