#!/usr/bin/env python3
"""Checks tpbench's Hugging Face export against Hugging Face transformers itself.

Run it with the venv that scripts/setup.sh makes (transformers 4.44.2 on Debian's torch 1.13):

    .venv-hf/bin/python tests/checkpoint/hf_check.py SUBCOMMAND ...

Everything is fp32 and deterministic (torch.manual_seed where anything is random).

Subcommands
-----------
loss --model DIR --tokens FILE [--seq S]
    Loads DIR (config.json + model.safetensors) with
    LlamaForCausalLM.from_pretrained(DIR, torch_dtype=torch.float32, attn_implementation="eager")
    and evaluates it (model.eval(), no grad) on one sequence. FILE is raw little-endian uint16
    tokens holding exactly S+1 tokens; S defaults to len(FILE)-1, and with --seq a file of any
    other length is an error. inputs = tokens[0:S], targets = tokens[1:S+1], batch of 1. The loss
    is the mean cross-entropy of the fp32 logits against the targets, computed here with
    torch.nn.functional.cross_entropy (no labels= to the model, so HF's own shift is not used).
    Prints one JSON line: {"loss": <float, full precision>, "tokens": S}.

make --out DIR --vocab V --dim D --layers L --heads H --kv-heads KV --ffn-hidden F --seq S
     --norm-eps E --rope-theta T --seed N [--init-std X]
    Builds a LlamaConfig with those sizes (SiLU, untied embeddings, no biases,
    initializer_range=X, default 0.02), seeds torch with N and makes LlamaForCausalLM(config) in
    fp32 with HF's own initialisation. HF sets every RMSNorm weight to exactly 1, which would hide
    a norm weight that an importer drops or misplaces, so each element of every norm weight
    (input_layernorm, post_attention_layernorm, model.norm) is then multiplied by its own factor
    drawn uniformly from [0.5, 1.5] (same seeded generator). Saves with
    save_pretrained(DIR, safe_serialization=True) and checks that DIR holds config.json and one
    unsharded model.safetensors whose tensors are all fp32. Prints {"saved": DIR}.

compare --a DIR1 --b DIR2 [--rtol R] [--atol A]
    Loads DIR1/model.safetensors and DIR2/model.safetensors (a path to a .safetensors file also
    works) with safetensors.torch.load_file and prints, per tensor name, the largest elementwise
    relative difference |a-b| / max(|a|, |b|) (0 where both are 0). Exits 1 if a name is in one
    file only, shapes or dtypes differ, or any element has |a-b| > A + R max(|a|, |b|) (defaults
    0: bit-exact).
    The last line is a JSON summary. A helper for debugging round trips.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM


def fail(message):
    print(f"hf_check: {message}", file=sys.stderr)
    sys.exit(1)


def safetensors_path(path):
    if os.path.isdir(path):
        return os.path.join(path, "model.safetensors")
    return path


# ---------------------------------------------------------------------------------------------
# loss
# ---------------------------------------------------------------------------------------------
def cmd_loss(args):
    tokens = np.fromfile(args.tokens, dtype="<u2")
    if args.seq is None:
        if len(tokens) < 2:
            fail(f"{args.tokens}: {len(tokens)} tokens, need at least 2")
        seq = len(tokens) - 1
    else:
        seq = args.seq
        if len(tokens) != seq + 1:
            fail(f"{args.tokens}: {len(tokens)} tokens, expected --seq + 1 = {seq + 1}")

    model = LlamaForCausalLM.from_pretrained(
        args.model, torch_dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    if int(tokens.max()) >= model.config.vocab_size:
        fail(f"token {int(tokens.max())} out of range for vocab_size {model.config.vocab_size}")

    ids = torch.from_numpy(tokens.astype(np.int64))
    inputs = ids[0:seq].unsqueeze(0)  # [1, S]
    targets = ids[1 : seq + 1].unsqueeze(0)  # [1, S]
    with torch.no_grad():
        logits = model(input_ids=inputs, use_cache=False).logits  # [1, S, V]
        if logits.dtype != torch.float32:
            fail(f"logits are {logits.dtype}, expected float32")
        loss = F.cross_entropy(logits.reshape(seq, -1), targets.reshape(seq), reduction="mean")

    print(json.dumps({"loss": loss.item(), "tokens": seq}))


# ---------------------------------------------------------------------------------------------
# make
# ---------------------------------------------------------------------------------------------
def cmd_make(args):
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.dim,
        intermediate_size=args.ffn_hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.seq,
        rms_norm_eps=args.norm_eps,
        rope_theta=args.rope_theta,
        hidden_act="silu",
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        initializer_range=args.init_std,
        torch_dtype="float32",
    )

    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(config).to(torch.float32)

    # Scale every RMSNorm weight (HF initialises them to 1) elementwise by U[0.5, 1.5].
    norm_names = []
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                param.mul_(0.5 + torch.rand(param.shape, dtype=torch.float32))
                norm_names.append(name)
    if len(norm_names) != 2 * args.layers + 1:
        fail(f"found {len(norm_names)} norm weights, expected {2 * args.layers + 1}")

    model.save_pretrained(args.out, safe_serialization=True)

    weights = os.path.join(args.out, "model.safetensors")
    for required in ("config.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(args.out, required)):
            fail(f"{args.out}: save_pretrained wrote no {required}")
    if os.path.exists(os.path.join(args.out, "model.safetensors.index.json")):
        fail(f"{args.out}: save_pretrained sharded the model; expected one model.safetensors")
    saved = load_file(weights)
    wrong = [name for name, t in saved.items() if t.dtype != torch.float32]
    if wrong:
        fail(f"{weights}: not float32: {', '.join(wrong)}")
    expected = set(name for name, _ in model.named_parameters())
    if set(saved) != expected:
        fail(f"{weights}: tensor names {sorted(set(saved) ^ expected)} differ from the model's")

    print(json.dumps({"saved": args.out}))


# ---------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------
def max_relative_difference(a, b):
    a = a.to(torch.float64)
    b = b.to(torch.float64)
    diff = (a - b).abs()
    scale = torch.maximum(a.abs(), b.abs())
    rel = torch.where(scale > 0, diff / torch.where(scale > 0, scale, torch.ones_like(scale)), diff)
    return rel.max().item() if rel.numel() else 0.0


def cmd_compare(args):
    path_a = safetensors_path(args.a)
    path_b = safetensors_path(args.b)
    a = load_file(path_a)
    b = load_file(path_b)

    ok = True
    worst = 0.0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"MISSING  {name}: only in {path_a if name in a else path_b}")
            ok = False
            continue
        ta, tb = a[name], b[name]
        if ta.shape != tb.shape or ta.dtype != tb.dtype:
            print(
                f"MISMATCH {name}: {tuple(ta.shape)} {ta.dtype} vs {tuple(tb.shape)} {tb.dtype}"
            )
            ok = False
            continue
        rel = max_relative_difference(ta, tb)
        worst = max(worst, rel)
        # An element passes when |a - b| <= atol + rtol * max(|a|, |b|).
        diff = (ta.double() - tb.double()).abs()
        bound = args.atol + args.rtol * torch.maximum(ta.double().abs(), tb.double().abs())
        good = bool((diff <= bound).all())
        status = "ok" if good else "DIFFERS"
        ok = ok and good
        print(f"{status:8} {name} {tuple(ta.shape)} max_rel={rel!r} max_abs={float(diff.max()) if diff.numel() else 0.0!r}")

    print(
        json.dumps(
            {"tensors": len(set(a) | set(b)), "max_rel": worst, "rtol": args.rtol, "atol": args.atol, "ok": ok}
        )
    )
    sys.exit(0 if ok else 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("loss", help="HF loss of an exported model on a uint16 token file")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--seq", type=int)
    p.set_defaults(func=cmd_loss)

    p = sub.add_parser("make", help="save a seeded random HF Llama as safetensors")
    p.add_argument("--out", required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--ffn-hidden", type=int, required=True)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--norm-eps", type=float, required=True)
    p.add_argument("--rope-theta", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--init-std", type=float, default=0.02)
    p.set_defaults(func=cmd_make)

    p = sub.add_parser("compare", help="max relative difference per tensor of two exports")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--rtol", type=float, default=0.0)
    p.add_argument("--atol", type=float, default=0.0)
    p.set_defaults(func=cmd_compare)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
