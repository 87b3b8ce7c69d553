"""What bench/torch/linear.py and bench/torch/train.py share: the process environment a
rank needs before `import torch`, the distributed start-up (CPU or CUDA), the collectives
the models call, the step clock, order statistics, and results files written whole or not
at all. Imports torch only inside functions, so prepare_environment can run first.

Devices and communication (init_distributed):
  * cpu:  gloo on CPU tensors.
  * cuda: each rank takes GPU LOCAL_RANK % torch.cuda.device_count(). When every local
    rank has its own GPU (LOCAL_WORLD_SIZE <= GPUs) the collectives are NCCL's on the GPU
    tensors ("nccl"). NCCL cannot put two ranks on one GPU, so when ranks share GPUs the
    collectives are gloo's on host copies: each CUDA tensor is copied to host memory, reduced
    or gathered there and copied back ("gloo-host-staged"; bf16/fp16 are reduced as fp32
    on the host). The path taken is printed and recorded as config.comm_backend.
  * fp32 on CUDA is true fp32: TF32 is turned off for matmuls and cuDNN, as tpbench's fp32
    GEMMs do not use it.
The models call all_reduce / all_gather / reduce_scatter / barrier from here instead of
torch.distributed, so the host staging stays out of their code; on CPU and with NCCL they
are torch.distributed's calls unchanged, except reduce_scatter on gloo (an all-to-all and a
local sum: gloo has no reduce_scatter in torch 1.13)."""
import json
import math
import os
import socket
import sys
import time


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_environment(threads_flag, script, device="cpu"):
    """Makes a standalone run (no launcher) a one-rank job, and sets OPENBLAS_NUM_THREADS
    when unset: Debian's PyTorch sends fp32 matmuls to OpenBLAS, which ignores
    torch.set_num_threads and reads the variable when it is loaded, so this must run before
    `import torch` (warning on CPU runs, whose matmuls it governs). Returns the threads per
    rank."""
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1",
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    threads = threads_flag if threads_flag > 0 else max(1, (os.cpu_count() or 1) // local_world)
    if os.environ.get("OPENBLAS_NUM_THREADS") is None:
        if device == "cpu" and os.environ.get("RANK", "0") == "0":
            sys.stderr.write(
                "%s: warning: OPENBLAS_NUM_THREADS is unset; Debian's PyTorch sends fp32 matmuls to "
                "OpenBLAS, which ignores torch.set_num_threads. Setting it to %d per rank here; "
                "launchers should export it (bench/torch/run_torch.sh does).\n" % (script, threads))
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    return threads


def cuda_problem():
    """None when this PyTorch can compute on a GPU here, else one line saying why not.
    (bench/torch/run_torch.sh asks this before launching ranks.)"""
    import torch
    where = "PyTorch %s (%s)" % (torch.__version__, sys.executable)
    if torch.version.cuda is None:
        return ("%s is built without CUDA; run on a GPU machine with a CUDA build of PyTorch "
                "(set PYTHON=/path/to/python3)" % where)
    if not torch.cuda.is_available():
        return "%s (CUDA %s) sees no usable GPU (torch.cuda.is_available() is False)" % (
            where, torch.version.cuda)
    return None


def _fp32_without_tf32(torch):
    """Turns TF32 off for fp32 matmuls and cuDNN; returns what was set, as text. PyTorch
    >= 2.9 has fp32_precision settings and warns on the older allow_tf32 flags, so those
    are used where they exist."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = "ieee"
        said = ["torch.backends.cuda.matmul.fp32_precision = %r" % matmul.fp32_precision]
        conv = getattr(cudnn, "conv", None)
        if conv is not None and hasattr(conv, "fp32_precision"):
            conv.fp32_precision = "ieee"
            said.append("torch.backends.cudnn.conv.fp32_precision = %r" % conv.fp32_precision)
        return ", ".join(said)
    matmul.allow_tf32 = False
    cudnn.allow_tf32 = False
    return "torch.backends.cuda.matmul.allow_tf32 = %s, torch.backends.cudnn.allow_tf32 = %s" % (
        matmul.allow_tf32, cudnn.allow_tf32)


class Placement:
    """Where this rank computes and how its collectives travel.

    device: torch.device; backend: the process group's ("gloo" or "nccl"); comm_backend:
    "gloo", "nccl" or "gloo-host-staged"; comm_text: the same in words; gpu_name: None on
    CPU; tf32_text: None on CPU, else "off (the TF32 settings made)"."""

    def __init__(self, device, backend, comm_backend, comm_text, gpu_name=None, tf32_text=None):
        self.device, self.backend, self.comm_backend = device, backend, comm_backend
        self.comm_text, self.gpu_name, self.tf32_text = comm_text, gpu_name, tf32_text


_STAGED = False         # CUDA tensors, gloo: collectives run on host copies
_BARRIER_GPU = None     # NCCL: the GPU index barriers run on


def init_distributed(device_flag, threads, script):
    """torch threads, the device of this rank, and the process group. Returns a Placement,
    or None after a message (from rank 0) when CUDA is asked for and cannot be used."""
    global _STAGED, _BARRIER_GPU
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_flag == "cuda":
        problem = cuda_problem()
        if problem is not None:
            if os.environ.get("RANK", "0") == "0":
                sys.stderr.write("%s: --device cuda: %s\n" % (script, problem))
            return None
        gpus = torch.cuda.device_count()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
        index = local_rank % gpus
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
        gpu_name = torch.cuda.get_device_name(index)
        tf32_text = "off (%s)" % _fp32_without_tf32(torch)
        if local_world <= gpus:
            place = Placement(device, "nccl", "nccl",
                              "NCCL on GPU tensors, one GPU per rank (%d local ranks, %d GPUs)"
                              % (local_world, gpus), gpu_name, tf32_text)
            _BARRIER_GPU = index
        else:
            place = Placement(device, "gloo", "gloo-host-staged",
                              "gloo on host copies of the CUDA tensors: %d local ranks share %d "
                              "GPU(s) and NCCL needs one GPU per rank" % (local_world, gpus),
                              gpu_name, tf32_text)
            _STAGED = True
    else:
        place = Placement(torch.device("cpu"), "gloo", "gloo", "gloo on CPU tensors")
    dist.init_process_group(backend=place.backend)
    return place


# ---------------------------------------------------------------------------------------
# Collectives (torch.distributed's, with host staging when ranks share a GPU)
# ---------------------------------------------------------------------------------------

def _to_host(tensor):
    import torch
    low = tensor.dtype in (torch.bfloat16, torch.float16)
    return tensor.detach().to("cpu", torch.float32 if low else tensor.dtype)


def all_reduce(tensor, op=None, group=None):
    """In place, as torch.distributed.all_reduce (default SUM)."""
    import torch.distributed as dist
    if op is None:
        op = dist.ReduceOp.SUM
    if not _STAGED:
        dist.all_reduce(tensor, op=op, group=group)
        return
    host = _to_host(tensor)
    dist.all_reduce(host, op=op, group=group)
    tensor.copy_(host)


def all_gather(outputs, tensor, group=None):
    """As torch.distributed.all_gather: outputs[r] receives rank r's tensor."""
    import torch
    import torch.distributed as dist
    if not _STAGED:
        dist.all_gather(outputs, tensor, group=group)
        return
    host = _to_host(tensor)
    parts = [torch.empty_like(host) for _ in outputs]
    dist.all_gather(parts, host, group=group)
    for out, part in zip(outputs, parts):
        out.copy_(part)


def reduce_scatter(output, inputs, group=None):
    """As torch.distributed.reduce_scatter (SUM): output = the sum over the group's ranks of
    their inputs[my rank in the group]. inputs: one equally shaped tensor per rank.
    NCCL: dist.reduce_scatter. gloo (CPU, or host-staged CUDA tensors) has no reduce_scatter
    in torch 1.13, so it is an all-to-all (dist.all_to_all_single, which gloo has) of the
    inputs followed by a local sum of the received chunks in rank order: each rank sends and
    receives (n-1)/n of the tensor, as a ring reduce-scatter does (an all-reduce moves 2x)."""
    import torch
    import torch.distributed as dist
    if dist.get_backend(group) == "nccl":
        dist.reduce_scatter(output, list(inputs), group=group)
        return
    send = torch.cat([(_to_host(t) if _STAGED else t).reshape(-1) for t in inputs])
    recv = torch.empty_like(send)
    dist.all_to_all_single(recv, send, group=group)
    output.copy_(recv.view(len(inputs), -1).sum(dim=0).view_as(output))


def barrier():
    import torch.distributed as dist
    if _BARRIER_GPU is not None:
        dist.barrier(device_ids=[_BARRIER_GPU])
    else:
        dist.barrier()


def gather_cpu(tensor, device):
    """Every rank's copy of a CPU tensor, as a list of CPU tensors (NCCL moves them through
    the GPU)."""
    import torch
    import torch.distributed as dist
    world = dist.get_world_size()
    if _BARRIER_GPU is None:  # gloo: CPU tensors as they are
        parts = [torch.zeros_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor)
        return parts
    parts = [torch.zeros_like(tensor, device=device) for _ in range(world)]
    dist.all_gather(parts, tensor.to(device))
    return [p.cpu() for p in parts]


# ---------------------------------------------------------------------------------------
# Step clock
# ---------------------------------------------------------------------------------------

class StepClock:
    """Phase times of `steps` steps of `phases` phases each: mark(step, 0) at the start,
    mark(step, k) at the end of phase k. CPU: time.perf_counter at each mark. CUDA: a CUDA
    event recorded on the current stream at each mark, so nothing synchronises inside a
    step; the caller brackets each timed step with sync() (so it starts on an idle GPU and
    its last event has completed) and reads seconds() after the last step."""

    def __init__(self, device, steps, phases):
        import torch
        self.phases = phases
        self.cuda = device.type == "cuda"
        if self.cuda:
            self._sync = torch.cuda.synchronize
            self._marks = [[torch.cuda.Event(enable_timing=True) for _ in range(phases + 1)]
                           for _ in range(steps)]
        else:
            self._marks = [[0.0] * (phases + 1) for _ in range(steps)]

    def sync(self):
        if self.cuda:
            self._sync()

    def mark(self, step, k):
        if self.cuda:
            self._marks[step][k].record()
        else:
            self._marks[step][k] = time.perf_counter()

    def seconds(self):
        """(steps, phases) float64 tensor of seconds (after the last step's sync())."""
        import torch
        n = self.phases
        if self.cuda:
            rows = [[m[k].elapsed_time(m[k + 1]) / 1e3 for k in range(n)] for m in self._marks]
        else:
            rows = [[m[k + 1] - m[k] for k in range(n)] for m in self._marks]
        return torch.tensor(rows, dtype=torch.float64).reshape(len(self._marks), n)


def percentile(values, q):
    """Linear interpolation between order statistics (numpy's default)."""
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def write_json(path, doc):
    """Writes to a temporary file beside `path`, then renames: whole or absent."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
