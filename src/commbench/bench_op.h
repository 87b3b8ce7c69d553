// The collectives `tpbench comm` measures and nccl-tests' rules for each: how a size in
// bytes becomes an element count, and the bus-bandwidth factor (docs/metrics.md).
//
// A size is the bytes of the *full* buffer, as nccl-tests counts it: all_reduce and
// broadcast the buffer, all_gather the gathered output, reduce_scatter the input,
// all_to_all the whole send buffer (every peer's block).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/dtype.h"
#include "comm/comm_log.h"

namespace tpb {

// all_reduce, all_gather, reduce_scatter, broadcast, all_to_all: the order of `--op all`.
const std::vector<CommOp>& bench_ops();

// "all_reduce" -> CommOp::all_reduce; "all" -> every bench op. Throws UsageError listing
// the valid names.
std::vector<CommOp> parse_bench_ops(std::string_view name);
// "fp32" or "bf16"; throws UsageError otherwise.
DType parse_bench_dtype(std::string_view name);

// busbw = algbw * factor, with n ranks in the group:
//   all_reduce 2(n-1)/n; all_gather(_v), reduce_scatter(_v), all_to_all (n-1)/n; broadcast 1.
// Throws for ops without one (barrier) and for n < 1.
double bus_bandwidth_factor(CommOp op, int n);

// Whether the op combines values (its redop column shows "sum"), or has a root.
bool op_reduces(CommOp op);
bool op_has_root(CommOp op);

// Elements of the full buffer for `bytes` of `dtype` on n ranks: bytes / sizeof(dtype),
// rounded down to a multiple of n where the op splits the buffer over ranks (all_gather,
// reduce_scatter, all_to_all). May be 0.
size_t op_element_count(CommOp op, size_t bytes, DType dtype, int n);

// The count the Communicator call takes for a full buffer of `count` elements: the whole
// buffer (all_reduce, broadcast), one rank's block (all_gather, reduce_scatter) or one
// peer's block (all_to_all).
size_t op_call_count(CommOp op, size_t count, int n);

}  // namespace tpb
