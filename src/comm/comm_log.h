// CommLog: every collective call of every communicator of this rank, in call order.
//
// The Communicator base class appends one record per call (op, bytes, start, end, group),
// so profilers and reports see all communication without the caller doing anything.
// Timestamps are tpb::now_ns() (CLOCK_MONOTONIC, common to all ranks of a host): after a
// timed region, gathering the records of a group lets a report split each call into
// *wait* (until the last rank of the group arrived) and *transfer* without adding any
// synchronisation inside the timed region.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tpb {

enum class CommOp {
  all_reduce,
  all_gather,
  all_gather_v,
  reduce_scatter,
  reduce_scatter_v,
  broadcast,
  all_to_all,
  barrier,
};
std::string_view comm_op_name(CommOp op);

struct CommRecord {
  CommOp op;
  int32_t group;      // index into CommLog::groups()
  int64_t bytes;      // size of the full buffer, as nccl-tests counts it (see docs/metrics.md)
  int64_t start_ns;   // when this rank entered the call
  int64_t end_ns;     // when it returned
  uint8_t route = 0;  // the CollRoute that moved it (comm/coll_route.h): 0 mpi, 1 shm, 2 nccl
};

struct CommGroupInfo {
  std::string name;        // "world", "tp", "dp", ...
  int size = 0;
  int rank_in_group = 0;
  std::vector<int> world_ranks;  // members, by world rank, in group-rank order
};

class FlightRecorder;  // comm/flight_recorder.h

class CommLog {
 public:
  CommLog();  // reserves records, so typical timed regions never reallocate
  ~CommLog();

  int32_t add_group(CommGroupInfo info);
  // Thread-safe: a communication thread (overlapped gradient reduction) records too.
  void record(const CommRecord& r) {
    std::lock_guard<std::mutex> lock(mu_);
    records_.push_back(r);
  }

  const std::vector<CommRecord>& records() const { return records_; }
  const std::vector<CommGroupInfo>& groups() const { return groups_; }
  const CommGroupInfo& group(int32_t id) const { return groups_.at(static_cast<size_t>(id)); }
  // Drops the records (the groups stay); capacity is kept.
  void clear() { records_.clear(); }
  // Records from index `first` on, e.g. those of one timed region.
  std::vector<CommRecord> since(size_t first) const;
  // The flight recorder of these groups (one ring per group: its last collectives, with
  // per-group sequence numbers), shared so a watchdog may outlive the communicators.
  const std::shared_ptr<FlightRecorder>& flight() const { return flight_; }

 private:
  std::mutex mu_;
  std::vector<CommRecord> records_;
  std::vector<CommGroupInfo> groups_;
  std::shared_ptr<FlightRecorder> flight_;
};

}  // namespace tpb
