"""What bench/torch/linear.py and bench/torch/train.py share: the process environment a
rank needs before `import torch`, the distributed start-up, order statistics, and
results files written whole or not at all. Imports torch only inside init_distributed, so
prepare_environment can run first."""
import json
import math
import os
import socket
import sys


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_environment(threads_flag, script):
    """Makes a standalone run (no launcher) a one-rank job, and sets OPENBLAS_NUM_THREADS
    when unset: Debian's PyTorch sends fp32 matmuls to OpenBLAS, which ignores
    torch.set_num_threads and reads the variable when it is loaded, so this must run before
    `import torch`. Returns the threads per rank."""
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1",
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    threads = threads_flag if threads_flag > 0 else max(1, (os.cpu_count() or 1) // local_world)
    if os.environ.get("OPENBLAS_NUM_THREADS") is None:
        if os.environ.get("RANK", "0") == "0":
            sys.stderr.write(
                "%s: warning: OPENBLAS_NUM_THREADS is unset; Debian's PyTorch sends fp32 matmuls to "
                "OpenBLAS, which ignores torch.set_num_threads. Setting it to %d per rank here; "
                "launchers should export it (bench/torch/run_torch.sh does).\n" % (script, threads))
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    return threads


def init_distributed(device_flag, threads, script):
    """torch threads, the device of this rank, and the process group (gloo on CPU, NCCL on
    GPU). Returns (device, backend), or None after a message when CUDA is asked for and
    absent."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_flag == "cuda":
        if not torch.cuda.is_available():
            sys.stderr.write("%s: --device cuda but torch.cuda.is_available() is False\n" % script)
            return None
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend=backend)
    return device, backend


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
