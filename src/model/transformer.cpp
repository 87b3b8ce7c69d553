#include "model/transformer.h"

#include "kernels/ops.h"
#include "parallel/conjugate.h"

namespace tpb {

TransformerActivations make_transformer_activations(const ModelConfig& c, int tp, int64_t batch) {
  const auto A = MemCategory::activations;
  TransformerActivations a;
  a.batch = batch;
  const int64_t rows = batch * c.seq, v_local = c.vocab / tp;
  a.tokens = Tensor::empty({batch, c.seq}, A, DType::i32);
  a.targets = Tensor::empty({batch, c.seq}, A, DType::i32);
  for (int64_t l = 0; l <= c.n_layers; ++l) a.resid.push_back(Tensor::empty({batch, c.seq, c.dim}, A));
  for (int64_t l = 0; l < c.n_layers; ++l) a.blocks.push_back(make_block_activations(c, tp, batch));
  a.rstd_f = Tensor::empty({rows}, A);
  a.xf = Tensor::empty({batch, c.seq, c.dim}, A);
  a.logits = Tensor::empty({rows, v_local}, A);
  a.ce = make_vocab_parallel_ce(rows);
  a.scratch = make_block_scratch(c, tp, batch);
  a.dresid_a = Tensor::empty({batch, c.seq, c.dim}, A);
  a.dresid_b = Tensor::empty({batch, c.seq, c.dim}, A);
  a.dlogits = Tensor::empty({rows, v_local}, A);
  return a;
}

double transformer_forward(TransformerActivations& a, ModelParams& p, Communicator& tp, TraceBuffer* trace) {
  const ModelConfig& c = p.config();
  Param& emb = p.tok_embeddings();
  vocab_parallel_embedding_forward(a.resid[0], a.tokens, emb.value, emb.shard.offset, tp);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    ScopedSpan span(trace, "block", "layer", l);
    block_forward(a.resid[static_cast<size_t>(l + 1)], a.blocks[static_cast<size_t>(l)], a.scratch,
                  p.layer(l), a.resid[static_cast<size_t>(l)], c, tp, trace);
  }
  ops::rmsnorm_forward(a.xf, a.rstd_f, a.resid.back(), p.norm().value, c.norm_eps);
  Param& out = p.output();
  {
    ScopedSpan span(trace, "matmul", "kernel");
    ops::matmul(a.logits, a.xf, out.value, false, true);
  }
  ScopedSpan span(trace, "cross_entropy", "kernel");
  return vocab_parallel_cross_entropy_forward(a.ce, a.logits, a.targets, out.shard.offset, tp);
}

void transformer_backward(TransformerActivations& a, ModelParams& p, Communicator& tp,
                          const std::function<void(int)>& on_unit_done, TraceBuffer* trace) {
  const ModelConfig& c = p.config();
  Param& out = p.output();
  vocab_parallel_cross_entropy_backward(a.dlogits, a.ce, a.logits, a.targets, out.shard.offset, 1.0f);
  Tensor& dxf = a.scratch.dxn;
  {
    ScopedSpan span(trace, "matmul", "kernel");
    ops::matmul(dxf, a.dlogits, out.value);  // partial over the vocabulary shards
    ops::matmul(out.grad, a.dlogits, a.xf.view({a.xf.shape().rows(), c.dim}), true, false, 1.0f, true);
  }
  all_reduce_tp(dxf, tp);  // f backward
  Tensor* dcur = &a.dresid_a;
  Tensor* dnext = &a.dresid_b;
  dcur->zero();
  ops::rmsnorm_backward(*dcur, p.norm().grad, dxf, a.resid.back(), p.norm().value, a.rstd_f);
  if (on_unit_done) on_unit_done(static_cast<int>(c.n_layers) + 1);
  for (int64_t l = c.n_layers - 1; l >= 0; --l) {
    ScopedSpan span(trace, "block", "layer", l);
    block_backward(*dnext, a.blocks[static_cast<size_t>(l)], a.scratch, p.layer(l),
                   a.resid[static_cast<size_t>(l)], *dcur, c, tp, trace);
    std::swap(dcur, dnext);
    if (on_unit_done) on_unit_done(static_cast<int>(l) + 1);
  }
  Param& emb = p.tok_embeddings();
  vocab_parallel_embedding_backward(emb.grad, *dcur, a.tokens, emb.shard.offset);
  if (on_unit_done) on_unit_done(0);
}

}  // namespace tpb
