#include "train/dp/comm_queue.h"

#include <exception>

#include "base/error.h"

namespace tpb {

CommQueue::CommQueue(Communicator& dp, bool overlap, bool allow_deferred) : dp_(dp) {
  if (!overlap || dp.size() == 1) return;
  if (allow_deferred && dp.queues_device_work()) {
    kind_ = Kind::deferred;
    return;
  }
  TPB_CHECK(dp.concurrent_calls_ok(),
            "overlapping communication needs a communicator that allows concurrent calls "
            "(MPI_THREAD_MULTIPLE); this MPI library does not provide it");
  kind_ = Kind::thread;
  worker_ = std::make_unique<CommWorker>();
}

CommQueue::~CommQueue() {
  // Unwinding after an error: the queued collectives may never complete (the other ranks
  // wait elsewhere for this one), so they are not waited for; the worker drops what it has
  // not started (comm_worker.cpp) and the job is aborted once the error is printed.
  if (std::uncaught_exceptions() > 0) {
    if (kind_ == Kind::deferred) dp_.set_deferred(false);
    return;
  }
  try {
    if (kind_ == Kind::deferred && dp_.deferred()) dp_.join();
    if (worker_) worker_->wait_all();
  } catch (...) {
  }
  if (kind_ == Kind::deferred) dp_.set_deferred(false);
}

void CommQueue::begin() {
  if (kind_ == Kind::deferred) dp_.set_deferred(true);
}

void CommQueue::run(std::function<void()> task) {
  if (worker_) worker_->submit(std::move(task));
  else task();  // synchronous, or queued on the GPU by the communicator itself
}

uint64_t CommQueue::submit(std::function<void()> task) {
  TPB_CHECK(worker_, "CommQueue::submit needs a communication thread (kind {})", static_cast<int>(kind_));
  return worker_->submit(std::move(task));
}

void CommQueue::wait(uint64_t ticket) {
  TPB_CHECK(worker_, "CommQueue::wait needs a communication thread (kind {})", static_cast<int>(kind_));
  worker_->wait(ticket);
}

void CommQueue::finish() {
  if (worker_) worker_->wait_all();
  if (kind_ == Kind::deferred && dp_.deferred()) {
    dp_.join();  // the compute stream waits for every queued collective
    dp_.set_deferred(false);
  }
}

}  // namespace tpb
