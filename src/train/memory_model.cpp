#include "train/memory_model.h"

#include <algorithm>

#include "model/loss_head.h"
#include "model/params.h"

namespace tpb {

int64_t local_parameter_elements(const ModelConfig& c, const ParallelDims& dims) {
  return ModelParams(c, dims, 0, /*materialize=*/false).flat_size();
}

double activation_bytes(const ModelConfig& c, const LocalSizes& local, int64_t batch, bool recompute,
                        int64_t loss_chunk) {
  // n: token rows inside the TP regions (the whole sequence); ns: rows of the residual stream,
  // the norms and their statistics (this rank's seq_local positions with SP, else n).
  const double n = static_cast<double>(batch * c.seq), C = static_cast<double>(c.dim);
  const double ns = local.sp ? static_cast<double>(batch * local.seq_local) : n;
  const double hl = static_cast<double>(local.heads), kvl = static_cast<double>(local.kv_heads);
  const double hd = static_cast<double>(local.head_dim), fl = static_cast<double>(local.ffn_hidden);
  const double vl = static_cast<double>(local.vocab), L = static_cast<double>(c.n_layers);
  const double k = static_cast<double>(loss_chunk_rows(loss_chunk, batch * c.seq, local.vocab));
  // One block's saved activations (model/block.h BlockActivations): rstd1, rstd2, xn1, xn2
  // and h on this rank's positions; q, k, v, att, lse, a1, a3, g on all of them.
  const double block = ns * (2 + 3 * C) + n * (2 * hl * hd + 2 * kvl * hd + hl + 3 * fl);
  // Shared scratch (BlockScratch): partial, dg/da1/da3, dxn, datt/dq/dq_pre, dk/dv/dk_pre on
  // every position, dh on this rank's; with SP also staging and full (all positions), local
  // (this rank's) and the 2C norm gradients.
  const double scratch = n * (2 * C + 3 * fl + 3 * hl * hd + 3 * kvl * hd) + ns * C +
                         (local.sp ? 2 * n * C + ns * C + 2 * C : 0);
  const double elements = 2 * n                        // tokens, targets (int32)
                          + (L + 1) * ns * C           // block inputs / output
                          + (recompute ? 1 : L) * block + (recompute ? ns * C : 0)
                          + ns + ns * C                // final norm: rstd, xf
                          + 2 * k * vl                 // loss head: one chunk's logits, dlogits
                          + 3 * k + n                  //   a chunk's row statistics, every row's loss
                          + n * C + vl * C             //   dx, dW_out (loss_head.h)
                          + scratch + 2 * ns * C;      // scratch, two residual gradients
  return 4 * elements;
}

MemoryPrediction predict_memory(const ModelConfig& c, const ParallelDims& dims, DpShard shard, int64_t batch,
                                bool recompute, int64_t loss_chunk) {
  MemoryPrediction m;
  auto held = [&](MemCategory cat, double elements) { m.persistent[static_cast<size_t>(cat)] = 4 * elements; };
  auto extra = [&](MemCategory cat, double elements) { m.transient[static_cast<size_t>(cat)] = 4 * elements; };
  const ModelParams shapes(c, dims, 0, /*materialize=*/false);
  const double p = static_cast<double>(shapes.flat_size()), d = dims.dp();
  double largest_unit = 0;
  for (const UnitRange& u : shapes.units()) largest_unit = std::max(largest_unit, static_cast<double>(u.padded));
  switch (shard) {
    case DpShard::none:
      held(MemCategory::parameters, p);
      held(MemCategory::gradients, p);
      held(MemCategory::optimizer_state, 2 * p);
      break;
    case DpShard::optimizer:
      held(MemCategory::parameters, p);
      held(MemCategory::gradients, p + p / d);  // full gradients, plus this rank's reduced shard
      held(MemCategory::optimizer_state, 2 * p / d);
      break;
    case DpShard::full:
      held(MemCategory::parameters, p / d);
      held(MemCategory::gradients, p / d);
      held(MemCategory::optimizer_state, 2 * p / d);
      // During a step: one unit's full gradients (two while one is still being reduced) and
      // gathered units (the one computing, the one prefetched, and in backward the one whose
      // gradients are still being reduced).
      extra(MemCategory::gradients, 2 * largest_unit);
      extra(MemCategory::comm_buffers, 3 * largest_unit);
      break;
  }
  m.persistent[static_cast<size_t>(MemCategory::activations)] = activation_bytes(c, shapes.local(), batch, recompute, loss_chunk);
  return m;
}

double MemoryPrediction::total_peak() const {
  double t = 0;
  for (int k = 0; k < kNumMemCategories; ++k) t += peak(static_cast<MemCategory>(k));
  return t;
}

}  // namespace tpb
