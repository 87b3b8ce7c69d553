#include "profile/step_clock.h"

#include "base/clock.h"
#include "base/error.h"

namespace tpb {

StepClock::StepClock(bool gpu, int marks) : gpu_(gpu), host_ns_(static_cast<size_t>(marks), 0) {
  TPB_CHECK(marks >= 2, "StepClock needs at least 2 marks, got {}", marks);
  if (gpu_)
    for (int i = 0; i < marks; ++i) events_.emplace_back();
}

void StepClock::start() {
  if (gpu_) {
    device::synchronize();
    host_ns_[0] = now_ns();
    events_[0].record();
    return;
  }
  host_ns_[0] = now_ns();
}

void StepClock::mark(int i) {
  TPB_CHECK(i > 0 && i < static_cast<int>(host_ns_.size()), "mark {} of {}", i, host_ns_.size());
  if (gpu_)
    events_[static_cast<size_t>(i)].record();
  else
    host_ns_[static_cast<size_t>(i)] = now_ns();
}

std::vector<int64_t> StepClock::resolve() {
  if (gpu_)
    for (size_t i = 1; i < host_ns_.size(); ++i)
      host_ns_[i] = host_ns_[0] + device::elapsed_ns(events_[0], events_[i]);
  return host_ns_;
}

}  // namespace tpb
