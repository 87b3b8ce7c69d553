#!/usr/bin/env python3
"""Tensor-parallel linear layer in PyTorch: the correct counterpart of `tpbench linear`.

One layer y = x W^T + b (PyTorch layout W[out, in]), MSE loss (mean over all B*out
elements) against targets, SGD (no momentum) on each rank's own shard, fp32 (on CUDA true
fp32: TF32 off, as tpbench). Two layouts,
named with the seed's words (the field's names in brackets):

  row    [Megatron ColumnParallelLinear / PyTorch ColwiseParallel]
         W split by output features (sizes as torch.tensor_split: 1000 over 3 -> 334, 333,
         333), bias split the same way, input replicated. Forward: f = identity on x, then
         y_r = x W_r^T + b_r, then an all-gather assembles y (B, out) in feature order.
         Backward: the gather hands each rank its slice dY_r; dW_r = dY_r^T x,
         db_r = sum_B dY_r; dX = sum_r dY_r W_r, so f's backward is an all-reduce.
  column [Megatron RowParallelLinear / PyTorch RowwiseParallel]
         W split by input features; each rank takes the slice x[:, in_r] of the identical
         input. Forward: partial x_r W_r^T, g = all-reduce (sum), then the full replicated
         bias is added once. Backward: g is the identity; dW_r local, db identical on every
         rank (computed from the identical full dY: no reduction), dX_r local to its slice.

Method (what is timed, and how):
  * Serial-equivalent init: every rank builds the full W, b (uniform +-1/sqrt(in), as
    nn.Linear), x and targets (standard normal) from one torch.Generator seeded with
    --seed, then slices its shard. Every rank therefore has identical inputs; --verify
    checks that, and compares the output, every shard's gradients, the input gradient and
    the updated shard after one SGD step with a serial nn.Linear run on every rank.
  * --warmup untimed iterations, then a barrier, then --iters timed iterations. Each phase
    (forward incl. its collective and the loss, backward incl. its collective, optimizer
    step + zero_grad) is timed: on CPU with time.perf_counter at its boundaries; on CUDA
    with a CUDA event recorded at each boundary (no synchronisation inside the step), each
    step bracketed by torch.cuda.synchronize() and the events read after the loop. Nothing
    is printed or allocated for reporting inside the timed loop.
  * Per-rank times are all-gathered to rank 0 afterwards. Per-iteration step time = max
    over ranks of that rank's forward+backward+optimizer; reported: median, p95 (linear
    interpolation between order statistics, as numpy's default), min, max over iterations.
    Phases: each rank's median over iterations, then min / median / max over ranks.
  * samples/s = batch / median step. GFLOP/s = 6*B*in*out / median step: forward 2*B*in*out,
    backward 4*B*in*out (dW and dX); bias and loss FLOPs ignored; the FLOPs are those of the
    whole (unsharded) layer, counted once, not once per rank.

Threads: torch.set_num_threads(k) (k = --threads, default cores // local ranks, at least
1) sets PyTorch's own intra-op pool, but Debian's torch (BLAS_INFO=generic) sends fp32
matmuls to OpenBLAS (openblas-pthread), which ignores set_num_threads and reads
OPENBLAS_NUM_THREADS when the library is loaded. The launcher must therefore export
OPENBLAS_NUM_THREADS=k per rank (bench/torch/run_torch.sh does). If it is unset this script
warns on stderr and sets it to k itself, which works only because it does so before
`import torch` loads OpenBLAS.

Launch (Debian's /usr/bin/torchrun and `python3 -m torch.distributed.run` of torch 1.13
crash under Python 3.11 before starting any worker; bench/torch/run_torch.sh works around it):
  bench/torch/run_torch.sh --nproc 2 bench/torch/linear.py --mode both [--verify]
On current PyTorch:  torchrun --nproc_per_node 2 bench/torch/linear.py --mode both
Without a launcher it runs as a single rank. Runs on torch 1.13 and later (no newer APIs).

GPUs: --device cuda puts rank r on GPU LOCAL_RANK % GPUs, with NCCL when every rank has its
own GPU, else gloo on host copies of the tensors (common.py; config.comm_backend says which).
"""

import argparse
import math
import os
import re
import statistics
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Tensor-parallel linear layer benchmark in PyTorch (counterpart of "
        "`tpbench linear`). Seed words: row = split output features "
        "(Megatron ColumnParallelLinear / PyTorch ColwiseParallel, all-gather); column = "
        "split input features (Megatron RowParallelLinear / PyTorch RowwiseParallel, "
        "all-reduce).")
    p.add_argument("--in-features", type=int, default=1000)
    p.add_argument("--out-features", type=int, default=1000)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--iters", type=int, default=10, help="timed iterations")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations before timing")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["row", "column", "both"], default="both")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=0,
                   help="threads per rank (torch.set_num_threads); 0 = cores // local ranks")
    p.add_argument("--verify", action="store_true",
                   help="before timing, check one step against a serial nn.Linear; exit 1 on mismatch")
    p.add_argument("--verify-tol", type=float, default=1e-5,
                   help="pass if max|got - ref| <= tol * max|ref| for every checked tensor")
    p.add_argument("--json", metavar="FILE", default=None, help="write results (rank 0)")
    a = p.parse_args(argv)
    for name in ("in_features", "out_features", "batch", "iters"):
        if getattr(a, name) < 1:
            p.error("--%s must be >= 1, got %d" % (name.replace("_", "-"), getattr(a, name)))
    if a.warmup < 0:
        p.error("--warmup must be >= 0, got %d" % a.warmup)
    return a


from common import (StepClock, all_gather, all_reduce, barrier, gather_cpu,  # noqa: E402
                    init_distributed, percentile, prepare_environment, write_json)

ARGS = parse_args()


OPENBLAS_ENV = os.environ.get("OPENBLAS_NUM_THREADS")  # as the launcher left it
THREADS = prepare_environment(ARGS.threads, "linear.py", ARGS.device)  # before `import torch`

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# ---------------------------------------------------------------------------------------
# Sharding and the conjugate communication ops (Megatron's f and g, plus the gather).
# ---------------------------------------------------------------------------------------

def shard_sizes(n, parts):
    """Sizes of torch.tensor_split(range(n), parts): the first n % parts get one extra."""
    base, extra = divmod(n, parts)
    return [base + (1 if r < extra else 0) for r in range(parts)]


def shard_offsets(sizes):
    offs, acc = [], 0
    for s in sizes:
        offs.append(acc)
        acc += s
    return offs


class CopyToTensorParallelRegion(torch.autograd.Function):
    """f: identity forward; all-reduce (sum) of the input gradient in backward.

    Row mode: every rank's x feeds its own W_r, so dX = sum_r dY_r W_r."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()  # own the buffer we reduce in place
        all_reduce(grad)
        return grad


class ReduceFromTensorParallelRegion(torch.autograd.Function):
    """g: all-reduce (sum) forward; identity backward (each partial got the full dY)."""

    @staticmethod
    def forward(ctx, partial):
        partial = partial.contiguous().clone()
        all_reduce(partial)
        return partial

    @staticmethod
    def backward(ctx, grad):
        return grad


class GatherFromTensorParallelRegion(torch.autograd.Function):
    """All-gather shards (B, out_r) along the last dimension into (B, out), feature order.

    Backward hands each rank its own slice of dY (the loss is computed on the full,
    identical y on every rank, so each rank already holds the whole dY; no communication).

    Uneven shards (1000 over 3 = 334/333/333): gloo's all_gather (and NCCL's) requires the
    same tensor size on every rank and torch 1.13 has no variable-size all-gather, so each
    shard is zero-padded to the largest shard size, gathered, and trimmed back."""

    @staticmethod
    def forward(ctx, local, sizes, rank):
        offs = shard_offsets(sizes)
        ctx.lo, ctx.hi = offs[rank], offs[rank] + sizes[rank]
        width = max(sizes)
        if local.shape[-1] < width:
            local = F.pad(local, (0, width - local.shape[-1]))
        local = local.contiguous()
        parts = [torch.empty_like(local) for _ in sizes]
        all_gather(parts, local)
        return torch.cat([p[..., :s] for p, s in zip(parts, sizes)], dim=-1)

    @staticmethod
    def backward(ctx, grad):
        return grad[..., ctx.lo:ctx.hi].contiguous(), None, None


# ---------------------------------------------------------------------------------------
# The two layouts. Each owns its shard parameters and its (identical) copy of the data.
# ---------------------------------------------------------------------------------------

def full_problem(a):
    """Full weights, bias, input and targets, the same on every rank (seeded generator)."""
    g = torch.Generator().manual_seed(a.seed)
    bound = 1.0 / math.sqrt(a.in_features)
    weight = torch.rand(a.out_features, a.in_features, generator=g) * (2 * bound) - bound
    bias = torch.rand(a.out_features, generator=g) * (2 * bound) - bound
    x = torch.randn(a.batch, a.in_features, generator=g)
    target = torch.randn(a.batch, a.out_features, generator=g)
    return weight, bias, x, target


class RowLayout:
    """Seed 'row' = ColumnParallelLinear: W_r = W[out_r, :], b_r, x replicated."""

    def __init__(self, weight, bias, x, target, rank, world, device):
        self.sizes = shard_sizes(weight.shape[0], world)
        lo = shard_offsets(self.sizes)[rank]
        hi = lo + self.sizes[rank]
        self.rank = rank
        self.weight = torch.nn.Parameter(weight[lo:hi].clone().to(device))  # (out_local, in)
        self.bias = torch.nn.Parameter(bias[lo:hi].clone().to(device))       # (out_local,)
        self.x = x.clone().to(device).requires_grad_(True)                   # (B, in)
        self.target = target.to(device)                                      # (B, out)
        self.params = [self.weight, self.bias]

    def forward(self):
        x = CopyToTensorParallelRegion.apply(self.x)
        y_local = F.linear(x, self.weight, self.bias)                        # (B, out_local)
        y = GatherFromTensorParallelRegion.apply(y_local, self.sizes, self.rank)  # (B, out)
        return y, F.mse_loss(y, self.target)

    def input_grad_ref(self, dx_full):
        return dx_full


class ColumnLayout:
    """Seed 'column' = RowParallelLinear: W_r = W[:, in_r], x_r = x[:, in_r], b replicated."""

    def __init__(self, weight, bias, x, target, rank, world, device):
        self.sizes = shard_sizes(weight.shape[1], world)
        self.lo = shard_offsets(self.sizes)[rank]
        self.hi = self.lo + self.sizes[rank]
        self.weight = torch.nn.Parameter(weight[:, self.lo:self.hi].clone().to(device))  # (out, in_local)
        self.bias = torch.nn.Parameter(bias.clone().to(device))                          # (out,)
        self.x = x[:, self.lo:self.hi].clone().to(device).requires_grad_(True)           # (B, in_local)
        self.target = target.to(device)
        self.params = [self.weight, self.bias]

    def forward(self):
        partial = F.linear(self.x, self.weight)                              # (B, out)
        y = ReduceFromTensorParallelRegion.apply(partial) + self.bias        # bias once, after the sum
        return y, F.mse_loss(y, self.target)

    def input_grad_ref(self, dx_full):
        return dx_full[:, self.lo:self.hi]


LAYOUTS = {"row": RowLayout, "column": ColumnLayout}


def make_layout(mode, a, rank, world, device):
    weight, bias, x, target = full_problem(a)
    layer = LAYOUTS[mode](weight, bias, x, target, rank, world, device)
    opt = torch.optim.SGD(layer.params, lr=a.lr, momentum=0.0)
    return layer, opt


def zero_grads(layer, opt):
    opt.zero_grad(set_to_none=True)
    layer.x.grad = None


# ---------------------------------------------------------------------------------------
# Verification against a serial nn.Linear (computed on every rank from the full weights).
# ---------------------------------------------------------------------------------------

def normwise_err(got, ref):
    """max|got - ref| / max|ref|: the error relative to the tensor's scale, robust to
    elements that cancel to ~0 (where an elementwise relative error means nothing).
    A missing gradient (None: the shard never joined the graph) is an infinite error."""
    if got is None:
        return float("inf")
    got, ref = got.detach().double().cpu(), ref.detach().double().cpu()
    if got.shape != ref.shape:
        return float("inf")
    scale = ref.abs().max().item() if ref.numel() else 0.0
    diff = (got - ref).abs().max().item() if ref.numel() else 0.0
    return diff / scale if scale > 0 else diff


def verify(mode, a, rank, world, device):
    """One step of the sharded layer vs the serial layer; returns {name: error} (max over ranks)."""
    weight, bias, x, target = full_problem(a)

    # Inputs of the TP group must be identical: compare checksums across ranks exactly.
    sums = torch.tensor([weight.double().sum().item(), bias.double().sum().item(),
                         x.double().sum().item(), target.double().sum().item()],
                        dtype=torch.float64, device=device)
    lo, hi = sums.clone(), sums.clone()
    all_reduce(lo, op=dist.ReduceOp.MIN)
    all_reduce(hi, op=dist.ReduceOp.MAX)
    errs = {"inputs_identical": 0.0 if torch.equal(lo, hi) else float("inf")}

    serial = torch.nn.Linear(a.in_features, a.out_features).to(device)
    with torch.no_grad():
        serial.weight.copy_(weight)
        serial.bias.copy_(bias)
    xs = x.clone().to(device).requires_grad_(True)
    ys = serial(xs)
    F.mse_loss(ys, target.to(device)).backward()
    with torch.no_grad():
        w_after = serial.weight - a.lr * serial.weight.grad
        b_after = serial.bias - a.lr * serial.bias.grad

    layer, opt = make_layout(mode, a, rank, world, device)
    y, loss = layer.forward()
    loss.backward()
    if mode == "row":
        lo_, hi_ = shard_offsets(layer.sizes)[rank], shard_offsets(layer.sizes)[rank] + layer.sizes[rank]
        w_ref, dw_ref, wa_ref = serial.weight[lo_:hi_], serial.weight.grad[lo_:hi_], w_after[lo_:hi_]
        db_ref, ba_ref = serial.bias.grad[lo_:hi_], b_after[lo_:hi_]
    else:
        w_ref, dw_ref = serial.weight[:, layer.lo:layer.hi], serial.weight.grad[:, layer.lo:layer.hi]
        wa_ref, db_ref, ba_ref = w_after[:, layer.lo:layer.hi], serial.bias.grad, b_after
    errs["weight_shard_init"] = normwise_err(layer.weight, w_ref)
    errs["output"] = normwise_err(y, ys)
    errs["grad_weight"] = normwise_err(layer.weight.grad, dw_ref)
    errs["grad_bias"] = normwise_err(layer.bias.grad, db_ref)
    errs["grad_input"] = normwise_err(layer.x.grad, layer.input_grad_ref(xs.grad))
    opt.step()
    errs["weight_after_sgd"] = normwise_err(layer.weight, wa_ref)
    errs["bias_after_sgd"] = normwise_err(layer.bias, ba_ref)

    names = sorted(errs)
    t = torch.tensor([errs[n] for n in names], dtype=torch.float64, device=device)
    all_reduce(t, op=dist.ReduceOp.MAX)
    return dict(zip(names, t.tolist()))


# ---------------------------------------------------------------------------------------
# Timing.
# ---------------------------------------------------------------------------------------

def bench(mode, a, rank, world, device):
    """Returns this rank's (iters, 3) float64 tensor of forward/backward/optimizer seconds."""
    layer, opt = make_layout(mode, a, rank, world, device)
    clock = StepClock(device, a.iters, 3)  # preallocated: no reporting work in the loop

    def step(j):  # j: timed iteration, None in warm-up
        clock.sync()
        if j is not None:
            clock.mark(j, 0)
        _, loss = layer.forward()
        if j is not None:
            clock.mark(j, 1)
        loss.backward()
        if j is not None:
            clock.mark(j, 2)
        opt.step()
        zero_grads(layer, opt)
        if j is not None:
            clock.mark(j, 3)
        clock.sync()

    barrier()
    for _ in range(a.warmup):
        step(None)
    clock.sync()
    barrier()
    for i in range(a.iters):
        step(i)
    clock.sync()
    return clock.seconds()


def summarize(all_times, a):
    """all_times: (world, iters, 3) seconds -> summary dict in milliseconds."""
    step_per_rank = all_times.sum(dim=2)                   # (world, iters)
    step = step_per_rank.max(dim=0).values.tolist()        # per iteration: slowest rank
    med = statistics.median(step)
    out = {"step_ms": {"median": med * 1e3, "p95": percentile(step, 0.95) * 1e3,
                       "min": min(step) * 1e3, "max": max(step) * 1e3}}
    for j, name in enumerate(("forward_ms", "backward_ms", "optimizer_ms")):
        per_rank = [statistics.median(all_times[r, :, j].tolist()) * 1e3
                    for r in range(all_times.shape[0])]
        out[name] = {"min": min(per_rank), "median": statistics.median(per_rank),
                     "max": max(per_rank)}
    out["samples_per_s"] = a.batch / med if med > 0 else float("inf")
    flops = 6.0 * a.batch * a.in_features * a.out_features
    out["gflop_per_s"] = flops / med / 1e9 if med > 0 else float("inf")
    out["per_rank_step_median_ms"] = [statistics.median(step_per_rank[r].tolist()) * 1e3
                                      for r in range(all_times.shape[0])]
    return out


def print_summary(mode, s, world):
    fld = "row [ColwiseParallel]" if mode == "row" else "column [RowwiseParallel]"
    st = s["step_ms"]
    print("%-26s ranks %d  step ms: median %.4f  p95 %.4f  min %.4f  max %.4f"
          % (fld, world, st["median"], st["p95"], st["min"], st["max"]))
    for name in ("forward_ms", "backward_ms", "optimizer_ms"):
        d = s[name]
        print("    %-10s ms over ranks: min %.4f  median %.4f  max %.4f"
              % (name[:-3], d["min"], d["median"], d["max"]))
    print("    %.1f samples/s   %.3f GFLOP/s (6*B*in*out per step)"
          % (s["samples_per_s"], s["gflop_per_s"]))


def blas_info():
    """BLAS_INFO from torch's build settings ("generic" = system libblas, e.g. OpenBLAS)."""
    try:
        m = re.search(r"\bBLAS_INFO=([^,\s]+)", torch.__config__.show())
        return m.group(1) if m else None
    except Exception:  # informational only
        return None


def main():
    a = ARGS
    place = init_distributed(a.device, THREADS, "linear.py")
    if place is None:
        return 2
    device = place.device
    rank, world = dist.get_rank(), dist.get_world_size()
    for n in (a.in_features if a.mode in ("column", "both") else world,
              a.out_features if a.mode in ("row", "both") else world):
        if n < world:
            if rank == 0:
                sys.stderr.write("linear.py: cannot split %d features over %d ranks\n" % (n, world))
            dist.destroy_process_group()
            return 2

    modes = ["row", "column"] if a.mode == "both" else [a.mode]
    config = {k: getattr(a, k) for k in ("in_features", "out_features", "batch", "iters",
                                         "warmup", "lr", "seed", "mode", "device")}
    config.update(world_size=world, torch_version=torch.__version__, backend=place.backend,
                  threads_per_rank=THREADS, openblas_num_threads_env=OPENBLAS_ENV,
                  blas_info=blas_info(), dtype="fp32", comm_backend=place.comm_backend,
                  gpu_name=place.gpu_name, tf32=place.tf32_text)
    doc = {"schema": "tpbench.torch_linear/1", "config": config, "modes": {}}
    if rank == 0:
        print("tpbench torch linear: B=%d in=%d out=%d ranks=%d device=%s torch %s threads/rank %d "
              "(OPENBLAS_NUM_THREADS=%s)" % (a.batch, a.in_features, a.out_features, world,
                                             a.device, torch.__version__, THREADS,
                                             os.environ.get("OPENBLAS_NUM_THREADS")))
        if device.type == "cuda":
            print("device: %s (%s); fp32, TF32 %s; collectives: %s"
                  % (device, place.gpu_name, place.tf32_text, place.comm_text))

    status = 0
    for mode in modes:
        entry = {}
        if a.verify:
            errs = verify(mode, a, rank, world, device)
            worst = max(errs.values())
            ok = worst <= a.verify_tol
            entry["verify"] = {"max_rel_err": worst, "tol": a.verify_tol, "passed": ok,
                               "errors": errs}
            if rank == 0:
                print("verify %-6s %s: max relative error %.3e (tol %.1e; max|got-ref|/max|ref|)"
                      % (mode, "PASS" if ok else "FAIL", worst, a.verify_tol))
                if not ok:
                    for k, v in sorted(errs.items()):
                        print("    %-18s %.3e" % (k, v))
            if not ok:
                status = 1
                doc["modes"][mode] = entry
                continue
        times = bench(mode, a, rank, world, device)
        gathered = gather_cpu(times, device)
        if rank == 0:
            entry["summary"] = summarize(torch.stack(gathered), a)
            print_summary(mode, entry["summary"], world)
        doc["modes"][mode] = entry

    if rank == 0 and a.json:
        write_json(a.json, doc)
    barrier()
    dist.destroy_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
