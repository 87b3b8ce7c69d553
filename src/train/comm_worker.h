// A thread that runs communication tasks in submission order, so collectives (gradient
// reductions, FSDP all-gathers) proceed while the main thread computes. Needs a
// communicator that allows concurrent calls (MPI_THREAD_MULTIPLE).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace tpb {

class CommWorker {
 public:
  CommWorker();
  ~CommWorker();
  CommWorker(const CommWorker&) = delete;
  CommWorker& operator=(const CommWorker&) = delete;

  // Queues a task; returns its ticket (1, 2, 3, ...).
  uint64_t submit(std::function<void()> task);
  // Blocks until the task with this ticket (and every earlier one) has finished; rethrows
  // the first error a task raised.
  void wait(uint64_t ticket);
  void wait_all() { wait(submitted_); }

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  uint64_t submitted_ = 0, finished_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace tpb
