#include "profile/trace_files.h"

#include "comm/strings.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/error.h"
#include "profile/chrome_trace.h"
#include "report/atomic_file.h"

namespace tpb {

void write_traces(const TraceBuffer& trace, const std::vector<CommTiming>& comms, Communicator& world,
                  const std::string& out_dir, const std::string& tag) {
  // Common origin: the earliest timestamp of any rank.
  int64_t first = trace.spans().empty() ? 0 : trace.spans().front().start_ns;
  for (const auto& s : trace.spans()) first = std::min(first, s.start_ns);
  int64_t neg = -first;
  world.all_reduce(&neg, &neg, 1, DType::i64, ReduceOp::max);
  RankTrace t{world.rank(), world.size(), &trace.spans(), &comms, &world.log(), -neg};
  nlohmann::json events = trace_events(t);
  const std::string dir = fmt::format("{}/profiler_logs_rank_{}_{}", out_dir, world.rank(), tag);
  // A failed write is reported once every rank is past the collectives below (throwing
  // here would leave the others waiting in them): rank 0 throws for all.
  std::string failed;
  try {
    write_file_atomic(fmt::format("{}/rank{}_{}.pt.trace.json", dir, world.rank(), tag),
                      trace_document(events, world.rank(), world.size(), "mpi").dump());
  } catch (const Error& e) {
    failed = fmt::format("rank {}: {}", world.rank(), e.what());
  }

  // Merged: every rank's events travel to rank 0 as serialised JSON.
  const std::vector<std::string> all = all_gather_strings(world, events.dump());
  int64_t failed_ranks = failed.empty() ? 0 : 1;
  world.all_reduce(&failed_ranks, &failed_ranks, 1, DType::i64, ReduceOp::sum);
  if (world.rank() != 0) return;
  if (failed_ranks > 0)
    throw Error(fmt::format("writing traces failed on {} rank{}{}", failed_ranks, failed_ranks == 1 ? "" : "s",
                            failed.empty() ? " (not rank 0)" : ", " + failed));
  nlohmann::json merged = nlohmann::json::array();
  for (const std::string& rank_events : all)
    for (auto& e : nlohmann::json::parse(rank_events)) merged.push_back(std::move(e));
  write_file_atomic(fmt::format("{}/profiler_logs_all_ranks_{}/all_ranks_{}.pt.trace.json", out_dir, tag, tag),
                    trace_document(std::move(merged), 0, world.size(), "mpi").dump());
}

}  // namespace tpb
