"""What the PyTorch reference scripts in bench/ share: their command line, the Fashion-MNIST IDX
reader, the training epoch and median-epoch protocol of the Fashion-MNIST benchmarks, and the
version/threads/BLAS notes on their summary lines. Imported from the scripts' own folder (Python
puts a script's folder first on sys.path), so it needs no installing."""
import argparse
import gzip
import os
import statistics
import struct
import time

import torch

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def setup(**defaults):
    """Parses --threads (default 2) and one --flag per keyword (infer_batch -> --infer-batch),
    typed like its default; sets the threads (Debian's build starts with 1) and seed 0."""
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    for name, default in defaults.items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    return a


def read_idx(folder, name):
    """One IDX .gz file of `folder` as a uint8 tensor of its dimensions."""
    with gzip.open(os.path.join(folder, name), "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def train_epoch(model, loss_fn, opt, x_all, y_all, batch, gen):
    """One shuffled epoch of `batch`-sized steps, the loss read every batch (as gom's fit does,
    to check it is finite); the mean loss."""
    n = x_all.shape[0]
    order = torch.randperm(n, generator=gen)
    total = 0.0
    for start in range(0, n, batch):
        idx = order[start:start + batch]
        x, y = x_all[idx], y_all[idx]
        loss = loss_fn(model(x), y)
        total += loss.item() * len(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return total / n


def median_epochs(epoch, n, epochs, seconds=float("inf")):
    """One untimed warm-up `epoch()`, then up to `epochs` timed ones (stopping after the one that
    passes `seconds`), each printed; the summary's "X samples/s (median of ..." part (a median:
    other work on the machine only ever slows an epoch down)."""
    t0 = time.perf_counter()
    warm_loss = epoch()
    print(f"torch warm-up epoch: {time.perf_counter() - t0:.2f} s, train_loss {warm_loss:.4f}")
    times = []
    for e in range(1, epochs + 1):
        if times and sum(times) >= seconds:
            break
        t0 = time.perf_counter()
        loss = epoch()
        times.append(time.perf_counter() - t0)
        print(f"torch epoch {e}: {times[-1]:.3f} s, {n / times[-1]:.0f} samples/s, "
              f"train_loss {loss:.4f}")
    return (f"{n / statistics.median(times):.0f} samples/s (median of {len(times)} epochs of {n} "
            f"samples, {n / max(times):.0f}..{n / min(times):.0f}")


def torch_note():
    """"torch V, N threads" for a summary line."""
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def blas_libs():
    """The BLAS libraries mapped into this process (Debian picks one through alternatives; the
    reference BLAS would make every ratio meaningless)."""
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
