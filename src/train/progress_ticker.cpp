#include "train/progress_ticker.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tpb {

namespace {
double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

step_progress::StepWork step_work_of(const ModelConfig& m, bool recompute) {
  step_progress::StepWork w;
  w.n_layers = static_cast<int>(m.n_layers);
  const double head_params = static_cast<double>(m.vocab) * static_cast<double>(m.dim);
  const double block_params = (static_cast<double>(matmul_parameter_count(m)) - head_params) / static_cast<double>(m.n_layers);
  w.block = 2.0 * block_params + 4.0 * static_cast<double>(m.seq) * static_cast<double>(m.dim);
  w.head = 2.0 * head_params;
  w.recompute = recompute;
  return w;
}

std::string format_duration(double s) {
  if (!(s >= 0)) s = 0;
  const int64_t whole = std::llround(s);
  if (s < 60) return s < 10 ? fmt::format("{:.1f} s", s) : fmt::format("{} s", whole);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, (whole % 3600) / 60);
}

std::string in_step_progress_line(int it, int iters, double elapsed, double last_step_s,
                                  const step_progress::StepWork& work, step_progress::Position where) {
  const double f = step_progress::fraction_done(work, where);
  std::string line = fmt::format("... iter {}/{}  {} into the step: {} (rank 0)", it + 1, iters,
                                 format_duration(elapsed), step_progress::describe(work, where));
  // The step's length: the previous step's, else what the work done so far predicts (once
  // there is enough of it to go on).
  double step_s = 0;
  const char* approx = "";
  if (last_step_s > 0) {
    step_s = std::max(last_step_s, elapsed);
  } else if (f >= 0.02) {
    step_s = elapsed / f;
    approx = "~";
    line += fmt::format(", ~{:.0f}% of it", f * 100);
  }
  if (step_s <= 0) return line + "; ETA after the first block";
  const double step_left = std::max(step_s - elapsed, 0.0);
  const double run_left = step_left + static_cast<double>(iters - it - 1) * step_s;
  return line + fmt::format("; ETA step {}{}, run {}{}", approx, format_duration(step_left), approx,
                            format_duration(run_left));
}

ProgressTicker::ProgressTicker(double every_s, step_progress::StepWork work, int iters, std::FILE* out)
    : every_s_(every_s), work_(work), iters_(iters), out_(out) {
  if (every_s_ > 0) thread_ = std::thread([this] { loop(); });
}

ProgressTicker::~ProgressTicker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProgressTicker::print_locked(const std::string& line) {
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
  last_line_ = Clock::now();
}

void ProgressTicker::startup_phase(const std::string& name, const std::string& what) {
  std::lock_guard lock(mu_);
  const Clock::time_point now = Clock::now();
  if (!in_startup_) {
    in_startup_ = true;
    startup_start_ = now;
  } else {
    phases_.emplace_back(phase_name_, seconds(now - phase_start_));
  }
  phase_name_ = name;
  phase_start_ = now;
  print_locked("start-up: " + what);
}

void ProgressTicker::finish_startup_locked(Clock::time_point now) {
  if (!in_startup_) return;
  in_startup_ = false;
  phases_.emplace_back(phase_name_, seconds(now - phase_start_));
  std::string parts;
  for (const auto& [name, s] : phases_) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", name, format_duration(s));
  print_locked(fmt::format("start-up done in {} ({})", format_duration(seconds(now - startup_start_)), parts));
  phases_.clear();
}

void ProgressTicker::step_started(int it) {
  std::lock_guard lock(mu_);
  const Clock::time_point now = Clock::now();
  finish_startup_locked(now);
  if (step_start_ != Clock::time_point{}) last_step_s_ = seconds(now - step_start_);  // start to start
  in_step_ = true;
  it_ = it;
  step_start_ = now;
}

void ProgressTicker::step_finished() {
  std::lock_guard lock(mu_);
  in_step_ = false;
  last_line_ = Clock::now();
}

void ProgressTicker::loop() {
  std::unique_lock lock(mu_);
  const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(every_s_));
  while (!stop_) {
    cv_.wait_for(lock, std::min<Clock::duration>(every, std::chrono::seconds(1)));
    if (stop_) break;
    const Clock::time_point now = Clock::now();
    if (now - last_line_ < every) continue;
    if (in_startup_) {
      print_locked(fmt::format("... start-up: {}, {} so far", phase_name_, format_duration(seconds(now - phase_start_))));
    } else if (in_step_ && now - step_start_ >= every) {
      print_locked(in_step_progress_line(it_, iters_, seconds(now - step_start_), last_step_s_, work_,
                                         step_progress::current()));
    }
  }
}

}  // namespace tpb
