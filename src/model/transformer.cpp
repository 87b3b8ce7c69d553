#include "model/transformer.h"

#include "base/error.h"
#include "kernels/ops.h"
#include "parallel/conjugate.h"
#include "profile/step_progress.h"

namespace tpb {

TransformerActivations make_transformer_activations(const ModelConfig& c, const LocalSizes& local,
                                                    int64_t batch, bool recompute, const Placement& pl,
                                                    int64_t loss_chunk) {
  const ActivationAlloc m{pl};
  const auto act = [&](Shape s) { return m.act(s); };
  const auto f32 = [&](Shape s) { return m.f32(s); };
  TransformerActivations a;
  a.batch = batch;
  a.recompute = recompute;
  const int64_t v_local = local.vocab;
  const int64_t ts = local.sp ? local.seq_local : c.seq;  // the residual stream's positions
  TrackingAllocator& alloc = default_allocator(pl.device);
  a.tokens = Tensor::empty({batch, c.seq}, MemCategory::activations, DType::i32, alloc);
  a.targets = Tensor::empty({batch, c.seq}, MemCategory::activations, DType::i32, alloc);
  for (int64_t l = 0; l <= c.n_layers; ++l) a.resid.push_back(act({batch, ts, c.dim}));
  for (int64_t l = 0; l < (recompute ? 1 : c.n_layers); ++l)
    a.blocks.push_back(make_block_activations(c, local, batch, pl));
  if (recompute) a.recompute_out = act({batch, ts, c.dim});
  a.rstd_f = f32({batch * ts});
  a.xf = act({batch, ts, c.dim});
  a.head = make_loss_head(batch, c.seq, c.dim, v_local, loss_chunk, pl);
  a.scratch = make_block_scratch(c, local, batch, pl);
  a.dresid_a = act({batch, ts, c.dim});
  a.dresid_b = act({batch, ts, c.dim});
  return a;
}

namespace {

BlockActivations& block_acts(TransformerActivations& a, int64_t l) {
  return a.blocks[a.recompute ? 0 : static_cast<size_t>(l)];
}

// Announces a unit's use to the hooks for the lifetime of the scope, and where the step
// is to its progress line (one relaxed atomic store).
class UnitUse {
 public:
  UnitUse(UnitHooks* h, int unit, bool backward) : h_(h), unit_(unit), backward_(backward) {
    step_progress::enter(backward ? step_progress::Phase::backward : step_progress::Phase::forward, unit);
    if (h_) h_->before_unit(unit_, backward_);
  }
  ~UnitUse() {
    if (h_) h_->after_unit(unit_, backward_);
  }
  UnitUse(const UnitUse&) = delete;
  UnitUse& operator=(const UnitUse&) = delete;

 private:
  UnitHooks* h_;
  int unit_;
  bool backward_;
};

}  // namespace

double transformer_forward(TransformerActivations& a, ModelParams& p, Communicator& tp, TraceBuffer* trace,
                           UnitHooks* hooks) {
  transformer_forward_pass(a, p, tp, trace, hooks);
  return mean_loss(a.head.ce);
}

void transformer_forward_pass(TransformerActivations& a, ModelParams& p, Communicator& tp,
                              TraceBuffer* trace, UnitHooks* hooks) {
  TPB_CHECK(p.tp_size() == tp.size() && p.tp_rank() == tp.rank(),
            "parameters of tp rank {}/{} used on a tp communicator of rank {}/{}", p.tp_rank(), p.tp_size(),
            tp.rank(), tp.size());
  const ModelConfig& c = p.config();
  const LocalSizes& local = p.local();
  const int head = static_cast<int>(c.n_layers) + 1;
  const bool sp = local.sp;
  BlockScratch& s = a.scratch;
  {
    UnitUse use(hooks, 0, false);
    Param& emb = p.tok_embeddings();
    // This rank's rows of the table (zeros for tokens outside them), then g / g': the sum
    // over TP assembles the embedding (all of it, or with SP this rank's positions).
    Tensor& rows = sp ? s.partial : a.resid[0];
    ops::embedding_forward(rows, a.tokens, emb.compute, emb.shard.offset);
    tp_region_sum(rows, a.resid[0], s.staging, sp, tp);
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    UnitUse use(hooks, static_cast<int>(l) + 1, false);
    ScopedSpan span(trace, "block", "layer", l);
    block_forward(a.resid[static_cast<size_t>(l + 1)], block_acts(a, l), a.scratch, p.layer(l),
                  a.resid[static_cast<size_t>(l)], c, local, tp, trace);
  }
  UnitUse use(hooks, head, false);
  ops::rmsnorm_forward(a.xf, a.rstd_f, a.resid.back(), p.norm().compute, c.norm_eps);
  // f / f': the head is column-parallel (vocabulary); with SP a.xf keeps this rank's shard.
  const Tensor& xf = tp_region_input(s.full, a.xf, s.staging, sp, tp);
  Param& out = p.output();
  ScopedSpan span(trace, "loss_head", "user_annotation");
  loss_head_forward(a.head, xf, out.compute, a.targets, out.shard.offset, tp, trace);
}

void transformer_backward(TransformerActivations& a, ModelParams& p, Communicator& tp, TraceBuffer* trace,
                          UnitHooks* hooks) {
  const ModelConfig& c = p.config();
  const LocalSizes& local = p.local();
  const int head = static_cast<int>(c.n_layers) + 1;
  const bool sp = local.sp;
  BlockScratch& s = a.scratch;
  Tensor* dcur = &a.dresid_a;
  Tensor* dnext = &a.dresid_b;
  {
    UnitUse use(hooks, head, true);
    Param& out = p.output();
    // The loss head computed its gradients in forward (loss_head.h): W_out's is added here,
    // where the unit's gradients are live (after zero_grads; FSDP's gathered unit).
    ops::add_forward(out.grad, out.grad, a.head.dweight);
    const Tensor& dxf_sum = tp_region_sum(a.head.dx, s.local, s.staging, sp, tp);  // f / f' backward
    dcur->zero();
    // With SP the final norm's weight gradient is a partial sum over this rank's positions:
    // all-reduced over TP here, before the unit's gradients go to data parallelism.
    Tensor norm_grad = norm_grad_target(s, 0, p.norm().grad, sp);
    ops::rmsnorm_backward(*dcur, norm_grad, dxf_sum, a.resid.back(), p.norm().compute, a.rstd_f);
    if (sp) add_sp_norm_grads(s, {&p.norm().grad}, tp);
  }
  if (hooks) hooks->grads_ready(head);
  for (int64_t l = c.n_layers - 1; l >= 0; --l) {
    {
      UnitUse use(hooks, static_cast<int>(l) + 1, true);
      ScopedSpan span(trace, "block", "layer", l);
      const Tensor& x = a.resid[static_cast<size_t>(l)];
      if (a.recompute) {
        ScopedSpan re(trace, "recompute", "user_annotation");
        block_forward(a.recompute_out, block_acts(a, l), a.scratch, p.layer(l), x, c, local, tp, trace);
      }
      block_backward(*dnext, block_acts(a, l), a.scratch, p.layer(l), x, *dcur, c, local, tp, trace);
      std::swap(dcur, dnext);
    }
    if (hooks) hooks->grads_ready(static_cast<int>(l) + 1);
  }
  {
    UnitUse use(hooks, 0, true);
    Param& emb = p.tok_embeddings();
    // g' backward: every rank's rows of the table need the whole sequence's gradient.
    const Tensor& demb = tp_region_input(s.full, *dcur, s.staging, sp, tp);
    vocab_parallel_embedding_backward(emb.grad, demb, a.tokens, emb.shard.offset);
  }
  if (hooks) hooks->grads_ready(0);
}

}  // namespace tpb
