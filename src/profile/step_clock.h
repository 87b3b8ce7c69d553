// Timestamps of the phases of one training step that cost the step nothing to take.
//
// On the CPU a mark reads the monotonic clock. On the GPU a mark records a CUDA event on
// the compute stream (no host synchronisation inside the step); resolve(), called after
// the step, waits for the last event and turns every mark into host-clock nanoseconds:
// the time of start() (taken once the device was idle) plus the GPU's elapsed time from the
// first event. So GPU phases are the GPU's own durations, on the same clock as the CPU's.
#pragma once

#include <cstdint>
#include <vector>

#include "device/device.h"

namespace tpb {

// The marks of one training step, in order, for `train` and `linear` alike: its start, the
// end of forward, the end of backward, its end (after the optimizer); kStepMarks of them.
enum StepMark : int { kStepStart, kForwardEnd, kBackwardEnd, kStepEnd, kStepMarks };

class StepClock {
 public:
  // gpu: marks are CUDA events on the compute stream; else the host clock.
  StepClock(bool gpu, int marks);
  // Beginning of the step: mark 0. On the GPU waits for queued work first (outside the step).
  void start();
  // Mark i (1 <= i < marks).
  void mark(int i);
  // Every mark in ns on the host's monotonic clock (mark 0 = start()).
  std::vector<int64_t> resolve();
  // GPU: the event of mark 0 and its host time (anchors for TraceBuffer::resolve_gpu).
  const device::Event& start_event() const { return events_.front(); }
  int64_t start_host_ns() const { return host_ns_.front(); }

 private:
  bool gpu_;
  std::vector<int64_t> host_ns_;
  std::vector<device::Event> events_;
};

}  // namespace tpb
