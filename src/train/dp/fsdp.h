// FSDP / ZeRO-3 (--dp-shard full): each rank stores only its 1/dp shard of every unit's
// parameters, gradients and AdamW state (train/dp/shards.h).
//
// State machine of one unit u in one step (gathered_ holds the units whose full
// parameters exist, pending_ the prefetches in flight, unit_grads_ the full gradient
// buffers of units in backward):
//   forward   before_unit(u)   wait for u's prefetch, or all-gather u now; bind the
//                              parameters to it; prefetch u + 1
//             after_unit(u)    unbind and free u's full parameters
//   backward  before_unit(u)   as forward (a second all-gather), plus a zeroed full
//                              gradient buffer; prefetch u - 1
//             after_unit(u)    nothing (the parameters stay until the gradients are out)
//             grads_ready(u)   unbind; reduce-scatter u's gradients into this rank's
//                              shard (at once, or on the thread) and free the full buffers
//   finish_backward()          waits for every reduce-scatter
//   optimizer_step()           AdamW on the shards only
// With prefetch, the all-gathers run on a communication thread; the time the computation
// still waits for one is reported as exposed (take_exposed_gather_seconds). FSDP never
// defers on a GPU stream: its gathered parameters are read within the same pass.
#pragma once

#include <map>

#include "train/data_parallel.h"
#include "train/dp/comm_queue.h"
#include "train/dp/shards.h"

namespace tpb {

class Fsdp final : public DataParallel {
 public:
  Fsdp(ModelParams& p, Communicator& dp, Communicator& tp, bool prefetch);

  DpShard mode() const override { return DpShard::full; }
  void init_params(uint64_t seed) override;
  void zero_grads() override {}
  void before_unit(int unit, bool backward) override;
  void after_unit(int unit, bool backward) override;
  void grads_ready(int unit) override;
  void finish_backward() override;
  double optimizer_step(const OptimizerConfig& c, int64_t step, float lr) override;
  double take_exposed_gather_seconds() override;
  std::vector<ckpt::StateRange> state_ranges(bool owned) override;
  void state_loaded() override {}

 private:
  Tensor gather(int u);  // allocates and fills the unit's full parameters
  void prefetch(int u);

  ModelParams& p_;
  Communicator& dp_;
  Communicator& tp_;
  GradShards shards_;
  Tensor value_shard_;  // (flat / dp) parameters
  std::map<int, Tensor> gathered_;
  std::map<int, uint64_t> pending_;
  std::map<int, Tensor> unit_grads_;
  int64_t exposed_ns_ = 0;
  CommQueue queue_;  // last: drained before the buffers above go
};

}  // namespace tpb
