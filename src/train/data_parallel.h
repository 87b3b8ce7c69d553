// Data parallelism over the dp communicator, in three layouts (--dp-shard):
//
//   none       DDP: every rank holds all parameters, gradients and AdamW state; gradients
//              are averaged with all-reduce, in buckets of whole units merged from the
//              head down to --bucket-mb.
//   optimizer  ZeRO-1: gradients are reduce-scattered (averaged) unit by unit, each rank
//              keeps AdamW state for, and updates, its 1/dp shard of every unit, then the
//              updated shards are all-gathered into the full parameters.
//   full       FSDP / ZeRO-3: each rank stores only its 1/dp shard of every unit's
//              parameters. A unit's full parameters are all-gathered just before its
//              forward and again before its backward, and freed right after use; its
//              gradients are reduce-scattered into the rank's gradient shard and the full
//              gradient buffer freed. With prefetch, the next unit's all-gather is queued
//              while the current unit computes; the time the computation still waits for an
//              all-gather is reported as exposed.
//
// With `overlap` (none, optimizer) or `prefetch` (full), collectives run on a
// communication thread (needs MPI_THREAD_MULTIPLE). The shards are contiguous: rank r of D
// holds elements [r * S_u, (r + 1) * S_u) of unit u's padded range (ModelParams pads each
// unit to a multiple of D), stored at [begin_u / D, begin_u / D + S_u) of the shard buffers.
//
// Gradient clipping counts replicated parameters (norm weights) once over TP and every
// element once over DP: the norm is computed on the reduced gradients (full ones in DDP,
// shards otherwise).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "model/params.h"
#include "model/transformer.h"
#include "train/comm_worker.h"
#include "train/optimizer.h"

namespace tpb {

enum class DpShard { none, optimizer, full };
DpShard parse_dp_shard(const std::string& name);  // UsageError for an unknown name
std::string dp_shard_name(DpShard s);

class DataParallel final : public UnitHooks {
 public:
  // `p` must have been built with dp_pad = dp.size(), materialized unless mode is full.
  DataParallel(DpShard mode, ModelParams& p, Communicator& dp, Communicator& tp, int64_t bucket_bytes,
               bool overlap);
  ~DataParallel() override;

  // Serial-equivalent initialisation (full mode keeps only this rank's shards).
  void init_params(uint64_t seed);
  // Before backward: zero the gradients this layout accumulates into.
  void zero_grads();

  void before_unit(int unit, bool backward) override;
  void after_unit(int unit, bool backward) override;
  void grads_ready(int unit) override;
  // Returns when every gradient is reduced.
  void finish_backward();
  // Clip (returns the norm before clipping) and AdamW step (1-based) with learning rate lr;
  // ZeRO-1 then all-gathers the updated parameters.
  double optimizer_step(const OptimizerConfig& c, int64_t step, float lr);

  DpShard mode() const { return mode_; }
  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Seconds the computation spent waiting for (or doing) FSDP all-gathers since the last call.
  double take_exposed_gather_seconds();

 private:
  // fp32 buffers on the parameters' device.
  Tensor zeros(Shape shape, MemCategory category) const;
  Tensor empty(Shape shape, MemCategory category) const;
  struct Bucket {
    int64_t offset, count;  // flat elements
    int lowest_unit;        // complete when this unit is done
  };
  int64_t shard_size(int u) const { return p_.units()[static_cast<size_t>(u)].padded / dp_.size(); }
  int64_t shard_offset(int u) const { return p_.units()[static_cast<size_t>(u)].begin / dp_.size(); }
  void run_or_submit(std::function<void()> task);
  void reduce_bucket(const Bucket& b);
  void reduce_scatter_unit(int u, const Tensor& full_grads);
  Tensor gather_unit(int u);  // allocates and fills the unit's full parameters
  void issue_prefetch(int u);
  double sharded_grad_norm(Communicator& tp);

  DpShard mode_;
  ModelParams& p_;
  Communicator& dp_;
  Communicator& tp_;
  std::unique_ptr<CommWorker> worker_;
  bool deferred_ = false;  // overlap by queueing on a GPU communicator's stream (no thread)
  std::vector<Bucket> buckets_;  // none: in completion order
  size_t next_bucket_ = 0;
  Tensor value_shard_;           // full: (flat / dp) parameters
  Tensor grad_shard_;            // optimizer, full: (flat / dp) gradients
  Tensor m_, v_;                 // AdamW state: flat (none) or flat / dp
  // full mode: gathered units (and their tickets when prefetched), gradient buffers.
  std::map<int, Tensor> gathered_;
  std::map<int, uint64_t> pending_;
  std::map<int, Tensor> unit_grads_;
  int64_t exposed_ns_ = 0;
};

}  // namespace tpb
