// TraceBuffer: spans recorded in memory during a run and written after timing (writing a
// trace inside the timed loop is one of the pitfalls this project exists to avoid).
//
// A span is a name, a category, start and end on the host's monotonic clock (common to
// every rank of a host, see base/clock.h) and one integer argument (a step number for
// "ProfilerStep#N", a byte count for a collective). Names and categories must be string
// literals: recording copies no strings, so a span costs two clock reads and a push_back
// into reserved storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/clock.h"

namespace tpb {

struct TraceSpan {
  const char* name;
  const char* cat;
  int64_t start_ns;
  int64_t end_ns;
  int64_t arg = -1;  // meaning depends on the span: step number, bytes, ... (-1: none)
};

class TraceBuffer {
 public:
  explicit TraceBuffer(size_t reserve = 1 << 14) { spans_.reserve(reserve); }
  void add(const TraceSpan& s) { spans_.push_back(s); }
  const std::vector<TraceSpan>& spans() const { return spans_; }
  void clear() { spans_.clear(); }

 private:
  std::vector<TraceSpan> spans_;
};

// Records [construction, destruction) into `trace`; does nothing when trace is null, so
// layers take an optional TraceBuffer* and pay nothing when profiling is off.
class ScopedSpan {
 public:
  ScopedSpan(TraceBuffer* trace, const char* name, const char* cat, int64_t arg = -1)
      : trace_(trace), name_(name), cat_(cat), arg_(arg), start_(trace ? now_ns() : 0) {}
  ~ScopedSpan() {
    if (trace_) trace_->add({name_, cat_, start_, now_ns(), arg_});
  }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  TraceBuffer* trace_;
  const char* name_;
  const char* cat_;
  int64_t arg_;
  int64_t start_;
};

}  // namespace tpb
