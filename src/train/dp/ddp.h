// DDP (--dp-shard none): every rank holds all parameters, gradients and AdamW state.
// Gradients are averaged over dp with all-reduce, in buckets of whole units merged from
// the head down until each holds --bucket-mb (backward produces gradients head first).
//
// State machine of one backward:
//   zero_grads()      gradients zeroed, next bucket = the head's; queue begins
//   grads_ready(u)    overlap: every bucket whose lowest unit is >= u is complete and is
//                     queued now (a thread, or the GPU communicator's stream);
//                     no overlap: nothing (all buckets are reduced in finish_backward)
//   finish_backward() no overlap: reduce every bucket now; overlap: queue what is left,
//                     then wait for (join) them all
#pragma once

#include <vector>

#include "train/data_parallel.h"
#include "train/dp/comm_queue.h"

namespace tpb {

class Ddp final : public DataParallel {
 public:
  Ddp(ModelParams& p, Communicator& dp, Communicator& tp, int64_t bucket_bytes, bool overlap);

  DpShard mode() const override { return DpShard::none; }
  void init_params(uint64_t seed) override { p_.init_from_seed(seed); }
  void zero_grads() override;
  void grads_ready(int unit) override;
  void finish_backward() override;
  double optimizer_step(const OptimizerConfig& c, int64_t step, float lr) override;
  int num_buckets() const override { return static_cast<int>(buckets_.size()); }
  std::vector<ckpt::StateRange> state_ranges(bool owned) override;
  void state_loaded() override { p_.refresh_compute(); }

 private:
  struct Bucket {
    int64_t offset, count;  // flat elements
    int lowest_unit;        // complete when this unit is done
  };
  void reduce(const Bucket& b);

  ModelParams& p_;
  Communicator& dp_;
  Communicator& tp_;
  Tensor m_, v_;                 // AdamW state, flat
  std::vector<Bucket> buckets_;  // in completion order (head first); none with one dp rank
  size_t next_bucket_ = 0;
  CommQueue queue_;              // last: drained before the buffers above go
};

}  // namespace tpb
