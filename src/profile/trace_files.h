// Writing traces after timing, in the seed's layout: one file per rank in
// OUT/profiler_logs_rank_{rank}_{tag}/, and one merged file of every rank (a process per
// rank, on a common clock) in OUT/profiler_logs_all_ranks_{tag}/. Collective: every rank
// calls it; rank 0 writes the merged file. A failed write on any rank is thrown on rank 0 only
// (tpb::Error), after every collective, so no rank is left waiting.
#pragma once

#include <string>
#include <vector>

#include "comm/arrival.h"
#include "comm/communicator.h"
#include "profile/trace.h"

namespace tpb {

void write_traces(const TraceBuffer& trace, const std::vector<CommTiming>& comms, Communicator& world,
                  const std::string& out_dir, const std::string& tag);

}  // namespace tpb
