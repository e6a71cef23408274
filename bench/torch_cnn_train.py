#!/usr/bin/python3
"""gom_cnn_train_bench's training and inference in Debian's PyTorch, for scripts/bench's ratios.

Same network and protocol as bench/cnn_train_bench.cpp: Fashion-MNIST from the same IDX .gz
files, decoded once into in-memory [N, 1, 28, 28] tensors (pixels scaled to [0, 1]); the first
--limit training images (default 12800; 0: all); nn.Sequential(Conv2d 1->32 3x3 pad 1, ReLU,
MaxPool2d 2, Conv2d 32->64 3x3 pad 1, ReLU, MaxPool2d 2, Flatten, Linear 3136->128, ReLU,
Linear 128->10) with PyTorch's default init; CrossEntropyLoss; Adam lr 1e-3 (foreach, PyTorch's
fastest CPU Adam); batch 128 shuffled every epoch, the loss read every batch. One untimed
warm-up epoch, then --epochs timed epochs; the median epoch's samples/s. Inference: eval mode
under torch.no_grad over the 10000 test images in batches of --infer-batch (128), one untimed
pass then --epochs timed passes, the median.
Prints:
  torch cnn train: X samples/s (...)
  torch cnn inference: Y samples/s (...)
"""
import statistics
import time

import torch
from torch import nn

from torch_common import FASHION_DIR, median_epochs, read_idx, setup, torch_note, train_epoch

a = setup(epochs=3, limit=12800, infer_batch=128, dir=FASHION_DIR)


def images(name):
    return read_idx(a.dir, name).reshape(-1, 1, 28, 28).float().div_(255)


x_all = images("train-images-idx3-ubyte.gz")
y_all = read_idx(a.dir, "train-labels-idx1-ubyte.gz").long()
if a.limit:
    x_all, y_all = x_all[:a.limit], y_all[:a.limit]
x_test = images("t10k-images-idx3-ubyte.gz")
y_test = read_idx(a.dir, "t10k-labels-idx1-ubyte.gz").long()
n = x_all.shape[0]

model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
gen = torch.Generator().manual_seed(1)


def inference():
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(x_test), a.infer_batch):
            end = start + a.infer_batch
            pred = model(x_test[start:end]).argmax(1)
            correct += int((pred == y_test[start:end]).sum())
    return time.perf_counter() - t0, correct / len(x_test)


summary = median_epochs(lambda: train_epoch(model, loss_fn, opt, x_all, y_all, 128, gen), n,
                        a.epochs)
print(f"torch cnn train: {summary}; {torch_note()}, mkldnn {torch.backends.mkldnn.is_available()})")

model.eval()
inference()
passes = [inference() for _ in range(a.epochs)]
m = len(x_test)
print(f"torch cnn inference: {m / statistics.median(t for t, _ in passes):.0f} samples/s (median "
      f"of {len(passes)} passes over {m} test images, batch {a.infer_batch}; accuracy {passes[-1][1]:.4f})")
