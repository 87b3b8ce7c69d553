// The whole decoder, forward and backward, on one rank of a TP group:
//
//   x0     = vocab_parallel_embedding(tokens)                 (B, T, C)
//   x{l+1} = block_l(x{l})                                     l = 0 .. L-1
//   xf     = rmsnorm(x{L})
//   logits = xf W_out_local^T       (f before: identity forward) (B*T, V_local), chunk by chunk
//   loss   = mean vocab-parallel cross-entropy(logits, targets)   (fused: model/loss_head.h)
//
// Backward runs the same steps in reverse. Units (0 the embedding, 1 + l layer l, L + 1 the
// final norm and output) are announced to optional UnitHooks: before a unit's parameters
// are used and after (forward and backward), and when its gradients are final (L + 1
// first, 0 last), so data parallelism can reduce them, and FSDP can gather and free them,
// while the computation goes on.
//
// With `recompute`, forward keeps only each block's input; backward runs the block's
// forward again (into one shared set of activations) just before its backward.
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "model/block.h"
#include "model/params.h"
#include "model/loss_head.h"
#include "model/vocab_parallel.h"

namespace tpb {

class UnitHooks {
 public:
  virtual ~UnitHooks() = default;
  virtual void before_unit(int unit, bool backward) {}
  virtual void after_unit(int unit, bool backward) {}
  virtual void grads_ready(int unit) {}
};

struct TransformerActivations {
  int64_t batch = 0;
  bool recompute = false;
  Tensor tokens, targets;                // int32 (B, T)
  std::vector<Tensor> resid;             // L + 1 of (B, Ts, C): block inputs, then the last output
  std::vector<BlockActivations> blocks;  // L, or 1 shared by every block with recompute
  Tensor recompute_out;                  // (B, T, C), recompute only
  Tensor rstd_f, xf;                     // (B*Ts), (B, Ts, C); Ts = T / tp with SP, else T
  LossHead head;                         // the fused, chunked output projection + loss (loss_head.h)
  // backward work buffers
  BlockScratch scratch;
  Tensor dresid_a, dresid_b;             // (B, Ts, C), ping-pong
};

// On placement.device: tokens and targets int32, rstd, lse, logits and the loss buffers
// fp32, every other activation of placement.compute.
// loss_chunk: token rows per chunk of the loss head (0: default_loss_chunk).
TransformerActivations make_transformer_activations(const ModelConfig& c, const LocalSizes& local,
                                                    int64_t batch, bool recompute = false,
                                                    const Placement& placement = {}, int64_t loss_chunk = 0);

// Forward pass up to every row's loss in a.head.ce.losses (p's tp rank and size must be tp's), and the
// loss head's gradients (loss_head.h); nothing is read back to the host, so on the GPU the host does
// not wait (read the loss after the step with mean_loss(a.head.ce)).
void transformer_forward_pass(TransformerActivations& a, ModelParams& p, Communicator& tp,
                              TraceBuffer* trace = nullptr, UnitHooks* hooks = nullptr);
// The forward pass, then the mean loss over this rank's B*T tokens (the same on every rank
// of the TP group); waits for it on the GPU.
double transformer_forward(TransformerActivations& a, ModelParams& p, Communicator& tp,
                           TraceBuffer* trace = nullptr, UnitHooks* hooks = nullptr);

// Accumulates d(mean loss)/d(param) into every param's grad.
void transformer_backward(TransformerActivations& a, ModelParams& p, Communicator& tp,
                          TraceBuffer* trace = nullptr, UnitHooks* hooks = nullptr);

}  // namespace tpb
