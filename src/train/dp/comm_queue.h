// CommQueue: how a data-parallel strategy's collectives run relative to the computation.
//
//   synchronous  run(task) runs the task at once (no overlap).
//   thread       run(task) hands the task to a communication thread (CommWorker; needs a
//                communicator that allows concurrent calls, MPI_THREAD_MULTIPLE); finish()
//                waits for every task. submit()/wait() let FSDP wait for one prefetch.
//   deferred     a GPU communicator that queues its work (NCCL, asynchronous): no thread.
//                begin() puts the communicator in deferred mode, run(task) calls at once
//                (the collective is queued on the communicator's stream right after the
//                kernels that produced its input), finish() joins: the compute stream waits
//                for them all once, and deferred mode ends. Between begin() and finish()
//                nothing may read what the queued collectives write.
//
// The kind is chosen once: no overlap, or one dp rank, is synchronous; overlap on a
// communicator that queues device work is deferred when the strategy allows it (FSDP does
// not: its gathers are read during the pass), a thread otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "comm/communicator.h"
#include "train/comm_worker.h"

namespace tpb {

class CommQueue {
 public:
  enum class Kind { synchronous, thread, deferred };

  CommQueue(Communicator& dp, bool overlap, bool allow_deferred);
  // Drains queued work (errors were already reported) before the buffers it uses go.
  ~CommQueue();
  CommQueue(const CommQueue&) = delete;
  CommQueue& operator=(const CommQueue&) = delete;

  Kind kind() const { return kind_; }
  bool overlaps() const { return kind_ != Kind::synchronous; }

  // Start of a pass whose collectives may overlap (deferred: enter deferred mode).
  void begin();
  // Run, or queue, one communication task.
  void run(std::function<void()> task);
  // thread only: queue a task and get its ticket; wait for it (and every earlier one).
  uint64_t submit(std::function<void()> task);
  void wait(uint64_t ticket);
  // Every task run so far has completed (deferred: joined, and deferred mode left).
  void finish();

 private:
  Communicator& dp_;
  Kind kind_ = Kind::synchronous;
  std::unique_ptr<CommWorker> worker_;
};

}  // namespace tpb
