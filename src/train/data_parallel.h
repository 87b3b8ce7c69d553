// Data parallelism over the dp communicator: the interface the trainer calls and the model
// announces its units to (UnitHooks), with one strategy per --dp-shard layout:
//
//   none       Ddp   (train/dp/ddp.h)    parameters, gradients, AdamW state replicated;
//                                       gradients averaged by all-reduce in buckets.
//   optimizer  Zero1 (train/dp/zero1.h)  gradients reduce-scattered, AdamW state and the
//                                       update sharded, updated shards all-gathered.
//   full       Fsdp  (train/dp/fsdp.h)   parameters, gradients and AdamW state sharded;
//                                       each unit all-gathered just before it is used.
//
// A step, as the trainer drives it:
//
//   forward   (model calls before_unit / after_unit for units 0 .. L+1)
//   zero_grads()
//   backward  (model calls before_unit / after_unit for L+1 .. 0, and grads_ready(u) once
//              unit u's gradients are final)
//   finish_backward()              every gradient reduced
//   optimizer_step(config, step, lr)   clip (norm over TP and DP) and AdamW
//
// How the collectives run relative to the computation (synchronously, on a communication
// thread, or queued on a GPU communicator's stream) is the strategies' shared CommQueue
// (train/dp/comm_queue.h).
//
// Gradient clipping counts replicated parameters (norm weights) once over TP and every
// element once over DP: the norm is computed on the reduced gradients (full ones in DDP,
// shards otherwise).
#pragma once

#include <cstdint>
#include <memory>

#include "checkpoint/checkpoint.h"
#include "comm/communicator.h"
#include "model/params.h"
#include "model/transformer.h"
#include "train/dp_shard.h"
#include "train/optimizer.h"

namespace tpb {

class DataParallel : public UnitHooks {
 public:
  ~DataParallel() override = default;

  virtual DpShard mode() const = 0;
  // Serial-equivalent initialisation (FSDP keeps only this rank's shards).
  virtual void init_params(uint64_t seed) = 0;
  // Before backward: zero the gradients this layout accumulates into.
  virtual void zero_grads() = 0;
  // Returns when every gradient is reduced.
  virtual void finish_backward() = 0;
  // Clip (returns the norm before clipping) and AdamW step (1-based) with learning rate lr.
  virtual double optimizer_step(const OptimizerConfig& c, int64_t step, float lr) = 0;

  // DDP: gradient buckets (0 elsewhere, and with one dp rank).
  virtual int num_buckets() const { return 0; }
  // FSDP: seconds the computation spent waiting for (or doing) all-gathers since the last
  // call (0 elsewhere).
  virtual double take_exposed_gather_seconds() { return 0; }

  // The training state (parameters, AdamW exp_avg and exp_avg_sq) as views of this rank's
  // buffers in the parameters' flat layout (checkpoint/checkpoint.h). `owned`: what this
  // rank writes to a checkpoint, its 1/dp share of every unit (each element once over dp);
  // otherwise everything it holds, which loading fills.
  virtual std::vector<ckpt::StateRange> state_ranges(bool owned) = 0;
  // After the state was loaded: what is derived from it (mixed precision's bf16 copy).
  virtual void state_loaded() = 0;
};

// `p` must have been built with dims().dp() == dp.size(), materialized unless mode is full.
// `overlap`: none / optimizer reduce gradients during backward; full prefetches the next
// unit's parameters.
std::unique_ptr<DataParallel> make_data_parallel(DpShard mode, ModelParams& p, Communicator& dp,
                                                 Communicator& tp, int64_t bucket_bytes, bool overlap);

}  // namespace tpb
