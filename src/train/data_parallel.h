// Data parallelism: gradients averaged over the dp group with all-reduce, in buckets.
//
// The flat gradient buffer is in parameter order (embedding, layers 0 .. L-1, head), and
// backward finishes units in the reverse order (head first), so buckets are built from the
// end of the buffer: consecutive units until a bucket holds at least `bucket_bytes`. A
// bucket is complete when its lowest unit is. With `overlap`, a communication thread
// all-reduces each bucket as soon as backward completes it, while backward goes on (needs
// MPI_THREAD_MULTIPLE); without, every bucket is reduced after backward, in the same order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "model/params.h"

namespace tpb {

class GradReducer {
 public:
  GradReducer(ModelParams& p, Communicator& dp, int64_t bucket_bytes, bool overlap);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Backward reports each unit whose gradients are final.
  void unit_done(int unit);
  // Returns when every bucket is reduced (reducing the rest now when not overlapping).
  void finish();
  int num_buckets() const { return static_cast<int>(buckets_.size()); }

 private:
  struct Bucket {
    int64_t offset, count;  // element range of the flat gradient buffer
    int lowest_unit;        // complete when this unit is done
  };
  void reduce(const Bucket& b);
  void comm_loop();

  Tensor grads_;
  Communicator& dp_;
  bool overlap_;
  std::vector<Bucket> buckets_;  // in completion order
  size_t next_ = 0;              // first bucket not yet handed over this step
  // overlap only
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> queue_;
  size_t done_ = 0;
  bool stop_ = false;
};

}  // namespace tpb
