"""tpbench's Llama-style decoder as a plain torch.nn.Module: the independent reference.

Written for Debian's python3-torch 1.13 (no fused attention, no newer APIs) and kept
deliberately literal, so that it can be read against docs/DESIGN section 6:

  x   = tok_embeddings[tokens]                                          (B, T, dim)
  per layer l:
    h   = x + wo( attention( rmsnorm(x; attention_norm.weight) ) )
    x   = h + w2( silu(w1 rmsnorm(h; ffn_norm.weight)) * w3 rmsnorm(h) )
  logits = output( rmsnorm(x; norm.weight) )                            (B, T, vocab), fp32
  loss   = mean cross-entropy over all B*T positions

  rmsnorm(x; w) = x * rsqrt(mean(x^2 over the last dim) + norm_eps) * w
  attention: q = x wq^T (B, T, n_heads, hd), k = x wk^T, v = x wv^T (B, T, n_kv_heads, hd),
    hd = dim / n_heads, no biases; RoPE on q and k; query head h reads kv head
    h // (n_heads / n_kv_heads) (grouped-query); causal; scores scaled by 1/sqrt(hd).
  RoPE (Meta's Llama layout, NOT Hugging Face's rotate-half): the INTERLEAVED pairs
    (x[..., 2i], x[..., 2i+1]), i = 0 .. hd/2-1, at position t = 0 .. T-1 are rotated by
    angle t * rope_theta^(-2i/hd):  (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos).
  Every weight W is stored (out, in), y = x W^T, as nn.Linear does.

Parameter names are exactly tpbench's (named_parameters() yields them, though with
`output` second, since a module lists its own parameters before its children's;
param_shapes() and ordered_parameters() give the canonical order):
  tok_embeddings, layers.{l}.attention_norm.weight, layers.{l}.attention.{wq,wk,wv,wo},
  layers.{l}.ffn_norm.weight, layers.{l}.feed_forward.{w1,w2,w3}, norm.weight, output.

The dump format written by tpbench's model test (and by save_dump here):
  model.json  {"config": {dim, n_layers, n_heads, n_kv_heads, ffn_hidden, vocab, seq, batch,
                          norm_eps, rope_theta},
               "tensors": [{"name", "shape", "offset"}, ...]   offset in float32 elements,
               "tokens": [B*T ints], "targets": [B*T ints], "loss": float}
  weights.bin every tensor, float32 little-endian, at its offset
  grads.bin   d loss / d tensor, same layout
  logits.bin  (B, T, vocab) float32
"""

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy
import torch
import torch.nn.functional as F

CONFIG_KEYS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_hidden", "vocab", "seq",
               "batch", "norm_eps", "rope_theta")


@dataclass
class ModelConfig:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_hidden: int
    vocab: int
    seq: int
    batch: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def validate(self):
        """Raise ValueError naming the first inconsistent field."""
        for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_hidden", "vocab", "seq", "batch"):
            v = getattr(self, k)
            if not isinstance(v, int) or v < 1:
                raise ValueError("config.%s must be a positive integer, got %r" % (k, v))
        if self.dim % self.n_heads:
            raise ValueError("config.dim %d is not divisible by n_heads %d" % (self.dim, self.n_heads))
        if self.head_dim % 2:
            raise ValueError("head dim %d must be even for RoPE" % self.head_dim)
        if self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads %d is not a multiple of n_kv_heads %d"
                             % (self.n_heads, self.n_kv_heads))
        if not self.norm_eps > 0 or not self.rope_theta > 0:
            raise ValueError("norm_eps and rope_theta must be > 0, got %r, %r"
                             % (self.norm_eps, self.rope_theta))
        return self

    @staticmethod
    def from_dict(d):
        missing = [k for k in CONFIG_KEYS if k not in d]
        if missing:
            raise ValueError("config lacks %s" % ", ".join(missing))
        ints = {k: d[k] for k in CONFIG_KEYS if k not in ("norm_eps", "rope_theta")}
        for k, v in ints.items():
            if isinstance(v, float) and v.is_integer():
                ints[k] = int(v)
        return ModelConfig(norm_eps=float(d["norm_eps"]), rope_theta=float(d["rope_theta"]),
                           **ints).validate()


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------

def rmsnorm(x, weight, eps):
    """x * rsqrt(mean(x^2) + eps) * weight over the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def rope_cos_sin(seq, head_dim, theta, dtype, device=None):
    """cos, sin of angle[t, i] = t * theta^(-2i/head_dim), shapes (seq, head_dim/2).

    Computed in float64 and rounded once to `dtype`."""
    i = torch.arange(head_dim // 2, dtype=torch.float64, device=device)
    inv_freq = theta ** (-2.0 * i / head_dim)                               # (hd/2,)
    t = torch.arange(seq, dtype=torch.float64, device=device)
    angle = t[:, None] * inv_freq[None, :]                                  # (T, hd/2)
    return angle.cos().to(dtype), angle.sin().to(dtype)


def apply_rope(x, cos, sin):
    """Rotate interleaved pairs (x[..., 2i], x[..., 2i+1]) of x (B, T, H, hd).

    cos, sin: (T, hd/2). (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)."""
    b, t, h, hd = x.shape
    pairs = x.reshape(b, t, h, hd // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]                                   # (B, T, H, hd/2)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)           # (B, T, H, hd/2, 2)
    return out.reshape(b, t, h, hd)


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return rmsnorm(x, self.weight, self.eps)


class Attention(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hd = cfg.head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, hd
        self.wq = torch.nn.Parameter(torch.zeros(cfg.n_heads * hd, cfg.dim))
        self.wk = torch.nn.Parameter(torch.zeros(cfg.n_kv_heads * hd, cfg.dim))
        self.wv = torch.nn.Parameter(torch.zeros(cfg.n_kv_heads * hd, cfg.dim))
        self.wo = torch.nn.Parameter(torch.zeros(cfg.dim, cfg.n_heads * hd))

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h, kvh, hd = self.n_heads, self.n_kv_heads, self.head_dim
        q = F.linear(x, self.wq).view(b, t, h, hd)
        k = F.linear(x, self.wk).view(b, t, kvh, hd)
        v = F.linear(x, self.wv).view(b, t, kvh, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # Grouped-query: query head j reads kv head j // (h / kvh); repeat_interleave puts
        # kv head g at positions g*rep .. g*rep + rep - 1.
        rep = h // kvh
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))                   # (B, H, T, hd)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)        # (B, H, T, T)
        future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        y = torch.matmul(probs, v)                                           # (B, H, T, hd)
        y = y.transpose(1, 2).reshape(b, t, h * hd)
        return F.linear(y, self.wo)


class FeedForward(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.zeros(cfg.ffn_hidden, cfg.dim))
        self.w2 = torch.nn.Parameter(torch.zeros(cfg.dim, cfg.ffn_hidden))
        self.w3 = torch.nn.Parameter(torch.zeros(cfg.ffn_hidden, cfg.dim))

    def forward(self, x):
        return F.linear(F.silu(F.linear(x, self.w1)) * F.linear(x, self.w3), self.w2)


class Block(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, cos, sin):
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.tok_embeddings = torch.nn.Parameter(torch.zeros(cfg.vocab, cfg.dim))
        self.layers = torch.nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = torch.nn.Parameter(torch.zeros(cfg.vocab, cfg.dim))

    def forward(self, tokens, targets=None):
        """tokens (B, T) int64 -> logits (B, T, vocab) [, mean cross-entropy loss]."""
        _, t = tokens.shape
        p = self.tok_embeddings
        cos, sin = rope_cos_sin(t, self.cfg.head_dim, self.cfg.rope_theta, p.dtype, p.device)
        x = F.embedding(tokens, p)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = F.linear(self.norm(x), self.output)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


def param_shapes(cfg):
    """{name: shape} in named_parameters() order, without building a model."""
    hd = cfg.head_dim
    out = {"tok_embeddings": (cfg.vocab, cfg.dim)}
    for l in range(cfg.n_layers):
        p = "layers.%d." % l
        out[p + "attention_norm.weight"] = (cfg.dim,)
        out[p + "attention.wq"] = (cfg.n_heads * hd, cfg.dim)
        out[p + "attention.wk"] = (cfg.n_kv_heads * hd, cfg.dim)
        out[p + "attention.wv"] = (cfg.n_kv_heads * hd, cfg.dim)
        out[p + "attention.wo"] = (cfg.dim, cfg.n_heads * hd)
        out[p + "ffn_norm.weight"] = (cfg.dim,)
        out[p + "feed_forward.w1"] = (cfg.ffn_hidden, cfg.dim)
        out[p + "feed_forward.w2"] = (cfg.dim, cfg.ffn_hidden)
        out[p + "feed_forward.w3"] = (cfg.ffn_hidden, cfg.dim)
    out["norm.weight"] = (cfg.dim,)
    out["output"] = (cfg.vocab, cfg.dim)
    return out


def ordered_parameters(model):
    """[(name, parameter)] in the canonical order of param_shapes."""
    named = dict(model.named_parameters())
    return [(n, named[n]) for n in param_shapes(model.cfg)]


def init_design(model, seed):
    """DESIGN.md section 6 initialisation (not bit-equal to tpbench's): embedding std 1;
    wq, wk, wv, w1 std 0.02; wo, w2, w3 std 0.02/sqrt(2(l+1)); output truncated normal
    std dim^-1/2 (cut at 3 std); norms 1."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    with torch.no_grad():
        for name, p in ordered_parameters(model):
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name == "tok_embeddings":
                p.copy_(torch.randn(p.shape, generator=g))
            elif name == "output":
                std = cfg.dim ** -0.5
                p.copy_(trunc_normal(p.shape, std, 3.0, g))
            else:
                l = int(name.split(".")[1])
                deep = name.endswith(("wo", "w2", "w3"))
                std = 0.02 / math.sqrt(2 * (l + 1)) if deep else 0.02
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def trunc_normal(shape, std, cut, g):
    """N(0, std^2) truncated to [-cut*std, cut*std] by the inverse CDF (as nn.init does)."""
    lo = 0.5 * (1 + math.erf(-cut / math.sqrt(2)))
    hi = 0.5 * (1 + math.erf(cut / math.sqrt(2)))
    u = torch.empty(shape, dtype=torch.float64).uniform_(2 * lo - 1, 2 * hi - 1, generator=g)
    return (u.erfinv() * (std * math.sqrt(2))).clamp(-cut * std, cut * std).float()


# ---------------------------------------------------------------------------------------
# Dump format
# ---------------------------------------------------------------------------------------

class DumpError(Exception):
    """A dump that cannot be compared (missing file, wrong names or shapes, bad sizes)."""


def _read_f32(path, count):
    if not os.path.exists(path):
        raise DumpError("missing %s" % path)
    size = os.path.getsize(path)
    if size != 4 * count:
        raise DumpError("%s has %d bytes, expected %d (= 4 x %d float32)" % (path, size, 4 * count, count))
    return torch.from_numpy(numpy.fromfile(path, dtype="<f4").astype(numpy.float32))


def load_dump(dump_dir):
    """Read a dump. Returns dict(config=ModelConfig, names=[...] (file order),
    weights={name: tensor}, grads={name: tensor}, logits (B, T, V), tokens (B, T),
    targets (B, T), loss float). Raises DumpError when the dump is malformed or its tensor
    names/shapes disagree with the model's."""
    mpath = os.path.join(dump_dir, "model.json")
    try:
        with open(mpath) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise DumpError("cannot read %s: %s" % (mpath, e))
    for k in ("config", "tensors", "tokens", "targets", "loss"):
        if k not in meta:
            raise DumpError("%s lacks the key %r" % (mpath, k))
    try:
        cfg = ModelConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as e:
        raise DumpError("%s: bad config: %s" % (mpath, e))

    expected = param_shapes(cfg)
    entries = meta["tensors"]
    names = [e.get("name") for e in entries]
    problems = []
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        problems.append("duplicate tensors: %s" % ", ".join(map(str, dup)))
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if missing:
        problems.append("missing tensors: %s" % ", ".join(missing))
    if extra:
        problems.append("unexpected tensors: %s" % ", ".join(map(str, extra)))
    for e in entries:
        n = e.get("name")
        if n in expected and tuple(e.get("shape", ())) != expected[n]:
            problems.append("%s: shape %s in the dump, the model has %s"
                            % (n, list(e.get("shape", [])), list(expected[n])))
    if problems:
        raise DumpError("names/shapes disagree with the model:\n  " + "\n  ".join(problems))

    total = 0
    spans = []
    for e in entries:
        numel = math.prod(e["shape"])
        off = e.get("offset")
        if not isinstance(off, int) or off < 0:
            raise DumpError("%s: bad offset %r" % (e["name"], off))
        spans.append((off, off + numel, e["name"]))
        total = max(total, off + numel)
    spans.sort()
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            raise DumpError("tensors %s and %s overlap in the files" % (an, bn))

    wflat = _read_f32(os.path.join(dump_dir, "weights.bin"), total)
    gflat = _read_f32(os.path.join(dump_dir, "grads.bin"), total)
    weights, grads = {}, {}
    for e in entries:
        numel = math.prod(e["shape"])
        sl = slice(e["offset"], e["offset"] + numel)
        weights[e["name"]] = wflat[sl].view(*e["shape"]).clone()
        grads[e["name"]] = gflat[sl].view(*e["shape"]).clone()

    bt = cfg.batch * cfg.seq
    logits = _read_f32(os.path.join(dump_dir, "logits.bin"), bt * cfg.vocab).view(cfg.batch, cfg.seq, cfg.vocab)
    toks = {}
    for k in ("tokens", "targets"):
        v = meta[k]
        if len(v) != bt:
            raise DumpError("%s has %d entries, expected batch*seq = %d" % (k, len(v), bt))
        t = torch.tensor(v, dtype=torch.int64)
        if t.numel() and (t.min() < 0 or t.max() >= cfg.vocab):
            raise DumpError("%s outside [0, vocab=%d)" % (k, cfg.vocab))
        toks[k] = t.view(cfg.batch, cfg.seq)
    return dict(config=cfg, names=names, weights=weights, grads=grads, logits=logits,
                tokens=toks["tokens"], targets=toks["targets"], loss=float(meta["loss"]))


def save_dump(dump_dir, cfg, weights, grads, logits, tokens, targets, loss):
    """Write a dump in the format above; tensors in param_shapes order, packed."""
    os.makedirs(dump_dir, exist_ok=True)
    entries, off = [], 0
    wparts, gparts = [], []
    for name, shape in param_shapes(cfg).items():
        w, g = weights[name], grads[name]
        assert tuple(w.shape) == shape and tuple(g.shape) == shape, name
        entries.append({"name": name, "shape": list(shape), "offset": off})
        off += w.numel()
        wparts.append(w.detach().float().reshape(-1))
        gparts.append(g.detach().float().reshape(-1))

    def write(path, t):
        t.detach().float().contiguous().cpu().numpy().astype("<f4").tofile(path)

    write(os.path.join(dump_dir, "weights.bin"), torch.cat(wparts))
    write(os.path.join(dump_dir, "grads.bin"), torch.cat(gparts))
    write(os.path.join(dump_dir, "logits.bin"), logits)
    meta = {"config": asdict(cfg), "tensors": entries,
            "tokens": [int(v) for v in tokens.reshape(-1).tolist()],
            "targets": [int(v) for v in targets.reshape(-1).tolist()],
            "loss": float(loss)}
    with open(os.path.join(dump_dir, "model.json"), "w") as f:
        json.dump(meta, f)


def build_model(cfg, weights, dtype=torch.float32):
    """A Transformer holding `weights` ({name: tensor}) in `dtype`."""
    model = Transformer(cfg).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(weights[name].to(dtype))
    return model


def forward_backward(cfg, weights, tokens, targets, dtype=torch.float32):
    """logits, loss and {name: grad} of the model with `weights`, in `dtype`."""
    model = build_model(cfg, weights, dtype)
    logits, loss = model(tokens, targets)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in ordered_parameters(model)}
    return logits.detach(), loss.detach(), grads
