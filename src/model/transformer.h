// The whole decoder, forward and backward, on one rank of a TP group:
//
//   x0     = vocab_parallel_embedding(tokens)                 (B, T, C)
//   x{l+1} = block_l(x{l})                                     l = 0 .. L-1
//   xf     = rmsnorm(x{L})
//   logits = xf W_out_local^T       (f before: identity forward) (B*T, V_local)
//   loss   = mean vocab-parallel cross-entropy(logits, targets)
//
// Backward runs the same steps in reverse and reports each "unit" whose gradients are
// complete (L + 1 the head, then layers L-1 .. 0, then 0 the embedding), so data
// parallelism can start reducing a bucket while backward goes on.
#pragma once

#include <functional>
#include <vector>

#include "comm/communicator.h"
#include "model/block.h"
#include "model/params.h"
#include "model/vocab_parallel.h"

namespace tpb {

struct TransformerActivations {
  int64_t batch = 0;
  Tensor tokens, targets;                // int32 (B, T)
  std::vector<Tensor> resid;             // L + 1 of (B, T, C): block inputs, then the last output
  std::vector<BlockActivations> blocks;  // L
  Tensor rstd_f, xf;                     // (B*T), (B, T, C)
  Tensor logits;                         // (B*T, V_local)
  VocabParallelCE ce;
  // backward work buffers
  BlockScratch scratch;
  Tensor dresid_a, dresid_b;             // (B, T, C), ping-pong
  Tensor dlogits;                        // (B*T, V_local)
};

TransformerActivations make_transformer_activations(const ModelConfig& c, int tp, int64_t batch);

// Returns the mean loss over this rank's B*T tokens (the same on every rank of the TP group).
double transformer_forward(TransformerActivations& a, ModelParams& p, Communicator& tp,
                           TraceBuffer* trace = nullptr);

// Accumulates d(mean loss)/d(param) into every param's grad. on_unit_done(u) is called as
// soon as unit u's gradients are final (may be empty).
void transformer_backward(TransformerActivations& a, ModelParams& p, Communicator& tp,
                          const std::function<void(int)>& on_unit_done = {},
                          TraceBuffer* trace = nullptr);

}  // namespace tpb
