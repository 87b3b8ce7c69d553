#include "comm/flight_recorder.h"

namespace tpb {

std::optional<FlightEntry> FlightRing::entry(int64_t seq) const {
  if (seq <= 0) return std::nullopt;
  const Slot& s = slots_[static_cast<size_t>(seq % kCapacity)];
  const int64_t before = s.seq.load(std::memory_order_acquire);
  FlightEntry e;
  e.seq = seq;
  e.op = static_cast<CommOp>(s.op.load(std::memory_order_relaxed));
  e.bytes = s.bytes.load(std::memory_order_relaxed);
  e.start_ns = s.start_ns.load(std::memory_order_relaxed);
  e.end_ns = s.end_ns.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  const int64_t after = s.seq.load(std::memory_order_relaxed);
  if (before != seq || after != seq) return std::nullopt;
  return e;
}

std::vector<FlightEntry> FlightRing::entries() const {
  const int64_t last = entered();
  std::vector<FlightEntry> out;
  for (int64_t seq = std::max<int64_t>(1, last - kCapacity + 1); seq <= last; ++seq)
    if (auto e = entry(seq)) out.push_back(*e);
  return out;
}

FlightRing* FlightRecorder::add(int32_t group_id, const CommGroupInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  rings_.push_back(std::make_unique<FlightRing>());
  groups_.push_back(FlightGroup{group_id, info, rings_.back().get()});
  return rings_.back().get();
}

std::vector<FlightGroup> FlightRecorder::groups() const {
  std::lock_guard<std::mutex> lock(mu_);
  return groups_;
}

}  // namespace tpb
