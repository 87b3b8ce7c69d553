// train's progress while nothing else would print: the start-up phases as they begin
// (measuring the GEMM peak, building the model, initialising), and, when one step takes
// longer than `every_s`, a line every `every_s` seconds saying where in the step rank 0
// is and when the step and the run should end:
//
//   start-up: measuring the GEMM peak (1024^3 GEMM x 5 on every rank)
//   start-up: building the model (21,991,680 parameters) and its activations
//   start-up: initialising the parameters (seed 0)
//   start-up done in 2.9 s (GEMM peak 1.3 s, model 0.2 s, initialising 1.4 s)
//   ... iter 1/3  1m00s into the step: backward, block 6 of 8 (rank 0), ~41% of it; ETA step ~1m26s, run ~5m34s
//
// Rank 0 makes one; its thread sleeps between lines and reads the model's position
// (profile/step_progress.h), so the step it reports on pays nothing for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/config.h"
#include "profile/step_progress.h"

namespace tpb {

// The in-step line, from what the ticker knows: iteration `it` (0-based) of `iters`,
// `elapsed` seconds into it, the previous step's wall time (0: none yet, so the step's
// length is estimated from the work done so far, marked "~"), where rank 0 is.
std::string in_step_progress_line(int it, int iters, double elapsed, double last_step_s,
                                  const step_progress::StepWork& work, step_progress::Position where);

// The model's units' FLOPs per token (the FLOPs formula of docs/metrics.md, split by unit).
step_progress::StepWork step_work_of(const ModelConfig& m, bool recompute);

// "45 s", "3m05s", "1h02m".
std::string format_duration(double seconds);

class ProgressTicker {
 public:
  // every_s <= 0: prints the start-up lines only, no thread.
  ProgressTicker(double every_s, step_progress::StepWork work, int iters, std::FILE* out = stdout);
  ~ProgressTicker();
  ProgressTicker(const ProgressTicker&) = delete;
  ProgressTicker& operator=(const ProgressTicker&) = delete;

  // A start-up phase begins (the previous one ends); `what` names it.
  void startup_phase(const std::string& name, const std::string& what);
  // Iteration `it` begins (the first call ends start-up and prints its summary).
  void step_started(int it);
  // The step ended (its line is printed next): no in-step lines until the next one starts,
  // and then not before `every_s`.
  void step_finished();

 private:
  using Clock = std::chrono::steady_clock;
  void finish_startup_locked(Clock::time_point now);
  void loop();
  void print_locked(const std::string& line);

  const double every_s_;
  const step_progress::StepWork work_;
  const int iters_;
  std::FILE* out_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool in_step_ = false;
  int it_ = 0;
  Clock::time_point step_start_{}, last_line_{}, phase_start_{}, startup_start_{};
  double last_step_s_ = 0;
  bool in_startup_ = false;
  std::string phase_name_;
  std::vector<std::pair<std::string, double>> phases_;
  std::thread thread_;
};

}  // namespace tpb
