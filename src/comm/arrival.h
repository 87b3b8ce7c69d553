// Splitting each collective's time into *wait* and *transfer*, after the fact.
//
// A collective cannot finish on any rank before the last rank of its group has entered
// it, so the time a rank spends inside a call is
//   wait     = last arrival in the group - this rank's entry      (skew, not communication)
//   transfer = this rank's exit - last arrival                      (the collective's own work)
// Entries are timestamps on CLOCK_MONOTONIC, common to all ranks of one host, so this needs
// no synchronisation inside the timed region: the records are exchanged afterwards. (Across
// hosts the clocks would first need aligning; this build assumes one host.)
#pragma once

#include <span>
#include <vector>

#include "comm/communicator.h"

namespace tpb {

struct CommTiming {
  CommRecord record;
  int64_t last_arrival_ns = 0;
  int64_t wait_ns = 0;
  int64_t transfer_ns = 0;
};

// Sums over collectives (one group's in one step, say): seconds inside the calls, of which
// waiting for the last rank and transfer, and bytes (CommRecord::bytes).
struct CommSums {
  double seconds = 0, wait = 0, transfer = 0, bytes = 0;
  int calls = 0, shm_calls = 0;  // collectives, and those the shared-memory route moved
  void add(const CommTiming& t);
};
CommSums sum_comms(std::span<const CommTiming> timings);

// The records of one group, in call order, as this rank logged them.
std::vector<CommRecord> records_of_group(std::span<const CommRecord> records, int32_t group_id);

// Collective over `group`: every member passes its own records of that group (the same
// calls in the same order on every member, as collectives require). Throws if the members
// disagree on the number of calls.
std::vector<CommTiming> split_wait_transfer(Communicator& group, std::span<const CommRecord> records);

}  // namespace tpb
