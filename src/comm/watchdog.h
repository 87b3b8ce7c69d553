// Watchdog: notices a collective that has not completed in time, dumps this rank's flight
// recorder and ends the job with a message naming the collective and the ranks that never
// entered it (Open MPI never notices a hung rank; PyTorch's NCCL watchdog does this).
//
// One thread per rank polls the flight rings of the rank's communicators (lock-free reads;
// see flight_recorder.h) every limit/20 (50 ms to 1 s). The limit:
//   --timeout S given:  S for every collective;
//   otherwise:          kFirstStepTimeout (600 s) until the first training step has
//                       finished (startup, first-touch allocation and the GEMM peak
//                       measurement are in it), then max(kMinTimeout (300 s),
//                       kStepFactor (10) x the slowest step so far).
// A collective counts from the moment this rank entered it.
//
// When it fires, the rank writes DIR/rank{r}.json (atomically), waits up to
// min(5 s, limit) for the other ranks' dumps (ranks that are not stuck time out too, and
// a rank whose watchdog sees a fresh dump of another rank in DIR dumps its own, so a rank
// busy outside any collective still shows where it is), then analyses DIR
// (flight_dump.h). The lowest-numbered rank that timed out reports and calls on_hang; the
// others call it 10 s later if the job is still alive. The rank that is stuck usually
// cannot dump (stopped, or its threads descheduled): the analysis names it from the others.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "comm/flight_recorder.h"

namespace tpb {

class Communicator;

inline constexpr double kFirstStepTimeout = 600.0;
inline constexpr double kMinTimeout = 300.0;
inline constexpr double kStepFactor = 10.0;
// Exit status of a job ended by the watchdog.
inline constexpr int kWatchdogExit = 3;

struct WatchdogOptions {
  double timeout_s = 0;  // > 0: fixed limit; 0: adaptive (above)
  std::string dump_dir;  // where rank{r}.json goes (created when first needed)
  std::string label;     // prefix of the message, e.g. "tpbench train"
  // Ends the job, given the one-line message (already printed to stderr). Default: MPI_Abort
  // with kWatchdogExit. Tests replace it.
  std::function<void(const std::string&)> on_hang;
};

// The limit for `steps` finished steps, the slowest of which took `slowest_s`.
double watchdog_limit(double fixed_timeout_s, int64_t steps, double slowest_s);

class Watchdog {
 public:
  // Watches every communicator sharing `world`'s log (the world and its splits). The
  // recorder outlives the communicators; the watchdog must not outlive MPI (destroy it
  // before MPI_Finalize).
  Watchdog(const Communicator& world, WatchdogOptions options);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // After each training step (outside the timed region): tightens the adaptive limit.
  void step_done(double seconds);
  double limit_s() const;
  // Whether it has fired (for tests).
  bool fired() const { return fired_.load(); }

 private:
  void loop();
  void fire(const std::string& reason, bool timed_out);
  bool peer_dumped() const;
  void write_dump(const std::string& reason);

  std::shared_ptr<FlightRecorder> recorder_;
  int rank_, world_size_;
  WatchdogOptions o_;
  std::atomic<int64_t> steps_{0};
  std::atomic<double> slowest_s_{0};
  std::atomic<bool> fired_{false};
  bool dumped_ = false;
  std::filesystem::file_time_type started_;  // dumps older than this are another run's
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tpb
