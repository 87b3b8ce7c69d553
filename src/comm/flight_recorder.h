// Flight recorder: the last collectives of every communicator of this rank, readable by a
// watchdog thread while the ranks work (after PyTorch's NCCL flight recorder).
//
// Each communicator (one group) owns one FlightRing: the group's collectives numbered from
// 1 in call order (`seq`). Every member of a group issues the same collectives on it in
// the same order, so seq N names the same collective on every member: a hang is "seq N of
// group G", and a member whose last entered seq is below N never reached it.
//
// Cost on the hot path: the Communicator base class calls enter() before and leave() after
// each backend call, reusing the timestamps it takes anyway. Each is a handful of relaxed
// atomic stores and one release store into memory only this communicator's calls write
// (one thread at a time, see data_parallel.h): plain moves on x86, no lock, no syscall.
// Readers (the watchdog, dumps) validate each slot with its sequence number (a seqlock),
// so a slot overwritten while being read is skipped, never torn.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "comm/comm_log.h"

namespace tpb {

// One collective as a reader sees it.
struct FlightEntry {
  int64_t seq = 0;     // 1, 2, ... per group
  CommOp op = CommOp::barrier;
  int64_t bytes = 0;
  int64_t start_ns = 0;  // entered (tpb::now_ns)
  int64_t end_ns = 0;    // left; 0 while still inside
};

class FlightRing {
 public:
  static constexpr int64_t kCapacity = 256;  // last entries kept per group

  // Writer side (the thread calling the communicator). Returns the seq given to the call.
  int64_t enter(CommOp op, int64_t bytes, int64_t start_ns) {
    const int64_t seq = entered_.load(std::memory_order_relaxed) + 1;
    Slot& s = slots_[static_cast<size_t>(seq % kCapacity)];
    s.seq.store(0, std::memory_order_relaxed);  // invalid while being written
    std::atomic_thread_fence(std::memory_order_release);
    s.op.store(static_cast<int32_t>(op), std::memory_order_relaxed);
    s.bytes.store(bytes, std::memory_order_relaxed);
    s.start_ns.store(start_ns, std::memory_order_relaxed);
    s.end_ns.store(0, std::memory_order_relaxed);
    s.seq.store(seq, std::memory_order_release);
    entered_.store(seq, std::memory_order_release);
    return seq;
  }
  void leave(int64_t end_ns) {
    const int64_t seq = entered_.load(std::memory_order_relaxed);
    slots_[static_cast<size_t>(seq % kCapacity)].end_ns.store(end_ns, std::memory_order_relaxed);
    completed_.store(seq, std::memory_order_release);
  }

  // Reader side (any thread).
  int64_t entered() const { return entered_.load(std::memory_order_acquire); }
  int64_t completed() const { return completed_.load(std::memory_order_acquire); }
  // The entry with this seq, if still in the ring and not being overwritten.
  std::optional<FlightEntry> entry(int64_t seq) const;
  // The kept entries, oldest first.
  std::vector<FlightEntry> entries() const;

 private:
  struct Slot {
    std::atomic<int64_t> seq{0};
    std::atomic<int32_t> op{0};
    std::atomic<int64_t> bytes{0};
    std::atomic<int64_t> start_ns{0};
    std::atomic<int64_t> end_ns{0};
  };
  alignas(64) std::atomic<int64_t> entered_{0};
  std::atomic<int64_t> completed_{0};
  std::array<Slot, kCapacity> slots_{};
};

// One group's ring with the group's description.
struct FlightGroup {
  int32_t id = 0;
  CommGroupInfo info;
  const FlightRing* ring = nullptr;
};

// The rings of every communicator sharing one CommLog (a rank's world and its splits).
// Rings live as long as the recorder, so a watchdog may read one whose communicator is gone.
class FlightRecorder {
 public:
  FlightRing* add(int32_t group_id, const CommGroupInfo& info);
  // A consistent list of the groups so far (taken under the registry's lock; the lock is
  // held only here and in add(), never by a collective).
  std::vector<FlightGroup> groups() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FlightRing>> rings_;
  std::vector<FlightGroup> groups_;
};

}  // namespace tpb
