#include "model/loss_head.h"

#include <algorithm>

#include "base/error.h"
#include "kernels/ops.h"

namespace tpb {

int64_t default_loss_chunk(int64_t rows, int64_t v_local) {
  const int64_t per_row = 2 * 4 * std::max<int64_t>(v_local, 1);  // logits + dlogits, fp32
  return std::clamp<int64_t>(kLossChunkBudgetBytes / per_row, std::min<int64_t>(64, rows), std::max<int64_t>(rows, 1));
}

int64_t loss_chunk_rows(int64_t requested, int64_t rows, int64_t v_local) {
  if (requested <= 0) return default_loss_chunk(rows, v_local);
  return std::clamp<int64_t>(requested, 1, std::max<int64_t>(rows, 1));
}

LossHead make_loss_head(int64_t batch, int64_t seq, int64_t dim, int64_t v_local, int64_t requested_chunk,
                        const Placement& pl) {
  const int64_t rows = batch * seq;
  LossHead h;
  h.chunk = loss_chunk_rows(requested_chunk, rows, v_local);
  TrackingAllocator& alloc = default_allocator(pl.device);
  const auto A = MemCategory::activations;
  h.logits = Tensor::empty({h.chunk, v_local}, A, DType::f32, alloc);  // fp32 logits, as in the reference model
  h.dlogits = Tensor::empty({h.chunk, v_local}, A, pl.compute, alloc);
  h.ce = make_vocab_parallel_ce(rows, pl.device, h.chunk);
  h.dx = Tensor::empty({batch, seq, dim}, A, pl.compute, alloc);
  h.dweight = Tensor::empty({v_local, dim}, A, DType::f32, alloc);
  return h;
}

void loss_head_forward(LossHead& h, const Tensor& x, const Tensor& weight, const Tensor& targets, int64_t vocab_start,
                       Communicator& tp, TraceBuffer* trace) {
  const int64_t rows = x.shape().rows();
  const int64_t dim = x.shape().last();
  TPB_CHECK(targets.numel() == rows && h.ce.losses.numel() == rows && h.dx.numel() == rows * dim,
            "loss head: x {} with {} targets, buffers for {} rows", x.shape().str(), targets.numel(),
            h.ce.losses.numel());
  const Tensor x2 = x.view({rows, dim});
  const Tensor t1 = targets.view({rows});
  const Tensor dx2 = h.dx.view({rows, dim});
  const float scale = rows > 0 ? 1.0f / static_cast<float>(rows) : 0.0f;  // d(mean loss) / d(row loss)
  for (int64_t r0 = 0; r0 < rows; r0 += h.chunk) {
    const int64_t k = std::min(h.chunk, rows - r0);
    Tensor z = h.logits.narrow0(0, k), dz = h.dlogits.narrow0(0, k);
    const Tensor xc = x2.narrow0(r0, k), tc = t1.narrow0(r0, k);
    VocabParallelCE cc{h.ce.row_max.narrow0(0, k), h.ce.sum_exp.narrow0(0, 2 * k), h.ce.losses.narrow0(r0, k)};
    {
      ScopedSpan span(trace, "matmul", "cpu_op");
      ops::matmul(z, xc, weight, false, true);
    }
    {
      ScopedSpan span(trace, "cross_entropy", "cpu_op");
      vocab_parallel_cross_entropy_with_grad(cc, dz, z, tc, vocab_start, scale, tp);
    }
    ScopedSpan span(trace, "matmul", "cpu_op");
    Tensor dxc = dx2.narrow0(r0, k);
    ops::matmul(dxc, dz, weight);                                  // partial over the vocabulary shards
    ops::matmul(h.dweight, dz, xc, true, false, 1.0f, r0 > 0);     // the first chunk overwrites
  }
  if (rows == 0) h.dweight.zero();
}

}  // namespace tpb
