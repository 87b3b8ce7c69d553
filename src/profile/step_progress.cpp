#include "profile/step_progress.h"

#include <algorithm>
#include <atomic>

#include <fmt/format.h>

namespace tpb::step_progress {

namespace {
// Phase in the top byte, unit below: one word, so a reader never sees half an update.
std::atomic<uint32_t> g_position{0};
}  // namespace

void enter(Phase phase, int unit) {
  g_position.store((static_cast<uint32_t>(phase) << 24) | (static_cast<uint32_t>(unit) & 0xFFFFFFu),
                   std::memory_order_relaxed);
}

Position current() {
  const uint32_t v = g_position.load(std::memory_order_relaxed);
  return {static_cast<Phase>(v >> 24), static_cast<int>(v & 0xFFFFFFu)};
}

double fraction_done(const StepWork& w, Position p) {
  const double L = w.n_layers;
  const double backward_block = (w.recompute ? 3.0 : 2.0) * w.block;
  const double total = L * w.block + 3.0 * w.head + L * backward_block;
  if (total <= 0) return 0;
  const int head_unit = w.n_layers + 1;
  double done = 0;
  switch (p.phase) {
    case Phase::idle:
      return 0;
    case Phase::forward:  // the blocks before this unit
      done = std::clamp(p.unit - 1, 0, w.n_layers) * w.block;
      break;
    case Phase::backward:  // all of forward, and the blocks above this unit
      done = L * w.block + 3.0 * w.head + std::clamp(head_unit - 1 - p.unit, 0, w.n_layers) * backward_block;
      break;
    case Phase::optimizer:
      done = total;
      break;
  }
  return std::min(done / total, 0.999);
}

std::string describe(const StepWork& w, Position p) {
  const auto unit = [&] {
    if (p.unit == 0) return std::string("embedding");
    if (p.unit > w.n_layers) return std::string("loss head");
    return fmt::format("block {} of {}", p.unit, w.n_layers);
  };
  switch (p.phase) {
    case Phase::idle:
      return "between steps";
    case Phase::forward:
      return "forward, " + unit();
    case Phase::backward:
      return "backward, " + unit();
    case Phase::optimizer:
      return "optimizer";
  }
  return "?";
}

}  // namespace tpb::step_progress
