#!/usr/bin/env python3
"""tpbench's checkpoints against Hugging Face transformers' LlamaForCausalLM (an independent
implementation of the whole model), both ways:

1. export: a model trained by tpbench at tp 2 x dp 1, exported with `tpbench export`, loaded by
   LlamaForCausalLM, gives the loss `tpbench eval` gives on the same tokens (at tp 2 and tp 1),
   within 1e-4 relative (fp32).
2. import: weights made by LlamaForCausalLM with a random init (norm weights scaled randomly, GQA
   with 2 KV heads) give HF's loss in `tpbench eval --weights` (tp 1, tp 2) and as the first loss
   of `tpbench train --init-from` (tp 2), within 1e-4 relative.
3. both: those weights imported (tp 2 x dp 2, FSDP), saved and exported again equal HF's tensors
   element by element (within one AdamW step at lr 1e-9).

The tokens are one raw uint16 file of seq + 1 tokens, so every tpbench row reads the same window
(the only one), as HF does. Usage: hf_roundtrip_test.py TPBENCH WORKDIR (run with .venv-hf's python).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RTOL = 1e-4


def run(args, expect=0):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    if p.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)} exited {p.returncode}, expected {expect}:\n{p.stdout}")
    return p.stdout


def hf(*args):
    out = run([sys.executable, os.path.join(HERE, "hf_check.py"), *args])
    return json.loads(out.strip().splitlines()[-1])


def close(what, a, b):
    rel = abs(a - b) / max(abs(a), abs(b))
    print(f"{what}: tpbench {a!r}  HF {b!r}  rel {rel:.2e}")
    if not rel <= RTOL:
        sys.exit(f"FAIL: {what}: relative difference {rel:.3e} > {RTOL}")


def main():
    tpbench, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    seq, vocab = 16, 64  # the tiny preset's
    tokens = os.path.join(work, "tokens.bin")
    np.random.RandomState(11).randint(0, vocab, seq + 1).astype("<u2").tofile(tokens)
    data = ["--data", "tokens", "--data-path", tokens, "--data-dtype", "uint16"]
    out = os.path.join(work, "out")

    # 1. tpbench -> HF
    ckpt = os.path.join(work, "ckpt")
    run([tpbench, "--nproc", "2", "train", "--preset", "tiny", "--tp", "2", "--iters", "6", "--save-dir", ckpt,
         "--out", out, "--no-plots"])
    exported = os.path.join(work, "exported")
    print(run([tpbench, "export", ckpt, "--format", "safetensors", "--out", exported]).strip())
    refused = run([tpbench, "export", ckpt, "--out", exported], expect=2)
    assert "exists already" in refused, refused
    hf_loss = hf("loss", "--model", exported, "--tokens", tokens, "--seq", str(seq))["loss"]
    for tp in ("2", "1"):
        res = os.path.join(work, f"eval-tp{tp}.json")
        run([tpbench, "--nproc", tp, "eval", "--checkpoint", ckpt, "--tp", tp, "--batches", "2", "--batch", "1",
             *data, "--json", res])
        with open(res) as f:
            close(f"export, eval at tp {tp}", json.load(f)["loss"], hf_loss)

    # 2. HF -> tpbench
    made = os.path.join(work, "hf-made")
    hf("make", "--out", made, "--vocab", str(vocab), "--dim", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2",
       "--ffn-hidden", "48", "--seq", str(seq), "--norm-eps", "1e-5", "--rope-theta", "10000", "--seed", "5",
       "--init-std", "0.1")
    hf_loss = hf("loss", "--model", made, "--tokens", tokens, "--seq", str(seq))["loss"]
    weights = os.path.join(made, "model.safetensors")
    for tp in ("1", "2"):
        res = os.path.join(work, f"eval-hf-tp{tp}.json")
        run([tpbench, "--nproc", tp, "eval", "--weights", weights, "--tp", tp, "--batches", "1", *data, "--json", res])
        with open(res) as f:
            close(f"HF weights, eval at tp {tp}", json.load(f)["loss"], hf_loss)
    res = os.path.join(work, "init-from.json")
    run([tpbench, "--nproc", "2", "train", "--init-from", weights, "--tp", "2", "--iters", "2", "--warmup-iters", "0",
         "--batch", "1", *data, "--out", out, "--json", res, "--no-plots"])
    with open(res) as f:
        close("HF weights, first loss of train --init-from at tp 2", json.load(f)["losses"][0], hf_loss)
    # 3. HF -> tpbench -> HF: every tensor back in HF's names and row order. One AdamW step at
    # lr 1e-9 (no decay, no clipping) moves each weight by at most ~1e-9; a misplaced row or
    # element moves it by ~0.1.
    ckpt2 = os.path.join(work, "ckpt-from-hf")
    run([tpbench, "--nproc", "4", "train", "--init-from", weights, "--tp", "2", "--dp-shard", "full", "--iters", "1",
         "--warmup-iters", "0", "--batch", "1", "--lr", "1e-9", "--weight-decay", "0", "--grad-clip", "0", *data,
         "--save-dir", ckpt2, "--out", out, "--no-plots"])
    back = os.path.join(work, "back")
    run([tpbench, "export", ckpt2, "--out", back])
    print(run([sys.executable, os.path.join(HERE, "hf_check.py"), "compare", "--a", made, "--b", back,
               "--atol", "1e-8"]).strip().splitlines()[-1])
    print("ok")


if __name__ == "__main__":
    main()
