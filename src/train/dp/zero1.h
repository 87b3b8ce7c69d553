// ZeRO-1 (--dp-shard optimizer): every rank holds all parameters and full gradients, but
// AdamW state only for its 1/dp shard of every unit (train/dp/shards.h).
//
// State machine of one step:
//   zero_grads()        full gradients zeroed; queue begins
//   grads_ready(u)      unit u's gradients are reduce-scattered (averaged) into this
//                       rank's gradient shard: at once, on the communication thread, or
//                       queued on the GPU communicator's stream
//   finish_backward()   waits for (joins) every reduce-scatter
//   optimizer_step()    norm over the shards; each rank updates its shard of every unit
//                       in place, then each unit's updated shards are all-gathered into
//                       the full parameters
#pragma once

#include "train/data_parallel.h"
#include "train/dp/comm_queue.h"
#include "train/dp/shards.h"

namespace tpb {

class Zero1 final : public DataParallel {
 public:
  Zero1(ModelParams& p, Communicator& dp, Communicator& tp, bool overlap);

  DpShard mode() const override { return DpShard::optimizer; }
  void init_params(uint64_t seed) override { p_.init_from_seed(seed); }
  void zero_grads() override;
  void grads_ready(int unit) override;
  void finish_backward() override { queue_.finish(); }
  std::vector<ckpt::StateRange> state_ranges(bool owned) override;
  void state_loaded() override { p_.refresh_compute(); }
  double optimizer_step(const OptimizerConfig& c, int64_t step, float lr) override;

 private:
  ModelParams& p_;
  Communicator& dp_;
  Communicator& tp_;
  GradShards shards_;
  CommQueue queue_;  // last: drained before the buffers above go
};

}  // namespace tpb
