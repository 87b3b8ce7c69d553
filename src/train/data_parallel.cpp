#include "train/data_parallel.h"

#include "base/error.h"

namespace tpb {

GradReducer::GradReducer(ModelParams& p, Communicator& dp, int64_t bucket_bytes, bool overlap)
    : grads_(p.grads()), dp_(dp), overlap_(overlap && dp.size() > 1) {
  if (dp.size() == 1) return;  // nothing to reduce
  TPB_CHECK(!overlap_ || dp.concurrent_calls_ok(),
            "--dp-overlap needs a communicator that allows concurrent calls (MPI_THREAD_MULTIPLE); "
            "this MPI library does not provide it");
  // Element range of each unit in the flat buffer.
  const int units = p.num_units();
  std::vector<int64_t> begin(static_cast<size_t>(units), -1), end(static_cast<size_t>(units), 0);
  int64_t offset = 0;
  for (const Param& q : p.all()) {
    const size_t u = static_cast<size_t>(q.unit);
    if (begin[u] < 0) begin[u] = offset;
    offset += q.value.numel();
    end[u] = offset;
  }
  // From the head down, merge units until a bucket is big enough.
  const int64_t min_count = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  int64_t hi = end[static_cast<size_t>(units - 1)];
  for (int u = units - 1; u >= 0; --u) {
    const int64_t lo = begin[static_cast<size_t>(u)];
    if (hi - lo >= min_count || u == 0) {
      buckets_.push_back({lo, hi - lo, u});
      hi = lo;
    }
  }
  if (overlap_) thread_ = std::thread([this] { comm_loop(); });
}

GradReducer::~GradReducer() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void GradReducer::reduce(const Bucket& b) {
  float* data = grads_.f32() + b.offset;
  dp_.all_reduce(data, data, static_cast<size_t>(b.count), DType::f32, ReduceOp::avg);
}

void GradReducer::comm_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const size_t i = queue_.front();
    queue_.pop_front();
    lock.unlock();
    reduce(buckets_[i]);
    lock.lock();
    ++done_;
    cv_.notify_all();
  }
}

void GradReducer::unit_done(int unit) {
  if (!overlap_) return;
  while (next_ < buckets_.size() && buckets_[next_].lowest_unit >= unit) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(next_);
    }
    cv_.notify_all();
    ++next_;
  }
}

void GradReducer::finish() {
  if (buckets_.empty()) return;
  if (!overlap_) {
    for (const Bucket& b : buckets_) reduce(b);
    return;
  }
  unit_done(0);  // hand over anything left
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_ == buckets_.size(); });
  done_ = 0;
  next_ = 0;
}

}  // namespace tpb
