#!/usr/bin/python3
"""gom_mlp_train_bench's training in Debian's PyTorch, for the ratio scripts/bench prints.

Same network and protocol as bench/mlp_train_bench.cpp: Fashion-MNIST's 60000 training images
from the same IDX .gz files, decoded once into in-memory tensors (pixels scaled to [0, 1]);
nn.Sequential(Linear 784->256, ReLU, Linear 256->256, ReLU, Linear 256->10) with PyTorch's
default init; CrossEntropyLoss; Adam lr 1e-3; batch 128, shuffled every epoch, the last batch
kept; the loss read every batch (as gom's fit does, to check it is finite). One untimed warm-up
epoch, then up to --epochs timed epochs (stopping after the one that passes --seconds); the
median epoch's samples/s is reported. Prints:
  torch mlp train: X samples/s (...)

Adam runs with foreach=True: the same update as the default per-tensor loop, and PyTorch 1.13's
fastest Adam on the CPU (about 20% more samples/s here), so the ratio is against PyTorch at its
best rather than at its default.
"""
import argparse
import gzip
import os
import statistics
import struct
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--seconds", type=float, default=1e9)
p.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
a = p.parse_args()
torch.set_num_threads(a.threads)  # Debian's build starts with 1 thread
torch.manual_seed(0)


def read_idx(name):
    with gzip.open(os.path.join(a.dir, name), "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


x_all = read_idx("train-images-idx3-ubyte.gz").reshape(-1, 28 * 28).float().div_(255)
y_all = read_idx("train-labels-idx1-ubyte.gz").long()
n = x_all.shape[0]
B = 128

model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 10))
loss_fn = torch.nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
gen = torch.Generator().manual_seed(1)


def epoch():
    order = torch.randperm(n, generator=gen)
    total = 0.0
    for start in range(0, n, B):
        idx = order[start:start + B]
        x, y = x_all[idx], y_all[idx]
        loss = loss_fn(model(x), y)
        total += loss.item() * len(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return total / n


t0 = time.perf_counter()
warm_loss = epoch()
print(f"torch warm-up epoch: {time.perf_counter() - t0:.2f} s, train_loss {warm_loss:.4f}")
times = []
for e in range(1, a.epochs + 1):
    if times and sum(times) >= a.seconds:
        break
    t0 = time.perf_counter()
    loss = epoch()
    times.append(time.perf_counter() - t0)
    print(f"torch epoch {e}: {times[-1]:.3f} s, {n / times[-1]:.0f} samples/s, "
          f"train_loss {loss:.4f}")
with open("/proc/self/maps") as maps:
    blas = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
print(f"torch mlp train: {n / statistics.median(times):.0f} samples/s (median of {len(times)} "
      f"epochs of {n} samples, {n / max(times):.0f}..{n / min(times):.0f}; torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads, BLAS {', '.join(blas) or '?'})")
