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
import torch

from torch_common import (FASHION_DIR, blas_libs, median_epochs, read_idx, setup, torch_note,
                          train_epoch)

a = setup(epochs=5, seconds=1e9, dir=FASHION_DIR)
x_all = read_idx(a.dir, "train-images-idx3-ubyte.gz").reshape(-1, 28 * 28).float().div_(255)
y_all = read_idx(a.dir, "train-labels-idx1-ubyte.gz").long()
n = x_all.shape[0]

model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 10))
loss_fn = torch.nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
gen = torch.Generator().manual_seed(1)

summary = median_epochs(lambda: train_epoch(model, loss_fn, opt, x_all, y_all, 128, gen), n,
                        a.epochs, a.seconds)
print(f"torch mlp train: {summary}; {torch_note()}, BLAS {', '.join(blas_libs()) or '?'})")
