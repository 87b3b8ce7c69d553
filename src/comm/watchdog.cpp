#include "comm/watchdog.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "comm/communicator.h"
#include "comm/flight_dump.h"
#include "comm/mpi/mpi_communicator.h"
#include "report/atomic_file.h"

namespace tpb {

namespace fs = std::filesystem;

namespace {

std::string dump_path(const std::string& dir, int rank) { return fmt::format("{}/rank{}.json", dir, rank); }

}  // namespace

double watchdog_limit(double fixed_timeout_s, int64_t steps, double slowest_s) {
  if (fixed_timeout_s > 0) return fixed_timeout_s;
  if (steps == 0) return kFirstStepTimeout;
  return std::max(kMinTimeout, kStepFactor * slowest_s);
}

Watchdog::Watchdog(const Communicator& world, WatchdogOptions options)
    : recorder_(world.log().flight()), rank_(world.rank()), world_size_(world.size()), o_(std::move(options)) {
  if (!o_.on_hang) o_.on_hang = [](const std::string&) { MpiRuntime::abort_world(kWatchdogExit); };
  started_ = fs::file_time_type::clock::now();
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::step_done(double seconds) {
  steps_.fetch_add(1, std::memory_order_relaxed);
  double cur = slowest_s_.load(std::memory_order_relaxed);
  while (seconds > cur && !slowest_s_.compare_exchange_weak(cur, seconds, std::memory_order_relaxed)) {
  }
}

double Watchdog::limit_s() const {
  return watchdog_limit(o_.timeout_s, steps_.load(std::memory_order_relaxed),
                        slowest_s_.load(std::memory_order_relaxed));
}

bool Watchdog::peer_dumped() const {
  std::error_code ec;
  if (!fs::is_directory(o_.dump_dir, ec)) return false;
  for (const auto& e : fs::directory_iterator(o_.dump_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("rank") || !name.ends_with(".json") || e.path() == fs::path(dump_path(o_.dump_dir, rank_)))
      continue;
    if (fs::last_write_time(e.path(), ec) >= started_ && !ec) return true;
  }
  return false;
}

void Watchdog::write_dump(const std::string& reason) {
  FlightDumpMeta meta{rank_, world_size_, reason, limit_s(), now_ns()};
  try {
    write_file_atomic(dump_path(o_.dump_dir, rank_), flight_dump_json(*recorder_, meta).dump(1) + "\n");
    dumped_ = true;
  } catch (const std::exception& e) {
    fmt::print(stderr, "[rank {}] {}: watchdog: cannot write its flight dump: {}\n", rank_, o_.label, e.what());
  }
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const double limit = limit_s();
    const auto poll = std::chrono::duration<double>(std::clamp(limit / 20, 0.05, 1.0));
    cv_.wait_for(lock, poll, [this] { return stop_; });
    if (stop_) break;
    const int64_t now = now_ns();
    for (const FlightGroup& g : recorder_->groups()) {
      const int64_t entered = g.ring->entered();
      if (entered <= g.ring->completed()) continue;
      const std::optional<FlightEntry> e = g.ring->entry(entered);
      if (!e || seconds_between(e->start_ns, now) <= limit) continue;
      lock.unlock();
      fire(fmt::format("timeout: inside {} {} #{} for {:.1f} s (limit {:.1f} s)", g.info.name, comm_op_name(e->op),
                       e->seq, seconds_between(e->start_ns, now), limit),
           true);
      return;
    }
    if (!dumped_ && peer_dumped()) {
      lock.unlock();
      fire("peer dumped", false);
      lock.lock();
    }
  }
}

void Watchdog::fire(const std::string& reason, bool timed_out) {
  fired_ = true;
  write_dump(reason);
  if (!timed_out) return;  // a dump for the others' analysis; this rank's own collectives still count
  // Wait for the other ranks' dumps: those that are not stuck time out too, a little later.
  const double grace = std::min(5.0, limit_s());
  const int64_t t0 = now_ns();
  std::vector<FlightDump> dumps;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
      dumps = read_flight_dir(o_.dump_dir);
    } catch (const std::exception&) {
      dumps.clear();
    }
    if (static_cast<int>(dumps.size()) >= world_size_ || seconds_between(t0, now_ns()) > grace) break;
  }
  int reporter = rank_;
  for (const FlightDump& d : dumps)
    if (d.reason.starts_with("timeout")) reporter = std::min(reporter, d.rank);
  std::string message;
  if (dumps.empty()) {
    message = fmt::format("watchdog: {} (flight dump not readable in {})", reason, o_.dump_dir);
  } else {
    const FlightDiagnosis diag = diagnose_flight(dumps);
    message = fmt::format("watchdog: {}; flight dumps: {} (tpbench flight {})", diag.summary, o_.dump_dir,
                          o_.dump_dir);
  }
  if (reporter != rank_) std::this_thread::sleep_for(std::chrono::seconds(10));  // rank `reporter` ends the job
  // The verdict as it stood: ranks that run again (mpirun sends SIGCONT before it kills)
  // may dump later, after their collectives moved on; `tpbench flight` shows this first.
  try {
    const nlohmann::json verdict = {{"schema", "tpbench.flight_verdict/1"}, {"rank", rank_}, {"message", message}};
    write_file_atomic(o_.dump_dir + "/verdict.json", verdict.dump(1) + "\n");
  } catch (const std::exception&) {
    // The line below still says it.
  }
  const std::string line = fmt::format("[rank {}] {}: error: {}", rank_, o_.label, message);
  fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
  o_.on_hang(line);
}

}  // namespace tpb
