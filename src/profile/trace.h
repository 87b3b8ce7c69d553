// TraceBuffer: spans recorded in memory during a run and written after timing (writing a
// trace inside the timed loop is one of the pitfalls this project exists to avoid).
//
// A span is a name, a category, start and end on the host's monotonic clock (common to
// every rank of a host, see base/clock.h) and one integer argument (a step number for
// "ProfilerStep#N", a byte count for a collective). Names and categories must be string
// literals: recording copies no strings, so a span costs two clock reads and a push_back
// into reserved storage.
//
// GPU runs (enable_gpu_timing): a span's ends are CUDA events recorded on the compute
// stream instead of clock reads, so a span is the GPU's time for the work queued inside it,
// not the host's enqueue time. Such spans hold event numbers until resolve_gpu(), called
// after a step has finished, turns them into host-clock times from an anchor event whose
// host time is known (the step's start, taken with the device idle).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "device/device.h"

namespace tpb {

struct TraceSpan {
  const char* name;
  const char* cat;
  int64_t start_ns;
  int64_t end_ns;
  int64_t arg = -1;  // meaning depends on the span: step number, bytes, ... (-1: none)
  bool pending = false;  // GPU span not resolved yet: start_ns / end_ns are event numbers
};

class TraceBuffer {
 public:
  explicit TraceBuffer(size_t reserve = 1 << 14) { spans_.reserve(reserve); }
  void add(const TraceSpan& s) { spans_.push_back(s); }
  const std::vector<TraceSpan>& spans() const { return spans_; }
  void clear() { spans_.clear(); }

  // Span ends become CUDA events on the compute stream (see above).
  void enable_gpu_timing() { gpu_ = true; }
  bool gpu_timing() const { return gpu_; }
  // Records the next event of the pool and returns its number.
  int64_t record_event() {
    if (next_event_ == events_.size()) events_.emplace_back();
    events_[next_event_].record();
    return static_cast<int64_t>(next_event_++);
  }
  // Every pending span gets host-clock times: anchor_host_ns + GPU time since `anchor`.
  // Waits for the last recorded event; the pool is reused afterwards.
  void resolve_gpu(const device::Event& anchor, int64_t anchor_host_ns) {
    for (TraceSpan& s : spans_) {
      if (!s.pending) continue;
      s.start_ns = anchor_host_ns + device::elapsed_ns(anchor, events_[static_cast<size_t>(s.start_ns)]);
      s.end_ns = anchor_host_ns + device::elapsed_ns(anchor, events_[static_cast<size_t>(s.end_ns)]);
      s.pending = false;
    }
    next_event_ = 0;
  }

 private:
  std::vector<TraceSpan> spans_;
  bool gpu_ = false;
  std::vector<device::Event> events_;
  size_t next_event_ = 0;
};

// Records [construction, destruction) into `trace`; does nothing when trace is null, so
// layers take an optional TraceBuffer* and pay nothing when profiling is off.
class ScopedSpan {
 public:
  ScopedSpan(TraceBuffer* trace, const char* name, const char* cat, int64_t arg = -1)
      : trace_(trace), name_(name), cat_(cat), arg_(arg), start_(trace ? stamp() : 0) {}
  ~ScopedSpan() {
    if (trace_) trace_->add({name_, cat_, start_, stamp(), arg_, trace_->gpu_timing()});
  }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  int64_t stamp() { return trace_->gpu_timing() ? trace_->record_event() : now_ns(); }

  TraceBuffer* trace_;
  const char* name_;
  const char* cat_;
  int64_t arg_;
  int64_t start_;
};

}  // namespace tpb
