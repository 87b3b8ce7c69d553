// Reductions over host memory that the MPI backend's routes share: the avg step MPI lacks,
// and the element-wise reduction of the shared-memory route (comm/mpi/shm_collectives.h).
#pragma once

#include <cstddef>

#include "base/dtype.h"
#include "comm/communicator.h"

namespace tpb {

// avg = sum / n, applied after the sum: every element scaled once by 1/n in fp32 (fp64 for
// fp64; bf16: scaled in fp32 and rounded once). A no-op for sum, max or n == 1; avg of an
// integer or u8 type is an error.
void finish_avg(void* data, size_t count, DType t, ReduceOp op, int n);

// Whether reduce_sources handles this dtype (fp32, fp64, bf16, i32, i64).
bool host_reducible(DType t);

// out[i] = op over q = 0..nsrc-1 of src[q][i], in source order (((s0 op s1) op s2) ...), so
// every rank that reduces the same sources gets the same bits. avg reduces as sum (the
// caller scales with finish_avg). bf16 accumulates in fp32 and rounds once per element.
// `out` may alias one of the sources (it is written block by block after the block was read).
void reduce_sources(void* out, const void* const* src, int nsrc, size_t count, DType t, ReduceOp op);

}  // namespace tpb
