#include "model/block.h"

#include "kernels/ops.h"
#include "parallel/conjugate.h"
#include "parallel/linear.h"

namespace tpb {

namespace {

struct Local {
  int64_t B, T, Ts, C, hl, kvl, hd, fl;
};

Local dims_of(const ModelConfig& c, const LocalSizes& l, int64_t batch) {
  return {batch, c.seq, l.sp ? l.seq_local : c.seq, c.dim, l.heads, l.kv_heads, l.head_dim, l.ffn_hidden};
}


// (B, T, H*hd) seen as (B, T, H, hd) for RoPE and attention.
Tensor heads(const Tensor& t, int64_t h, int64_t hd) { return t.view({t.dim(0), t.dim(1), h, hd}); }

// out = x W^T (overwrite)
void linear(Tensor& out, const Tensor& x, const Param& w, TraceBuffer* trace) {
  linear_forward(out, x, w.compute, Tensor{}, trace);
}

// dx (+)= dy W; W.grad += dy^T x
void linear_backward(Tensor& dx, bool accumulate_dx, Param& w, const Tensor& dy, const Tensor& x,
                     TraceBuffer* trace) {
  linear_input_backward(dx, accumulate_dx, w.compute, dy, trace);
  Tensor no_bias;
  linear_weight_backward(w.grad, no_bias, dy, x, /*overwrite_dweight=*/false, trace);
}

}  // namespace

BlockActivations make_block_activations(const ModelConfig& c, const LocalSizes& local, int64_t batch,
                                        const Placement& pl) {
  const Local L = dims_of(c, local, batch);
  const ActivationAlloc m{pl};
  auto act = [&](Shape s) { return m.act(s); };
  BlockActivations a;
  a.rstd1 = m.f32({L.B * L.Ts});
  a.xn1 = act({L.B, L.Ts, L.C});
  a.q = act({L.B, L.T, L.hl * L.hd});
  a.k = act({L.B, L.T, L.kvl * L.hd});
  a.v = act({L.B, L.T, L.kvl * L.hd});
  a.att = act({L.B, L.T, L.hl * L.hd});
  a.lse = m.f32({L.B, L.hl, L.T});
  a.h = act({L.B, L.Ts, L.C});
  a.rstd2 = m.f32({L.B * L.Ts});
  a.xn2 = act({L.B, L.Ts, L.C});
  a.a1 = act({L.B, L.T, L.fl});
  a.a3 = act({L.B, L.T, L.fl});
  a.g = act({L.B, L.T, L.fl});
  return a;
}

BlockScratch make_block_scratch(const ModelConfig& c, const LocalSizes& local, int64_t batch,
                                const Placement& pl) {
  const Local L = dims_of(c, local, batch);
  const ActivationAlloc m{pl};
  auto act = [&](Shape s) { return m.act(s); };
  BlockScratch s;
  s.partial = act({L.B, L.T, L.C});
  s.dg = act({L.B, L.T, L.fl});
  s.da1 = act({L.B, L.T, L.fl});
  s.da3 = act({L.B, L.T, L.fl});
  s.dxn = act({L.B, L.T, L.C});
  s.dh = act({L.B, L.Ts, L.C});
  s.datt = act({L.B, L.T, L.hl * L.hd});
  s.dq = act({L.B, L.T, L.hl * L.hd});
  s.dq_pre = act({L.B, L.T, L.hl * L.hd});
  s.dk = act({L.B, L.T, L.kvl * L.hd});
  s.dv = act({L.B, L.T, L.kvl * L.hd});
  s.dk_pre = act({L.B, L.T, L.kvl * L.hd});
  if (local.sp) {
    s.staging = act({L.B, L.T, L.C});
    s.full = act({L.B, L.T, L.C});
    s.local = act({L.B, L.Ts, L.C});
    s.norm_grads = m.f32({2, L.C});
  }
  return s;
}

void block_forward(Tensor& out, BlockActivations& a, BlockScratch& s, const ModelParams::Layer& w,
                   const Tensor& x, const ModelConfig& c, const LocalSizes& local, Communicator& tp,
                   TraceBuffer* trace) {
  const int64_t hd = local.head_dim, hl = local.heads, kvl = local.kv_heads;
  const bool sp = local.sp;
  // Attention sub-block. f: identity forward; f': all-gather along the sequence (the shard
  // is what forward keeps).
  ops::rmsnorm_forward(a.xn1, a.rstd1, x, w.attention_norm->compute, c.norm_eps);
  const Tensor& xn1 = tp_region_input(s.full, a.xn1, s.staging, sp, tp);
  linear(a.q, xn1, *w.wq, trace);
  linear(a.k, xn1, *w.wk, trace);
  linear(a.v, xn1, *w.wv, trace);
  Tensor q4 = heads(a.q, hl, hd), k4 = heads(a.k, kvl, hd), v4 = heads(a.v, kvl, hd);
  ops::rope_forward(q4, q4, c.rope_theta, 0);
  ops::rope_forward(k4, k4, c.rope_theta, 0);
  {
    ScopedSpan span(trace, "attention", "cpu_op");
    Tensor att4 = heads(a.att, hl, hd);
    ops::attention_forward(att4, a.lse, q4, k4, v4);
  }
  linear(s.partial, a.att, *w.wo, trace);
  ops::add_forward(a.h, x, tp_region_sum(s.partial, s.local, s.staging, sp, tp));  // g / g'
  // Feed-forward sub-block.
  ops::rmsnorm_forward(a.xn2, a.rstd2, a.h, w.ffn_norm->compute, c.norm_eps);
  const Tensor& xn2 = tp_region_input(s.full, a.xn2, s.staging, sp, tp);  // f / f'
  linear(a.a1, xn2, *w.w1, trace);
  linear(a.a3, xn2, *w.w3, trace);
  ops::swiglu_forward(a.g, a.a1, a.a3);
  linear(s.partial, a.g, *w.w2, trace);
  ops::add_forward(out, a.h, tp_region_sum(s.partial, s.local, s.staging, sp, tp));  // g / g'
}

void block_backward(Tensor& dx, BlockActivations& a, BlockScratch& s, const ModelParams::Layer& w,
                    const Tensor& x, const Tensor& dout, const ModelConfig& c, const LocalSizes& local,
                    Communicator& tp, TraceBuffer* trace) {
  const int64_t hd = local.head_dim, hl = local.heads, kvl = local.kv_heads;
  const bool sp = local.sp;
  // The norms' weight gradients: straight into the grads, or with SP (partial sums over
  // this rank's positions) into s.norm_grads, all-reduced at the end.
  Tensor attention_norm_grad = norm_grad_target(s, 0, w.attention_norm->grad, sp);
  Tensor ffn_norm_grad = norm_grad_target(s, 1, w.ffn_norm->grad, sp);
  // Feed-forward: out = h + ffn(h), so dh = dout + d(ffn input). g' backward: all-gather.
  // s.full holds one gathered tensor at a time: dout, xn2, dh, xn1 in turn.
  const Tensor& dy2 = tp_region_input(s.full, dout, s.staging, sp, tp);
  linear_backward(s.dg, false, *w.w2, dy2, a.g, trace);
  s.da1.zero();
  s.da3.zero();
  ops::swiglu_backward(s.da1, s.da3, s.dg, a.a1, a.a3);
  // W1 and W3's gradients need the whole norm output: with SP all-gathered again (forward
  // kept only this rank's shard, as Megatron-LM does).
  const Tensor& xn2 = tp_region_input(s.full, a.xn2, s.staging, sp, tp);
  linear_backward(s.dxn, false, *w.w1, s.da1, xn2, trace);
  linear_backward(s.dxn, true, *w.w3, s.da3, xn2, trace);
  // f / f' backward: sum the partial input gradients (all-reduce / reduce-scatter).
  const Tensor& dxn2 = tp_region_sum(s.dxn, s.local, s.staging, sp, tp);
  s.dh.copy_from(dout);
  ops::rmsnorm_backward(s.dh, ffn_norm_grad, dxn2, a.h, w.ffn_norm->compute, a.rstd2);
  // Attention: h = x + attn(x), so dx = dh + d(attention input).
  const Tensor& dyo = tp_region_input(s.full, s.dh, s.staging, sp, tp);  // g' backward
  linear_backward(s.datt, false, *w.wo, dyo, a.att, trace);
  s.dq.zero();
  s.dk.zero();
  s.dv.zero();
  {
    ScopedSpan span(trace, "attention", "cpu_op");
    Tensor dq4 = heads(s.dq, hl, hd), dk4 = heads(s.dk, kvl, hd), dv4 = heads(s.dv, kvl, hd);
    ops::attention_backward(dq4, dk4, dv4, heads(s.datt, hl, hd), heads(a.q, hl, hd), heads(a.k, kvl, hd),
                            heads(a.v, kvl, hd), heads(a.att, hl, hd), a.lse);
  }
  s.dq_pre.zero();
  s.dk_pre.zero();
  Tensor dq_pre4 = heads(s.dq_pre, hl, hd), dk_pre4 = heads(s.dk_pre, kvl, hd);
  ops::rope_backward(dq_pre4, heads(s.dq, hl, hd), c.rope_theta, 0);
  ops::rope_backward(dk_pre4, heads(s.dk, kvl, hd), c.rope_theta, 0);
  const Tensor& xn1 = tp_region_input(s.full, a.xn1, s.staging, sp, tp);  // again, as xn2
  linear_backward(s.dxn, false, *w.wq, s.dq_pre, xn1, trace);
  linear_backward(s.dxn, true, *w.wk, s.dk_pre, xn1, trace);
  linear_backward(s.dxn, true, *w.wv, s.dv, xn1, trace);
  const Tensor& dxn1 = tp_region_sum(s.dxn, s.local, s.staging, sp, tp);  // f / f' backward
  dx.copy_from(s.dh);
  ops::rmsnorm_backward(dx, attention_norm_grad, dxn1, x, w.attention_norm->compute, a.rstd1);
  if (sp) add_sp_norm_grads(s, {&w.attention_norm->grad, &w.ffn_norm->grad}, tp);  // one all-reduce, 2C values
}

Tensor norm_grad_target(BlockScratch& s, int row, const Tensor& grad, bool sp) {
  if (!sp) return grad;
  Tensor t = s.norm_grads.narrow0(row, 1).view(grad.shape());
  t.zero();
  return t;
}

void add_sp_norm_grads(BlockScratch& s, std::initializer_list<Tensor*> grads, Communicator& tp) {
  Tensor used = s.norm_grads.narrow0(0, static_cast<int64_t>(grads.size()));
  all_reduce_tp(used, tp);
  int64_t row = 0;
  for (Tensor* g : grads) {
    const Tensor partial = s.norm_grads.narrow0(row++, 1).view(g->shape());
    ops::add_forward(*g, *g, partial);
  }
}

}  // namespace tpb
