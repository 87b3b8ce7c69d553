// The output projection and the vocab-parallel cross-entropy, fused and chunked over token
// rows, so the logits of the whole batch never exist (as Liger's FusedLinearCrossEntropy and
// torchtitan's chunked loss, but vocab-parallel). For each chunk of k token rows:
//
//   z        = x_c W_local^T                        (k, V_local) fp32, this rank's vocabulary
//   m, s, zt = the vocab-parallel max / sum-exp / target-logit all-reduces (vocab_parallel.h)
//   loss     = log s + m - zt                       every row's loss, kept
//   dz       = (exp(z - m) / s - [j == target]) / rows      the gradient of the mean loss
//   dx_c     = dz W_local                           (k, C), partial over the vocabulary shards
//   dW      += dz^T x_c                             (V_local, C)
//
// then the chunk's logits are overwritten by the next chunk's. The gradients are computed in
// forward, while z is at hand (no second pass over the logits, no recomputed GEMM); backward
// adds dW to the output weight's gradient and reduces dx over TP. Two small all-reduces per
// chunk (3k floats); with one chunk this is exactly the unfused head.
#pragma once

#include "comm/communicator.h"
#include "model/config.h"
#include "model/vocab_parallel.h"
#include "profile/trace.h"
#include "tensor/tensor.h"

namespace tpb {

// Token rows per chunk when --loss-chunk is 0 (auto): the two chunk buffers (logits and
// dlogits, fp32) within kLossChunkBudgetBytes, at least 64 rows, at most all of them.
inline constexpr int64_t kLossChunkBudgetBytes = int64_t{64} << 20;
int64_t default_loss_chunk(int64_t rows, int64_t v_local);
// `requested` (0: auto) clamped to [1, rows].
int64_t loss_chunk_rows(int64_t requested, int64_t rows, int64_t v_local);

struct LossHead {
  int64_t chunk = 0;       // token rows per chunk
  Tensor logits;           // (chunk, V_local) fp32: the current chunk's logits
  Tensor dlogits;          // (chunk, V_local), compute type: their gradient
  VocabParallelCE ce;      // row statistics of a chunk; losses of every row
  Tensor dx;               // (B, T, C), compute type: d mean loss / d x, partial over the vocabulary
  Tensor dweight;          // (V_local, C) fp32: d mean loss / d W_out of the last forward
};

// Buffers for batch x seq token rows of width `dim` and `v_local` vocabulary rows, on
// placement.device (activations category); requested_chunk 0: default_loss_chunk.
LossHead make_loss_head(int64_t batch, int64_t seq, int64_t dim, int64_t v_local, int64_t requested_chunk,
                        const Placement& placement = {});

// x (rows, C): the final norm's output (all of this rank's rows, gathered along the sequence
// with SP); weight (V_local, C) this rank's output rows, starting at vocab_start; targets
// int32 (rows). Fills head.ce.losses, head.dx and head.dweight (overwritten). Nothing comes
// back to the host.
void loss_head_forward(LossHead& head, const Tensor& x, const Tensor& weight, const Tensor& targets,
                       int64_t vocab_start, Communicator& tp, TraceBuffer* trace = nullptr);

}  // namespace tpb
