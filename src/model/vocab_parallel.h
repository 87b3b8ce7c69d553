// Vocabulary-parallel embedding and cross-entropy (Megatron): each TP rank holds the rows
// [vocab_start, vocab_start + V_local) of the embedding table and of the output projection,
// and the full logits are never gathered.
//
// Embedding: ops::embedding_forward gives zero rows for tokens outside this rank's range, so
// the sum over TP (g, or g' with SP: model/transformer.cpp) assembles the full embedding.
// Backward: each rank accumulates its own rows only.
//
// Cross-entropy over logits split by vocabulary, per row n (this rank's logits z, V_local):
//   m      = all_reduce_max(max_j z_j)
//   s, zt  = all_reduce_sum(sum_j exp(z_j - m), z_target if the target is in range else 0)
//   loss_n = log s + m - zt
//   dz_j   = scale * (exp(z_j - m) / s - [j == target])      (scale = dloss / rows)
// Two all-reduces a step (the max, then sum-exp and target logit together), 3 x rows floats.
#pragma once

#include "comm/communicator.h"
#include "tensor/tensor.h"

namespace tpb {

// dtable += this rank's rows of the embedding gradient (dout is the full, replicated one).
void vocab_parallel_embedding_backward(Tensor& dtable, const Tensor& dout, const Tensor& tokens,
                                       int64_t vocab_start);

struct VocabParallelCE {
  Tensor row_max;   // (rows), or a chunk's rows (model/loss_head.h)
  Tensor sum_exp;   // (2 * rows): sum-exp, then target logit (one all-reduce)
  Tensor losses;    // (rows)
};
// fp32 buffers on `device`: losses for `rows` rows, the row statistics for `stat_rows`
// (0: rows) at a time.
VocabParallelCE make_vocab_parallel_ce(int64_t rows, Device device = Device::cpu, int64_t stat_rows = 0);

// ce.losses (rows) = every row's loss; logits fp32 (rows, V_local), targets int32 (rows).
// Nothing comes back to the host (on the GPU nothing waits): read with mean_loss.
void vocab_parallel_cross_entropy_forward(VocabParallelCE& ce, const Tensor& logits, const Tensor& targets,
                                          int64_t vocab_start, Communicator& tp);
// The forward, and at once dlogits = scale * (softmax - [target]) (overwritten; fp32 or bf16),
// for the fused loss head. On the CPU with fp32 dlogits `logits` is clobbered: the sum-exp
// pass leaves exp(z - m) in it and the gradient only scales that (one pass of exp, not two).
void vocab_parallel_cross_entropy_with_grad(VocabParallelCE& ce, Tensor& dlogits, Tensor& logits,
                                            const Tensor& targets, int64_t vocab_start, float scale,
                                            Communicator& tp);
// The mean of ce.losses, on the host (on the GPU this waits for the step's work).
double mean_loss(const VocabParallelCE& ce);
// dlogits (rows, V_local), fp32 or bf16 = d(mean loss * dloss)/d logits (overwritten).
void vocab_parallel_cross_entropy_backward(Tensor& dlogits, const VocabParallelCE& ce,
                                           const Tensor& logits, const Tensor& targets,
                                           int64_t vocab_start, float dloss);

}  // namespace tpb
