#!/usr/bin/env python3
"""Compare a tpbench model dump with PyTorch (tests/model/torch_reference.py).

  /usr/bin/python3 tests/model/check_against_torch.py DUMP_DIR [--rtol 1e-4]
  /usr/bin/python3 tests/model/check_against_torch.py --self-test OUTDIR

DUMP_DIR holds model.json, weights.bin, grads.bin and logits.bin (format in
torch_reference.py). The script loads the weights into the reference model and computes the
logits, the loss and every parameter gradient with autograd, twice:

  * in float64: THE REFERENCE. Every error below is tpbench (float32) vs float64 torch, so
    it measures tpbench's own error and not the sum of two float32 roundings;
  * in float32: printed beside it (column "torch32") as the scale of error a correct
    float32 implementation shows; not used for pass/fail.

Error of a tensor = max |tpbench - ref| / max |ref| (norm-wise: robust to elements that
cancel to ~0, where an element-wise relative error means nothing); loss: |a - b| / |b|.
Prints a table; exit 0 if every relative error <= rtol, 1 if any is larger, or if the dump
is malformed or its tensor names/shapes disagree with the model (message says which).

--self-test OUTDIR: (1) checks on a tiny config that the reference's RoPE is the
interleaved one (against pairs viewed as complex numbers times e^{i angle}, and that it
differs from Hugging Face's rotate-half) and that grouped-query attention maps query head h
to kv head h // (n_heads / n_kv_heads) (against a per-head loop); (2) writes a dump made by
torch itself in float32 (dim 16, 2 layers, 4 heads, 2 kv heads, ffn 24, vocab 32, seq 8,
batch 2, weights N(0, 0.1), norm gains 1 + N(0, 0.1)) and checks that it passes; (3) that a
copy with one gradient element perturbed by 100*rtol*max|grad| fails, and so does a dump
made with rotate-half RoPE from the same weights; (4) that copies with a
renamed tensor and with a wrong shape are rejected. Exit 0 if all of these hold.
"""

import argparse
import json
import math
import os
import shutil
import sys

import numpy
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def normwise(got, want):
    """(max abs error, max|got - want| / max|want|)."""
    got, want = got.double(), want.double()
    diff = (got - want).abs().max().item() if want.numel() else 0.0
    scale = want.abs().max().item() if want.numel() else 0.0
    if not math.isfinite(diff):
        return float("inf"), float("inf")
    return diff, (diff / scale if scale > 0 else diff)


def check(dump_dir, rtol, out=sys.stdout):
    """Returns 0 (all within rtol) or 1."""
    try:
        d = ref.load_dump(dump_dir)
    except ref.DumpError as e:
        print("check_against_torch: %s: %s" % (dump_dir, e), file=out)
        return 1
    cfg = d["config"]
    torch.manual_seed(0)  # nothing random is used; set for reproducibility anyway
    lg64, loss64, g64 = ref.forward_backward(cfg, d["weights"], d["tokens"], d["targets"], torch.float64)
    lg32, loss32, g32 = ref.forward_backward(cfg, d["weights"], d["tokens"], d["targets"], torch.float32)

    rows = []  # (name, max|ref|, abs err, rel err, torch32 rel err)
    lref = loss64.item()
    labs = abs(d["loss"] - lref)
    rows.append(("loss", abs(lref), labs, labs / abs(lref) if lref else labs,
                 abs(loss32.item() - lref) / abs(lref) if lref else 0.0))
    a, r = normwise(d["logits"], lg64)
    rows.append(("logits", lg64.abs().max().item(), a, r, normwise(lg32, lg64)[1]))
    for name in ref.param_shapes(cfg):
        a, r = normwise(d["grads"][name], g64[name])
        rows.append(("grad " + name, g64[name].abs().max().item(), a, r, normwise(g32[name], g64[name])[1]))

    print("check_against_torch: %s  dim %d layers %d heads %d kv %d ffn %d vocab %d seq %d batch %d"
          % (dump_dir, cfg.dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.ffn_hidden,
             cfg.vocab, cfg.seq, cfg.batch), file=out)
    print("reference: torch %s float64; error = max|tpbench - ref| / max|ref|; torch32 = "
          "float32 torch's own error, for scale" % torch.__version__, file=out)
    w = max(len(r[0]) for r in rows)
    print("%-*s %12s %12s %12s %12s" % (w, "name", "max|ref|", "max abs err", "rel err", "torch32"), file=out)
    bad = []
    for name, scale, aerr, rerr, t32 in rows:
        flag = "" if rerr <= rtol else "  FAIL"
        if flag:
            bad.append(name)
        print("%-*s %12.4e %12.4e %12.4e %12.4e%s" % (w, name, scale, aerr, rerr, t32, flag), file=out)
    worst = max(rows, key=lambda r: r[3])
    if bad:
        print("FAIL: %d of %d above rtol %.1e (worst %s: %.3e)" % (len(bad), len(rows), rtol, worst[0], worst[3]), file=out)
        return 1
    print("PASS: all %d within rtol %.1e (worst %s: %.3e)" % (len(rows), rtol, worst[0], worst[3]), file=out)
    return 0


# ---------------------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------------------

TINY = dict(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, ffn_hidden=24, vocab=32, seq=8,
            batch=2, norm_eps=1e-5, rope_theta=10000.0)


def rope_complex(x, theta):
    """RoPE as Meta writes it: pairs (x[2i], x[2i+1]) as complex numbers times e^{i angle}."""
    b, t, h, hd = x.shape
    i = torch.arange(hd // 2, dtype=torch.float64)
    angle = torch.arange(t, dtype=torch.float64)[:, None] * theta ** (-2.0 * i / hd)  # (T, hd/2)
    rot = torch.polar(torch.ones_like(angle), angle)                                    # e^{i angle}
    xc = torch.view_as_complex(x.double().reshape(b, t, h, hd // 2, 2).contiguous())
    return torch.view_as_real(xc * rot[None, :, None, :]).reshape(b, t, h, hd)


def rope_rotate_half(x, theta):
    """Hugging Face's layout (pairs (x[i], x[i + hd/2])): must NOT match."""
    b, t, h, hd = x.shape
    cos, sin = ref.rope_cos_sin(t, hd, theta, torch.float64)
    cos = torch.cat((cos, cos), -1)[None, :, None, :]
    sin = torch.cat((sin, sin), -1)[None, :, None, :]
    x = x.double()
    rot = torch.cat((-x[..., hd // 2:], x[..., :hd // 2]), -1)
    return x * cos + rot * sin


def attention_loop(att, x, cos, sin):
    """Attention with an explicit loop over batch and query heads (kv head = h // rep)."""
    b, t, _ = x.shape
    hd, h, kvh = att.head_dim, att.n_heads, att.n_kv_heads
    q = ref.apply_rope((x @ att.wq.T).view(b, t, h, hd), cos, sin)
    k = ref.apply_rope((x @ att.wk.T).view(b, t, kvh, hd), cos, sin)
    v = (x @ att.wv.T).view(b, t, kvh, hd)
    y = torch.zeros(b, t, h, hd, dtype=x.dtype)
    for bi in range(b):
        for j in range(h):
            g = j // (h // kvh)
            for ti in range(t):
                s = torch.stack([q[bi, ti, j] @ k[bi, u, g] for u in range(ti + 1)]) / math.sqrt(hd)
                p = torch.softmax(s, 0)
                y[bi, ti, j] = sum(p[u] * v[bi, u, g] for u in range(ti + 1))
    return y.reshape(b, t, h * hd) @ att.wo.T


def make_tiny(seed=1234):
    cfg = ref.ModelConfig(**TINY).validate()
    g = torch.Generator().manual_seed(seed)
    weights = {}
    for name, shape in ref.param_shapes(cfg).items():
        w = torch.randn(shape, generator=g) * 0.1
        weights[name] = w + 1.0 if name.endswith("norm.weight") else w
    tokens = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq), generator=g)
    targets = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq), generator=g)
    return cfg, weights, tokens, targets


def edit_model_json(dump_dir, fn):
    p = os.path.join(dump_dir, "model.json")
    with open(p) as f:
        meta = json.load(f)
    fn(meta)
    with open(p, "w") as f:
        json.dump(meta, f)


def self_test(outdir, rtol):
    results = []

    def report(what, ok, detail=""):
        results.append(ok)
        print("self-test %-58s %s%s" % (what, "ok" if ok else "FAILED", "  (" + detail + ")" if detail else ""))

    cfg, weights, tokens, targets = make_tiny()

    # (1) RoPE is interleaved; GQA mapping.
    g = torch.Generator().manual_seed(7)
    x = torch.randn(cfg.batch, cfg.seq, cfg.n_heads, cfg.head_dim, generator=g, dtype=torch.float64)
    cos, sin = ref.rope_cos_sin(cfg.seq, cfg.head_dim, cfg.rope_theta, torch.float64)
    mine = ref.apply_rope(x, cos, sin)
    e_c = (mine - rope_complex(x, cfg.rope_theta)).abs().max().item()
    e_h = (mine - rope_rotate_half(x, cfg.rope_theta)).abs().max().item()
    report("RoPE == complex-number interleaved RoPE (float64)", e_c < 1e-12, "max diff %.2e" % e_c)
    report("RoPE != rotate-half RoPE (the check can tell them apart)", e_h > 1e-2, "max diff %.2e" % e_h)
    model = ref.build_model(cfg, weights, torch.float64)
    att = model.layers[0].attention
    xa = torch.randn(cfg.batch, cfg.seq, cfg.dim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        e_a = (att(xa, cos, sin) - attention_loop(att, xa, cos, sin)).abs().max().item()
    report("attention == per-head loop (causal, GQA h -> h // rep)", e_a < 1e-12, "max diff %.2e" % e_a)

    # (2) A dump made by torch (float32) passes.
    good = os.path.join(outdir, "good")
    logits, loss, grads = ref.forward_backward(cfg, weights, tokens, targets, torch.float32)
    ref.save_dump(good, cfg, weights, grads, logits, tokens, targets, loss.item())
    report("float32 torch dump passes at rtol %.0e" % rtol, check(good, rtol) == 0)

    # (3) One perturbed gradient element fails.
    bad = os.path.join(outdir, "perturbed")
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(good, bad)
    with open(os.path.join(good, "model.json")) as f:
        meta = json.load(f)
    ent = next(e for e in meta["tensors"] if e["name"] == "layers.1.attention.wk")
    gflat = numpy.fromfile(os.path.join(good, "grads.bin"), dtype="<f4")
    numel = math.prod(ent["shape"])
    seg = gflat[ent["offset"]:ent["offset"] + numel]
    idx = ent["offset"] + 5
    gflat[idx] += 100 * rtol * float(numpy.abs(seg).max())
    gflat.astype("<f4").tofile(os.path.join(bad, "grads.bin"))
    report("perturbed grad (layers.1.attention.wk[5] += 100*rtol*max) fails", check(bad, rtol) == 1)

    # (3b) A dump from a model with Hugging Face's rotate-half RoPE fails (same weights).
    hf = os.path.join(outdir, "rotate_half")
    saved = ref.apply_rope

    def apply_rope_half(x, cos, sin):
        h2 = x.shape[-1] // 2
        c, s = torch.cat((cos, cos), -1)[None, :, None, :], torch.cat((sin, sin), -1)[None, :, None, :]
        return x * c + torch.cat((-x[..., h2:], x[..., :h2]), -1) * s
    ref.apply_rope = apply_rope_half
    try:
        lg_h, loss_h, gr_h = ref.forward_backward(cfg, weights, tokens, targets, torch.float32)
    finally:
        ref.apply_rope = saved
    ref.save_dump(hf, cfg, weights, gr_h, lg_h, tokens, targets, loss_h.item())
    report("rotate-half RoPE dump fails", check(hf, rtol) == 1)

    # (4) Names and shapes that disagree are rejected.
    ren = os.path.join(outdir, "renamed")
    shutil.rmtree(ren, ignore_errors=True)
    shutil.copytree(good, ren)

    def rename(m):
        m["tensors"][1]["name"] = "layers.0.attn_norm.weight"
    edit_model_json(ren, rename)
    report("renamed tensor rejected", check(ren, rtol) == 1)

    shp = os.path.join(outdir, "reshaped")
    shutil.rmtree(shp, ignore_errors=True)
    shutil.copytree(good, shp)

    def reshape(m):
        e = next(e for e in m["tensors"] if e["name"] == "layers.0.attention.wk")
        e["shape"] = list(reversed(e["shape"]))  # (8, 16) -> (16, 8): same size, wrong layout
    edit_model_json(shp, reshape)
    report("transposed shape rejected", check(shp, rtol) == 1)

    ok = all(results)
    print("self-test: %s (%d/%d)" % ("PASS" if ok else "FAIL", sum(results), len(results)))
    return 0 if ok else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dump_dir", nargs="?", help="directory written by tpbench's model dumper")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="fail if any max|tpbench - ref| / max|ref| exceeds this (default 1e-4)")
    p.add_argument("--self-test", metavar="OUTDIR", default=None,
                   help="write torch-made dumps under OUTDIR and check pass/fail behaviour")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.self_test:
        os.makedirs(a.self_test, exist_ok=True)
        return self_test(a.self_test, a.rtol)
    if not a.dump_dir:
        p.error("give DUMP_DIR or --self-test OUTDIR")
    return check(a.dump_dir, a.rtol)


if __name__ == "__main__":
    sys.exit(main())
