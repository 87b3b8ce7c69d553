// Chrome Trace Event Format output (opened by Perfetto UI, chrome://tracing and
// TensorBoard's PyTorch profiler plugin).
//
// One rank's events: its spans (ProfilerStep#N, phases, kernels) and its collectives, each
// collective with bytes, group, wait and transfer in `args` and a nested "wait" span for
// the time it waited for the last peer. Timestamps are microseconds from a common origin
// t0 (the earliest span of any rank), so the per-rank files and the merged file line up.
// pid is the rank: the merged file shows one process per rank.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/arrival.h"
#include "comm/comm_log.h"
#include "profile/trace.h"

namespace tpb {

struct RankTrace {
  int rank = 0;
  int world_size = 1;
  const std::vector<TraceSpan>* spans = nullptr;
  const std::vector<CommTiming>* comms = nullptr;
  const CommLog* log = nullptr;  // for group names
  int64_t t0_ns = 0;
};

// The rank's events as a JSON array, process-name metadata included.
nlohmann::json trace_events(const RankTrace& t);

// A whole trace document around an events array, in the shape PyTorch's profiler writes
// (schemaVersion, traceEvents, distributedInfo), so TensorBoard's plugin accepts it.
nlohmann::json trace_document(nlohmann::json events, int rank, int world_size,
                              const std::string& backend);

}  // namespace tpb
