#include "comm/arrival.h"

#include <algorithm>

#include "base/clock.h"
#include "base/error.h"
#include "comm/coll_route.h"

namespace tpb {

void CommSums::add(const CommTiming& t) {
  seconds += seconds_between(t.record.start_ns, t.record.end_ns);
  wait += static_cast<double>(t.wait_ns) * 1e-9;
  transfer += static_cast<double>(t.transfer_ns) * 1e-9;
  bytes += static_cast<double>(t.record.bytes);
  ++calls;
  if (t.record.route == static_cast<uint8_t>(CollRoute::shm)) ++shm_calls;
}

CommSums sum_comms(std::span<const CommTiming> timings) {
  CommSums s;
  for (const CommTiming& t : timings) s.add(t);
  return s;
}

std::vector<CommRecord> records_of_group(std::span<const CommRecord> records, int32_t group_id) {
  std::vector<CommRecord> out;
  for (const auto& r : records)
    if (r.group == group_id) out.push_back(r);
  return out;
}

std::vector<CommTiming> split_wait_transfer(Communicator& group, std::span<const CommRecord> records) {
  const size_t n = records.size();
  // Agree on the call count first: a mismatch would make the gather below wrong.
  int64_t counts[2] = {static_cast<int64_t>(n), -static_cast<int64_t>(n)};
  group.all_reduce(counts, counts, 2, DType::i64, ReduceOp::max);
  TPB_CHECK(counts[0] == -counts[1],
            "split_wait_transfer: ranks of group '{}' logged between {} and {} calls", group.name(),
            -counts[1], counts[0]);
  std::vector<int64_t> mine(n), all(n * static_cast<size_t>(group.size()));
  for (size_t i = 0; i < n; ++i) mine[i] = records[i].start_ns;
  group.all_gather(mine.data(), all.data(), n, DType::i64);
  std::vector<CommTiming> out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t last = records[i].start_ns;
    for (int r = 0; r < group.size(); ++r) last = std::max(last, all[static_cast<size_t>(r) * n + i]);
    // A rank that left before the last arrival (possible for calls that do not need every
    // peer, such as a broadcast's root) had no wait and its transfer ended early.
    const int64_t arrival = std::min(last, records[i].end_ns);
    out[i] = {records[i], last, arrival - records[i].start_ns, records[i].end_ns - arrival};
  }
  return out;
}

}  // namespace tpb
