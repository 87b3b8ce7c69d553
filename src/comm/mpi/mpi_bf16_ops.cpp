#include "comm/mpi/mpi_bf16_ops.h"

#include <algorithm>
#include <cstdint>

#include "base/error.h"
#include "base/bf16.h"

namespace tpb {

namespace {

// MPI_User_function: inout[i] = inout[i] (op) in[i], element by element.
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const uint16_t* a = static_cast<const uint16_t*>(in);
  uint16_t* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

void bf16_max(void* in, void* inout, int* len, MPI_Datatype*) {
  const uint16_t* a = static_cast<const uint16_t*>(in);
  uint16_t* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i)
    if (bf16_to_float(a[i]) > bf16_to_float(b[i])) b[i] = a[i];
}

struct Bf16Ops {
  MPI_Op sum = MPI_OP_NULL;
  MPI_Op max = MPI_OP_NULL;
  Bf16Ops() {
    TPB_CHECK(MPI_Op_create(&bf16_sum, /*commute=*/1, &sum) == MPI_SUCCESS,
              "MPI_Op_create(bf16 sum) failed");
    TPB_CHECK(MPI_Op_create(&bf16_max, /*commute=*/1, &max) == MPI_SUCCESS,
              "MPI_Op_create(bf16 max) failed");
  }
};

}  // namespace

MPI_Op mpi_bf16_op(ReduceOp op) {
  // Created once, on the first bf16 reduction (thread-safe static initialisation). Not
  // freed by us: MPI_Finalize releases every op, and freeing here could run after it.
  static const Bf16Ops ops;
  return op == ReduceOp::max ? ops.max : ops.sum;
}

}  // namespace tpb
