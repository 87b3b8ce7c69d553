#include "train/comm_worker.h"

namespace tpb {

CommWorker::CommWorker() { thread_ = std::thread([this] { loop(); }); }

CommWorker::~CommWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    // Unwinding after an error: tasks not yet started are dropped, since their collectives
    // may never be matched. One in progress still runs out (the watchdog ends a stuck one).
    if (std::uncaught_exceptions() > 0) queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t CommWorker::submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
  cv_.notify_all();
  return ++submitted_;
}

void CommWorker::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return finished_ >= ticket || error_; });
  if (error_) std::rethrow_exception(error_);
}

void CommWorker::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop requested and nothing left
    auto task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    try {
      task();
    } catch (...) {
      lock.lock();
      if (!error_) error_ = std::current_exception();
      ++finished_;
      cv_.notify_all();
      continue;
    }
    lock.lock();
    ++finished_;
    cv_.notify_all();
  }
}

}  // namespace tpb
