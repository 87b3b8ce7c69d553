#include "commbench/bench_op.h"

#include <fmt/format.h>

#include "base/error.h"

namespace tpb {

namespace {

bool splits_over_ranks(CommOp op) {
  return op == CommOp::all_gather || op == CommOp::reduce_scatter || op == CommOp::all_to_all;
}

}  // namespace

const std::vector<CommOp>& bench_ops() {
  static const std::vector<CommOp> ops = {CommOp::all_reduce, CommOp::all_gather,
                                          CommOp::reduce_scatter, CommOp::broadcast,
                                          CommOp::all_to_all};
  return ops;
}

std::vector<CommOp> parse_bench_ops(std::string_view name) {
  if (name == "all") return bench_ops();
  std::vector<std::string> names;
  for (CommOp op : bench_ops()) {
    if (comm_op_name(op) == name) return {op};
    names.emplace_back(comm_op_name(op));
  }
  usage_error("--op {} is not one of {}|all", name, fmt::join(names, "|"));
}

DType parse_bench_dtype(std::string_view name) {
  if (name == "fp32") return DType::f32;
  if (name == "bf16") return DType::bf16;
  usage_error("--dtype {} is not one of fp32|bf16", name);
}

double bus_bandwidth_factor(CommOp op, int n) {
  TPB_CHECK(n >= 1, "bus_bandwidth_factor: group of {} ranks", n);
  const double ranks = static_cast<double>(n);
  switch (op) {
    case CommOp::all_reduce: return 2.0 * (ranks - 1.0) / ranks;
    case CommOp::all_gather:
    case CommOp::all_gather_v:
    case CommOp::reduce_scatter:
    case CommOp::reduce_scatter_v:
    case CommOp::all_to_all: return (ranks - 1.0) / ranks;
    case CommOp::broadcast: return 1.0;
    case CommOp::barrier: break;
  }
  TPB_CHECK(false, "bus_bandwidth_factor: {} moves no data", comm_op_name(op));
}

bool op_reduces(CommOp op) {
  return op == CommOp::all_reduce || op == CommOp::reduce_scatter ||
         op == CommOp::reduce_scatter_v;
}

bool op_has_root(CommOp op) { return op == CommOp::broadcast; }

size_t op_element_count(CommOp op, size_t bytes, DType dtype, int n) {
  TPB_CHECK(n >= 1, "op_element_count: group of {} ranks", n);
  const size_t count = bytes / dtype_size(dtype);
  if (!splits_over_ranks(op)) return count;
  return count / static_cast<size_t>(n) * static_cast<size_t>(n);
}

size_t op_call_count(CommOp op, size_t count, int n) {
  if (!splits_over_ranks(op)) return count;
  TPB_CHECK(count % static_cast<size_t>(n) == 0, "{}: {} elements do not split over {} ranks",
            comm_op_name(op), count, n);
  return count / static_cast<size_t>(n);
}

}  // namespace tpb
