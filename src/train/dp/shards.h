// What the data-parallel strategies share: buffers on the parameters' device, gradient
// clipping and the AdamW settings, and (ZeRO-1, FSDP) the 1/dp shards of every unit.
//
// The shards are contiguous: rank r of D holds elements [r * S_u, (r + 1) * S_u) of unit
// u's padded range (ModelParams pads each unit to a multiple of D), stored at
// [begin_u / D, begin_u / D + S_u) of the shard buffers.
#pragma once

#include <cstdint>

#include "checkpoint/checkpoint.h"
#include "comm/communicator.h"
#include "kernels/ops.h"
#include "model/params.h"
#include "train/optimizer.h"

namespace tpb {

// fp32 buffers on the parameters' device.
Tensor dp_zeros(const ModelParams& p, Shape shape, MemCategory category);
Tensor dp_empty(const ModelParams& p, Shape shape, MemCategory category);

// Scales `grads` so their global norm (`norm`, before clipping) is at most c.grad_clip.
void clip_gradients(Tensor& grads, double norm, const OptimizerConfig& c);
ops::AdamWConfig adamw_config(const OptimizerConfig& c, float lr);

// Checkpoint views of this rank's 1/dp share of every unit (dp rank r of D: elements
// [begin_u + r S_u, begin_u + (r + 1) S_u)): from a flat buffer of the whole layout, or from
// a shard buffer (GradShards' layout, total() elements).
std::vector<ckpt::StateRange> unit_shards_of_flat(const ModelParams& p, int dp_rank, int dp_size,
                                                  ckpt::StateKind kind, const Tensor& flat);
std::vector<ckpt::StateRange> unit_shards_of_shards(const ModelParams& p, int dp_rank, int dp_size,
                                                    ckpt::StateKind kind, const Tensor& shards);

// This rank's shard of every unit's reduced gradients and of the AdamW state.
class GradShards {
 public:
  GradShards(ModelParams& p, Communicator& dp);

  int64_t size(int u) const { return p_.units()[static_cast<size_t>(u)].padded / dp_.size(); }
  int64_t offset(int u) const { return p_.units()[static_cast<size_t>(u)].begin / dp_.size(); }
  int64_t total() const { return p_.flat_size() / dp_.size(); }

  // grads shard of unit u <- the dp average of every rank's full_grads of unit u.
  void reduce_scatter(int u, const Tensor& full_grads);
  // Global norm of the reduced gradients: squares of this rank's shards, replicated
  // parameters once over TP, summed over DP and TP. Collective over dp and tp.
  double grad_norm(Communicator& tp);

  Tensor grads, m, v;  // (total()) each

 private:
  ModelParams& p_;
  Communicator& dp_;
};

}  // namespace tpb
