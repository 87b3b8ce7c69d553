#include "comm/comm_log.h"

#include "comm/flight_recorder.h"

namespace tpb {

CommLog::CommLog() : flight_(std::make_shared<FlightRecorder>()) { records_.reserve(1 << 14); }
CommLog::~CommLog() = default;

std::string_view comm_op_name(CommOp op) {
  switch (op) {
    case CommOp::all_reduce: return "all_reduce";
    case CommOp::all_gather: return "all_gather";
    case CommOp::all_gather_v: return "all_gather_v";
    case CommOp::reduce_scatter: return "reduce_scatter";
    case CommOp::reduce_scatter_v: return "reduce_scatter_v";
    case CommOp::broadcast: return "broadcast";
    case CommOp::all_to_all: return "all_to_all";
    case CommOp::barrier: return "barrier";
  }
  return "?";
}

int32_t CommLog::add_group(CommGroupInfo info) {
  groups_.push_back(std::move(info));
  return static_cast<int32_t>(groups_.size() - 1);
}

std::vector<CommRecord> CommLog::since(size_t first) const {
  if (first >= records_.size()) return {};
  return {records_.begin() + static_cast<std::ptrdiff_t>(first), records_.end()};
}

}  // namespace tpb
