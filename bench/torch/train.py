#!/usr/bin/env python3
"""Llama-style decoder trained with Megatron tensor parallelism x data parallelism in
PyTorch, hand-written over torch.distributed: the counterpart of `tpbench train`.

Model (as tests/model/torch_reference.py and tpbench, DESIGN section 6): token embedding;
n_layers blocks of  h = x + wo(attn(rmsnorm(x)));  x = h + w2(silu(w1 rmsnorm(h)) * w3 rmsnorm(h));
final RMSNorm (eps 1e-5); untied output; fp32 logits; mean cross-entropy over B*T positions.
Grouped-query attention (query head h reads kv head h // (heads / kv_heads)), causal,
scale 1/sqrt(hd), written by hand with an explicit mask (torch 1.13 has no fused attention).
RoPE rotates INTERLEAVED pairs (x[2i], x[2i+1]) by t * 10000^(-2i/hd) (Meta's layout).

Mesh: world = dp x tp, TP innermost: ranks g*tp .. g*tp+tp-1 form TP group g (rank // tp),
ranks with the same rank % tp form a DP group. Every rank creates every group with
dist.new_group in the same order (all TP groups, then all DP groups).

Tensor-parallel plan (Megatron; the seed's words are the other way round, see README):
  * f = identity forward / all-reduce backward, before the column-parallel layers of each
    sub-block (one f on the normed input feeds wq, wk, wv; one feeds w1, w3; one feeds the
    output projection).
  * column-parallel (output features split): wq by whole query heads, wk and wv by whole kv
    heads (rank r holds query heads r*H/tp .. and kv heads r*KV/tp .., which are exactly the
    kv heads its query heads read), w1 and w3 by hidden features.
  * row-parallel (input features split): wo, w2, each followed by g = all-reduce forward /
    identity backward. Attention itself runs on the local heads with no communication.
  * RMSNorm weights replicated: their inputs and the gradients reaching them (all-reduced
    by f) are identical on every TP rank, so their gradients are too; no TP reduction
    (but see --sp below).
  * embedding vocab-parallel: rank r holds rows [r*V/tp, (r+1)*V/tp); tokens outside give
    zeros; g (all-reduce) after. Output projection vocab-parallel (column-parallel after f)
    with a vocab-parallel cross-entropy written as an autograd Function: all-reduce MAX of
    the row maxima, then ONE all-reduce (SUM) of the stacked [sum exp, target logit] (the
    target logit is non-zero on the one rank owning it); loss = log(sum exp) - target.
    Backward = (softmax_local - onehot_local) * dloss / (B*T). No logits are gathered.
  * vocab must be divisible by tp (no padding, so the model never depends on tp).
Sequence parallelism (--sp, off by default; Megatron's, Korthikanti et al. 2022): outside
the TP regions (the RMSNorms attention_norm, ffn_norm and norm, the residual adds, the
embedding output) activations are (B, T/tp, dim), TP rank r holding sequence positions
[r*T/tp, (r+1)*T/tp) (dim 1), so --seq must be divisible by --tp. f and g become:
  * f = all-gather along the sequence forward / reduce-scatter along it backward, before
    the column-parallel layers (wq/wk/wv, w1/w3, the output projection): they and the
    attention see the whole sequence, as without --sp.
  * g = reduce-scatter along the sequence forward / all-gather along it backward, after the
    row-parallel layers (wo, w2) and the vocab-parallel embedding.
  * the output projection stays vocab-parallel with the same vocab-parallel cross-entropy
    (logits (B, T, V/tp), never gathered; every TP rank has the loss over all B*T).
  * each TP rank's RMSNorm gains now see only its sequence positions, so their gradients
    are partial sums: one all-reduce (SUM) over TP of them all, after backward and before
    the DP average and clipping (counted in backward time). Then they are identical over
    TP and clipping counts them once, as without --sp.
  Same model and losses as without --sp (to rounding); only the TP collectives change
  (all-reduce = reduce-scatter + all-gather, so they move the same bytes).
DP: after backward, gradients are averaged over the DP group by all-reduce (SUM, then / dp)
of flat buckets of ~25 MB (parameters in reverse order, as DDP). Counted in backward time.
Gradient clipping by the global norm: sum over sharded parameters of the local squared
norms, all-reduced over TP, plus the replicated (norm) parameters' squared norms counted
once; after the DP average every DP replica holds the same gradients, so nothing is reduced
over DP. AdamW (torch.optim.AdamW, betas (0.9, 0.95), eps 1e-8; weight decay on the 2-D
weights, none on the norm gains; foreach on CUDA). LR: linear warm-up over --warmup-iters
steps (lr * (i+1)/warmup) then cosine from lr to 0.1*lr at the last iteration (LambdaLR).

Serial-equivalent init: every rank builds each FULL weight from one torch.Generator seeded
with --seed, in a fixed order (tok_embeddings; per layer wq, wk, wv, wo, w1, w2, w3; output),
and slices its shard, so TP = 1, 2, 4 start from the same model. Init: embedding std 1; wq,
wk, wv, w1 std 0.02; wo, w2, w3 std 0.02/sqrt(2(l+1)); output truncated normal std dim^-1/2
cut at 3 std; norms 1. (Not bit-equal to tpbench's init; not needed for timing.)
Data: synthetic uniform random tokens; for each iteration the whole global batch
(batch*dp rows of seq+1 tokens) is drawn from a generator seeded with --seed + 1 and DP rank
d takes rows [d*batch, (d+1)*batch): identical inside a TP group, different across DP
ranks, and the global data depend only on the global batch, so TP=2 on 2 ranks, DP=2 on 2
ranks (half the --batch) and 1 rank see the same tokens and their losses agree to rounding.
All data are generated before timing.

Method (what is timed): --iters training iterations; the first --warmup-iters of them (the
LR warm-up) are run but not timed; the loss of every iteration is reported. Before each
timed step a barrier (outside its time); then forward (embedding .. loss), backward
(autograd incl. TP collectives, plus the DP gradient all-reduce), optimizer (clip, AdamW
step, scheduler step, zero_grad). On CPU each phase is timed with time.perf_counter at its
boundaries; on CUDA with a CUDA event recorded at each boundary (nothing synchronises
inside the step), the step bracketed by torch.cuda.synchronize() (after the barrier, and
after its last event) and the events read after the loop. Nothing is printed inside the
loop; times and losses go to preallocated tensors and events. Afterwards every rank's
times are gathered to rank 0: per-iteration step = max over ranks of
forward+backward+optimizer; reported median, p95 (numpy's linear interpolation), min, max
over timed iterations; phases: each rank's median, then min / median / max over ranks.
tokens/s = batch * dp * seq / median step. Loss per iteration = mean over DP ranks of the
global-mean loss (identical across TP).

Threads: as bench/torch/linear.py, OPENBLAS_NUM_THREADS must be set before torch loads
(Debian's torch does fp32 matmuls in OpenBLAS, which ignores torch.set_num_threads);
bench/torch/run_torch.sh exports it; otherwise this script sets it to cores // local ranks.

GPUs (--device cuda): rank r computes on GPU LOCAL_RANK % GPUs; collectives are NCCL's when
every rank has its own GPU, else gloo's on host copies (common.py; config.comm_backend).
--dtype fp32 is true fp32 (TF32 off, as tpbench). --dtype bf16 is PyTorch eager's standard
mixed precision: torch.autocast(device_type="cuda", dtype=torch.bfloat16) around forward
and loss, so matmuls run in bf16 while the parameters, their gradients and AdamW's state
stay fp32 (the master weights); autocast keeps softmax, rsqrt, exp/log and the like in
fp32, and the vocab-parallel cross-entropy takes its logits as .float(), so the loss is
fp32 (the output GEMM itself returns bf16 under autocast, which are then upcast; tpbench's
output GEMM writes fp32 logits). TP collectives carry whatever dtype autocast produced.

Launch: bench/torch/run_torch.sh --nproc 2 bench/torch/train.py --tp 2 [--json FILE]
(without a launcher it runs as one rank). Runs on torch 1.13 and later.
"""

import argparse
import contextlib
import math
import os
import statistics
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Llama-style decoder with Megatron TP x DP in PyTorch (counterpart of "
        "`tpbench train`). Defaults are tpbench's small preset.")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--ffn-hidden", type=int, default=688)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=8, help="sequences per DP rank")
    p.add_argument("--iters", type=int, default=10, help="training iterations (incl. warm-up)")
    p.add_argument("--warmup-iters", type=int, default=2,
                   help="LR warm-up iterations; also excluded from timing")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max global grad norm (0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel size (divides world size)")
    p.add_argument("--sp", action="store_true",
                   help="sequence parallelism over the TP group (Megatron's): norms, residuals and "
                        "the embedding output sharded along the sequence; --seq divisible by --tp")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--attention", choices=["auto", "naive", "sdpa"], default="auto",
                   help="naive: softmax(q k^T) v with the (T, T) scores stored; sdpa: "
                        "F.scaled_dot_product_attention (PyTorch's fused/flash kernels, torch >= 2.0); "
                        "auto: sdpa on cuda when available, else naive")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                   help="fp32, or bf16 (cuda only: torch.autocast bf16 around forward + loss; "
                   "fp32 master weights, AdamW and loss)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads per rank (torch.set_num_threads); 0 = cores // local ranks")
    p.add_argument("--json", metavar="FILE", default=None, help="write results (rank 0)")
    a = p.parse_args(argv)
    for name in ("dim", "layers", "heads", "kv_heads", "ffn_hidden", "vocab", "seq", "batch",
                 "iters", "tp"):
        if getattr(a, name) < 1:
            p.error("--%s must be >= 1, got %d" % (name.replace("_", "-"), getattr(a, name)))
    if a.warmup_iters < 0:
        p.error("--warmup-iters must be >= 0, got %d" % a.warmup_iters)
    if a.iters <= a.warmup_iters:
        p.error("--iters (%d) must exceed --warmup-iters (%d): warm-up iterations are not timed"
                % (a.iters, a.warmup_iters))
    if a.dim % a.heads or (a.dim // a.heads) % 2:
        p.error("--dim %d must be divisible by --heads %d with an even head dim" % (a.dim, a.heads))
    if a.heads % a.kv_heads:
        p.error("--heads %d must be a multiple of --kv-heads %d" % (a.heads, a.kv_heads))
    if a.sp and a.seq % a.tp:
        p.error("--sp shards the sequence over the TP group: --seq %d must be divisible by --tp %d"
                % (a.seq, a.tp))
    if a.dtype == "bf16" and a.device != "cuda":
        p.error("--dtype bf16 needs --device cuda (on CPU both tools compute in fp32)")
    return a


from common import (StepClock, all_gather, all_reduce, barrier, gather_cpu,  # noqa: E402
                    init_distributed, percentile, prepare_environment, reduce_scatter, write_json)

ARGS = parse_args()


OPENBLAS_ENV = os.environ.get("OPENBLAS_NUM_THREADS")  # as the launcher left it
THREADS = prepare_environment(ARGS.threads, "train.py", ARGS.device)  # before `import torch`

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# ---------------------------------------------------------------------------------------
# Mesh
# ---------------------------------------------------------------------------------------

class Mesh:
    """(dp, tp) row-major over the world, TP innermost."""

    def __init__(self, tp):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if self.world % tp:
            raise ValueError("--tp %d does not divide the world size %d" % (tp, self.world))
        self.tp_size, self.dp_size = tp, self.world // tp
        self.tp_rank, self.dp_rank = self.rank % tp, self.rank // tp
        self.tp_group = self.dp_group = None
        for g in range(self.dp_size):  # every rank creates every group, same order
            grp = dist.new_group(list(range(g * tp, (g + 1) * tp)))
            if g == self.dp_rank:
                self.tp_group = grp
        for r in range(tp):
            grp = dist.new_group(list(range(r, self.world, tp)))
            if r == self.tp_rank:
                self.dp_group = grp


# ---------------------------------------------------------------------------------------
# Conjugate communication ops and the vocab-parallel cross-entropy
# ---------------------------------------------------------------------------------------

class CopyToTP(torch.autograd.Function):
    """f: identity forward, all-reduce (sum over TP) of the gradient in backward."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        all_reduce(grad, group=ctx.group)
        return grad, None


class ReduceFromTP(torch.autograd.Function):
    """g: all-reduce (sum over TP) forward, identity backward."""

    @staticmethod
    def forward(ctx, x, group):
        x = x.contiguous().clone()
        all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _gather_seq(x, group):
    """All-gather along the sequence (dim 1) over the group: (B, T/n, C) -> (B, T, C)."""
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
    all_gather(parts, x.contiguous(), group=group)
    return torch.cat(parts, dim=1)


def _reduce_scatter_seq(x, group):
    """Reduce-scatter (sum) along the sequence (dim 1) over the group: (B, T, C) -> (B, T/n, C),
    this rank's chunk of the sum."""
    chunks = [c.contiguous() for c in x.chunk(dist.get_world_size(group), dim=1)]
    out = torch.empty_like(chunks[0])
    reduce_scatter(out, chunks, group=group)
    return out


class GatherSeqToTP(torch.autograd.Function):
    """f under --sp: all-gather along the sequence forward, reduce-scatter of the gradient
    along the sequence backward (the conjugate of ReduceScatterSeqFromTP)."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _gather_seq(x, group)

    @staticmethod
    def backward(ctx, grad):
        return _reduce_scatter_seq(grad, ctx.group), None


class ReduceScatterSeqFromTP(torch.autograd.Function):
    """g under --sp: reduce-scatter (sum over TP) along the sequence forward, all-gather of
    the gradient along the sequence backward (the conjugate of GatherSeqToTP)."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _reduce_scatter_seq(x, group)

    @staticmethod
    def backward(ctx, grad):
        return _gather_seq(grad, ctx.group), None


class VocabParallelCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of logits split over TP along the vocabulary.

    logits_local (N, V_local) fp32 holds columns [vocab_start, vocab_start + V_local)."""

    @staticmethod
    def forward(ctx, logits_local, targets, vocab_start, group):
        n, v_local = logits_local.shape
        row_max = logits_local.max(dim=-1).values
        if group is not None:
            all_reduce(row_max, op=dist.ReduceOp.MAX, group=group)
        shifted = logits_local - row_max[:, None]                      # (N, V_local)
        exp = shifted.exp()
        local_t = targets - vocab_start
        mine = (local_t >= 0) & (local_t < v_local)
        local_t = local_t.clamp(0, v_local - 1)
        rows = torch.arange(n, device=logits_local.device)
        sums = torch.stack((exp.sum(dim=-1), shifted[rows, local_t] * mine))  # (2, N)
        if group is not None:
            all_reduce(sums, group=group)
        sum_exp, target_logit = sums[0], sums[1]
        loss = (sum_exp.log() - target_logit).mean()
        exp.div_(sum_exp[:, None])                                     # softmax_local, in place
        ctx.save_for_backward(exp, local_t, mine)
        return loss

    @staticmethod
    def backward(ctx, grad):
        softmax, local_t, mine = ctx.saved_tensors
        n = softmax.shape[0]
        g = softmax.clone()
        rows = torch.arange(n, device=g.device)
        g[rows, local_t] -= mine.to(g.dtype)
        g.mul_(grad / n)
        return g, None, None, None


# ---------------------------------------------------------------------------------------
# Model (local shards)
# ---------------------------------------------------------------------------------------

def rmsnorm(x, weight, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def rope_cos_sin(seq, head_dim, theta, device):
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    angle = torch.arange(seq, dtype=torch.float64)[:, None] * theta ** (-2.0 * i / head_dim)
    return angle.cos().float().to(device), angle.sin().float().to(device)   # (T, hd/2)


def apply_rope(x, cos, sin):
    """Interleaved pairs (x[..., 2i], x[..., 2i+1]) of x (B, T, H, hd) rotated."""
    b, t, h, hd = x.shape
    pairs = x.reshape(b, t, h, hd // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).reshape(b, t, h, hd)


class Norm(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))


class Attention(torch.nn.Module):
    def __init__(self, wq, wk, wv, wo, heads_local, kv_local, hd):
        super().__init__()
        self.wq, self.wk, self.wv, self.wo = (torch.nn.Parameter(w) for w in (wq, wk, wv, wo))
        self.heads_local, self.kv_local, self.hd = heads_local, kv_local, hd


class FeedForward(torch.nn.Module):
    def __init__(self, w1, w2, w3):
        super().__init__()
        self.w1, self.w2, self.w3 = (torch.nn.Parameter(w) for w in (w1, w2, w3))


class Block(torch.nn.Module):
    def __init__(self, dim, attention, feed_forward):
        super().__init__()
        self.attention_norm = Norm(dim)
        self.attention = attention
        self.ffn_norm = Norm(dim)
        self.feed_forward = feed_forward


def trunc_normal(shape, std, cut, g):
    lo = 0.5 * (1 + math.erf(-cut / math.sqrt(2)))
    hi = 0.5 * (1 + math.erf(cut / math.sqrt(2)))
    u = torch.empty(shape, dtype=torch.float64).uniform_(2 * lo - 1, 2 * hi - 1, generator=g)
    return (u.erfinv() * (std * math.sqrt(2))).clamp(-cut * std, cut * std).float()


def attention_kind(a):
    """'sdpa' or 'naive' as --attention asks ('auto': sdpa on cuda when torch has it)."""
    has = hasattr(F, "scaled_dot_product_attention")
    if a.attention == "sdpa" and not has:
        raise SystemExit("--attention sdpa needs torch >= 2.0 (this is %s)" % torch.__version__)
    if a.attention == "auto":
        return "sdpa" if (has and a.device == "cuda") else "naive"
    return a.attention


class TPTransformer(torch.nn.Module):
    """This rank's shards; parameter names as tpbench's (tok_embeddings, layers.{l}.*, ...)."""

    def __init__(self, a, mesh, device):
        super().__init__()
        tp, r = mesh.tp_size, mesh.tp_rank
        hd = a.dim // a.heads
        for what, n in (("--heads", a.heads), ("--kv-heads", a.kv_heads),
                        ("--ffn-hidden", a.ffn_hidden), ("--vocab", a.vocab)):
            if n % tp:
                raise ValueError("%s %d is not divisible by --tp %d" % (what, n, tp))
        self.mesh, self.hd, self.dim = mesh, hd, a.dim
        self.sdpa = attention_kind(a) == "sdpa"
        self.group = mesh.tp_group if tp > 1 else None
        self.sp = a.sp and tp > 1  # sequence parallel: (B, T/tp, dim) outside the TP regions
        h_l, kv_l, f_l, v_l = a.heads // tp, a.kv_heads // tp, a.ffn_hidden // tp, a.vocab // tp
        self.vocab_start = r * v_l

        g = torch.Generator().manual_seed(a.seed)

        def full(shape, std):
            return torch.randn(shape, generator=g) * std

        def rows(w, n):  # column-parallel shard: output features [r*n, (r+1)*n)
            return w[r * n:(r + 1) * n].contiguous().to(device)

        def cols(w, n):  # row-parallel shard: input features [r*n, (r+1)*n)
            return w[:, r * n:(r + 1) * n].contiguous().to(device)

        self.tok_embeddings = torch.nn.Parameter(rows(full((a.vocab, a.dim), 1.0), v_l))
        layers = []
        for l in range(a.layers):
            deep = 0.02 / math.sqrt(2 * (l + 1))
            wq = full((a.heads * hd, a.dim), 0.02)
            wk = full((a.kv_heads * hd, a.dim), 0.02)
            wv = full((a.kv_heads * hd, a.dim), 0.02)
            wo = full((a.dim, a.heads * hd), deep)
            w1 = full((a.ffn_hidden, a.dim), 0.02)
            w2 = full((a.dim, a.ffn_hidden), deep)
            w3 = full((a.ffn_hidden, a.dim), deep)
            att = Attention(rows(wq, h_l * hd), rows(wk, kv_l * hd), rows(wv, kv_l * hd),
                            cols(wo, h_l * hd), h_l, kv_l, hd)
            ff = FeedForward(rows(w1, f_l), cols(w2, f_l), rows(w3, f_l))
            layers.append(Block(a.dim, att, ff))
        self.layers = torch.nn.ModuleList(layers)
        self.norm = Norm(a.dim)
        self.output = torch.nn.Parameter(rows(trunc_normal((a.vocab, a.dim), a.dim ** -0.5, 3.0, g), v_l))
        self.to(device)
        self.cos, self.sin = rope_cos_sin(a.seq, hd, 10000.0, device)
        self.causal = torch.triu(torch.ones(a.seq, a.seq, dtype=torch.bool, device=device), 1)
        # Replicated over TP: the norm gains (gradients identical on every TP rank; under
        # --sp partial per rank until sp_reduce_norm_grads).
        self.replicated = {n for n, _ in self.named_parameters() if n.endswith("norm.weight")}

    def ordered_parameters(self):
        """[(name, parameter)] in tpbench's order: tok_embeddings, layers.*, norm.weight, output."""
        named = dict(self.named_parameters())
        order = ["tok_embeddings"] + [n for n in named if n.startswith("layers.")] + ["norm.weight", "output"]
        assert sorted(order) == sorted(named)
        return [(n, named[n]) for n in order]

    def f(self, x):
        """Into a TP region (before column-parallel layers): identity / all-reduce backward;
        --sp: all-gather along the sequence / reduce-scatter backward."""
        if self.group is None:
            return x
        return (GatherSeqToTP if self.sp else CopyToTP).apply(x, self.group)

    def g(self, x):
        """Out of a TP region (after row-parallel layers, the embedding): all-reduce /
        identity backward; --sp: reduce-scatter along the sequence / all-gather backward."""
        if self.group is None:
            return x
        return (ReduceScatterSeqFromTP if self.sp else ReduceFromTP).apply(x, self.group)

    def attention(self, att, x):
        b, t, _ = x.shape
        hd, h, kvh = self.hd, att.heads_local, att.kv_local
        q = apply_rope(F.linear(x, att.wq).view(b, t, h, hd), self.cos[:t], self.sin[:t])
        k = apply_rope(F.linear(x, att.wk).view(b, t, kvh, hd), self.cos[:t], self.sin[:t])
        v = F.linear(x, att.wv).view(b, t, kvh, hd)
        q = q.transpose(1, 2)                                             # (B, H, T, hd)
        rep = h // kvh
        # kv head j serves query heads j*rep .. j*rep+rep-1: expand, no copy until reshape.
        k = k.transpose(1, 2)[:, :, None].expand(b, kvh, rep, t, hd).reshape(b, h, t, hd)
        v = v.transpose(1, 2)[:, :, None].expand(b, kvh, rep, t, hd).reshape(b, h, t, hd)
        if self.sdpa:  # PyTorch's fused causal attention (no (T, T) scores kept)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # (B, H, T, hd)
        else:
            scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # (B, H, T, T)
            scores = scores.masked_fill(self.causal[:t, :t], float("-inf"))
            y = torch.matmul(torch.softmax(scores, dim=-1), v)            # (B, H, T, hd)
        return F.linear(y.transpose(1, 2).reshape(b, t, h * hd), att.wo)  # partial sum over TP

    def forward(self, tokens, targets):
        """tokens, targets (B, T) -> mean cross-entropy (the same value on every TP rank)."""
        v_l = self.tok_embeddings.shape[0]
        local = tokens - self.vocab_start
        outside = (local < 0) | (local >= v_l)
        x = F.embedding(local.clamp(0, v_l - 1), self.tok_embeddings)
        x = self.g(x.masked_fill(outside[..., None], 0.0))   # (B, T, dim); --sp: (B, T/tp, dim)
        for blk in self.layers:
            h = x + self.g(self.attention(blk.attention, self.f(rmsnorm(x, blk.attention_norm.weight))))
            ff, hn = blk.feed_forward, self.f(rmsnorm(h, blk.ffn_norm.weight))
            x = h + self.g(F.linear(F.silu(F.linear(hn, ff.w1)) * F.linear(hn, ff.w3), ff.w2))
        logits = F.linear(self.f(rmsnorm(x, self.norm.weight)), self.output)  # (B, T, V_local), all T
        return VocabParallelCrossEntropy.apply(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), self.vocab_start, self.group)


# ---------------------------------------------------------------------------------------
# Gradient synchronisation, clipping, optimizer
# ---------------------------------------------------------------------------------------

BUCKET_BYTES = 25 * 1024 * 1024


def make_buckets(params):
    """Parameters in reverse order (as DDP), grouped into buckets of ~25 MB."""
    buckets, cur, size = [], [], 0
    for p in reversed(params):
        cur.append(p)
        size += p.numel() * p.element_size()
        if size >= BUCKET_BYTES:
            buckets.append(cur)
            cur, size = [], 0
    if cur:
        buckets.append(cur)
    return buckets


def dp_average(buckets, mesh):
    if mesh.dp_size == 1:
        return
    for bucket in buckets:
        flat = torch.cat([p.grad.reshape(-1) for p in bucket])
        all_reduce(flat, group=mesh.dp_group)
        flat.div_(mesh.dp_size)
        off = 0
        for p in bucket:
            n = p.numel()
            p.grad.copy_(flat[off:off + n].view_as(p.grad))
            off += n


def sp_reduce_norm_grads(replicated, mesh):
    """--sp: each TP rank's norm gains saw only its sequence positions; one all-reduce (SUM)
    over TP of all their gradients, flattened, makes them the full gradients on every rank."""
    flat = torch.cat([p.grad.reshape(-1) for p in replicated])
    all_reduce(flat, group=mesh.tp_group)
    off = 0
    for p in replicated:
        n = p.numel()
        p.grad.copy_(flat[off:off + n].view_as(p.grad))
        off += n


def clip_grad_norm(sharded, replicated, max_norm, mesh):
    """Global norm counting replicated params once; scales grads in place; returns norm."""
    dev = (sharded or replicated)[0].device
    sq = torch.zeros((), dtype=torch.float32, device=dev)
    for p in sharded:
        sq = sq + p.grad.pow(2).sum()
    if mesh.tp_size > 1 and sharded:
        all_reduce(sq, group=mesh.tp_group)
    for p in replicated:
        sq = sq + p.grad.pow(2).sum()
    norm = sq.sqrt()
    if max_norm > 0:
        coef = (max_norm / (norm + 1e-6)).clamp(max=1.0)
        for p in sharded + replicated:
            p.grad.mul_(coef)
    return norm


def lr_lambda(warmup, iters):
    def fn(i):
        if i < warmup:
            return (i + 1) / warmup
        progress = (i - warmup) / max(1, iters - 1 - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return fn


# ---------------------------------------------------------------------------------------
# Training loop and report
# ---------------------------------------------------------------------------------------

def make_data(a, mesh, device):
    """(iters, batch, seq+1) tokens of this DP rank, sliced from each iteration's global batch."""
    g = torch.Generator().manual_seed(a.seed + 1)
    rows = slice(mesh.dp_rank * a.batch, (mesh.dp_rank + 1) * a.batch)
    out = [torch.randint(0, a.vocab, (a.batch * mesh.dp_size, a.seq + 1), generator=g)[rows]
           for _ in range(a.iters)]
    return torch.stack(out).to(device)


def autocast(a):
    """bf16: autocast around forward + loss; fp32: nothing."""
    if a.dtype == "bf16":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(a, mesh, device):
    model = TPTransformer(a, mesh, device)
    named = model.ordered_parameters()
    params = [p for _, p in named]
    sharded = [p for n, p in named if n not in model.replicated or mesh.tp_size == 1]
    replicated = [p for n, p in named if n in model.replicated and mesh.tp_size > 1]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    kw = dict(lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        kw["foreach"] = True
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], **kw)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(a.warmup_iters, a.iters))
    buckets = make_buckets(params)
    data = make_data(a, mesh, device)

    n_timed = a.iters - a.warmup_iters
    clock = StepClock(device, n_timed, 3)
    losses = torch.zeros(a.iters, dtype=torch.float32, device=device)
    norms = torch.zeros(a.iters, dtype=torch.float32, device=device)

    if device.type == "cuda":  # NCCL sets up a group's communicator at its first collective
        for group in (mesh.tp_group, mesh.dp_group):
            all_reduce(torch.zeros(1, device=device), group=group)
    barrier()
    for i in range(a.iters):
        tokens, targets = data[i, :, :-1], data[i, :, 1:]
        j = i - a.warmup_iters  # timed iteration j >= 0
        if j >= 0:
            clock.sync()
            barrier()
            clock.sync()
            clock.mark(j, 0)
        with autocast(a):
            loss = model(tokens, targets)
        if j >= 0:
            clock.mark(j, 1)
        loss.backward()
        if model.sp:
            sp_reduce_norm_grads(replicated, mesh)  # before the DP average and clipping
        dp_average(buckets, mesh)
        if j >= 0:
            clock.mark(j, 2)
        norms[i] = clip_grad_norm(sharded, replicated, a.grad_clip, mesh).detach()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if j >= 0:
            clock.mark(j, 3)
            clock.sync()
        losses[i] = loss.detach()
    clock.sync()
    times = clock.seconds()
    if mesh.dp_size > 1:
        all_reduce(losses, group=mesh.dp_group)
        losses.div_(mesh.dp_size)
    n_local = sum(p.numel() for p in params)
    return times, losses.cpu(), norms.cpu(), n_local


def full_param_count(a):
    """Parameters of the whole (unsharded) model."""
    hd = a.dim // a.heads
    per_layer = 2 * a.dim + 2 * a.dim * a.heads * hd + 2 * a.dim * a.kv_heads * hd + 3 * a.dim * a.ffn_hidden
    return 2 * a.vocab * a.dim + a.layers * per_layer + a.dim


def summarize(all_times, a, dp):
    """all_times: (world, n_timed, 3) seconds -> summary in milliseconds."""
    step_per_rank = all_times.sum(dim=2)
    step = step_per_rank.max(dim=0).values.tolist()
    med = statistics.median(step)
    out = {"step_ms": {"median": med * 1e3, "p95": percentile(step, 0.95) * 1e3,
                       "min": min(step) * 1e3, "max": max(step) * 1e3}}
    for j, name in enumerate(("forward_ms", "backward_ms", "optimizer_ms")):
        per_rank = [statistics.median(all_times[r, :, j].tolist()) * 1e3 for r in range(all_times.shape[0])]
        out[name] = {"min": min(per_rank), "median": statistics.median(per_rank), "max": max(per_rank)}
    out["tokens_per_s"] = a.batch * dp * a.seq / med if med > 0 else float("inf")
    out["per_rank_step_median_ms"] = [statistics.median(step_per_rank[r].tolist()) * 1e3
                                      for r in range(all_times.shape[0])]
    return out


def main():
    a = ARGS
    place = init_distributed(a.device, THREADS, "train.py")
    if place is None:
        return 2
    device = place.device
    try:
        mesh = Mesh(a.tp)
        times, losses, norms, n_local = train(a, mesh, device)
    except ValueError as e:
        if dist.get_rank() == 0:
            sys.stderr.write("train.py: %s\n" % e)
        dist.destroy_process_group()
        return 2

    world = mesh.world
    gathered = gather_cpu(times, device)

    status = 0
    if mesh.rank == 0:
        s = summarize(torch.stack(gathered), a, mesh.dp_size)
        config = {k: getattr(a, k) for k in ("dim", "layers", "heads", "kv_heads", "ffn_hidden", "vocab",
                                             "seq", "batch", "iters", "warmup_iters", "lr",
                                             "weight_decay", "grad_clip", "seed", "tp", "sp", "device")}
        config.update(dp=mesh.dp_size, world_size=world, timed_iters=a.iters - a.warmup_iters,
                      params=full_param_count(a), params_local_rank0=n_local, torch_version=torch.__version__, backend=place.backend,
                      threads_per_rank=THREADS, openblas_num_threads_env=OPENBLAS_ENV,
                      dtype=a.dtype, comm_backend=place.comm_backend, gpu_name=place.gpu_name,
                      tf32=place.tf32_text, attention=attention_kind(a))
        ls = losses.tolist()
        print("tpbench torch train: dim %d layers %d heads %d kv %d ffn %d vocab %d seq %d batch %d/dp-rank; "
              "world %d = dp %d x tp %d%s; %s; torch %s; threads/rank %d; %d params (%d on rank 0)"
              % (a.dim, a.layers, a.heads, a.kv_heads, a.ffn_hidden, a.vocab, a.seq, a.batch, world,
                 mesh.dp_size, mesh.tp_size, " (sp)" if a.sp else "", a.device, torch.__version__, THREADS,
                 full_param_count(a), n_local))
        if device.type == "cuda":
            print("device: %s (%s); attention %s; %s; TF32 %s; collectives: %s"
                  % (device, place.gpu_name, attention_kind(a),
                     "bf16 autocast over forward + loss, fp32 master weights, AdamW and loss"
                     if a.dtype == "bf16" else "fp32", place.tf32_text, place.comm_text))
        print("iter  loss        grad-norm  (first %d untimed)" % a.warmup_iters)
        for i, (lv, nv) in enumerate(zip(ls, norms.tolist())):
            print("%4d  %.6f  %.4f" % (i, lv, nv))
        st = s["step_ms"]
        print("step ms: median %.3f  p95 %.3f  min %.3f  max %.3f   tokens/s %.0f"
              % (st["median"], st["p95"], st["min"], st["max"], s["tokens_per_s"]))
        for name in ("forward_ms", "backward_ms", "optimizer_ms"):
            d = s[name]
            print("    %-9s ms over ranks: min %.3f  median %.3f  max %.3f"
                  % (name[:-3], d["min"], d["median"], d["max"]))
        if not all(math.isfinite(v) for v in ls):
            sys.stderr.write("train.py: non-finite loss\n")
            status = 1
        if a.json:
            write_json(a.json, {"schema": "tpbench.torch_train/1", "config": config, "summary": s,
                                "losses": ls, "grad_norms": norms.tolist()})
    barrier()
    dist.destroy_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
