#!/usr/bin/python3
"""gom_small_train_bench's two small models in Debian's PyTorch, for the ratio scripts/bench prints.

Same models and protocol as bench/small_train_bench.cpp, the data in memory:
  xor      512 noisy XOR points (corners of the unit square, noise 0.1 normal), Linear 2->8,
           Tanh, Linear 8->2, CrossEntropyLoss, SGD lr 0.1 momentum 0.9, batch 32 shuffled.
  tabular  scikit-learn's breast-cancer table (80% of the rows, standardised as the csv dataset
           does), Linear 30->200 (no bias), ReLU, BatchNorm1d, Linear 200->100 (no bias), ReLU,
           BatchNorm1d, Linear 100->2, CrossEntropyLoss, AdamW lr 1e-2 weight decay 0.01
           (foreach), batch 64, shuffled, the last partial batch dropped.
The loss is read every batch (as gom's fit does). One untimed warm-up group, then --rounds timed
groups of --epochs epochs; the best group's steps/s is reported. Prints:
  torch small xor train: X steps/s (...)
  torch small tabular train: X steps/s (...)
"""
import time

import numpy as np
import torch

from torch_common import setup, torch_note

a = setup(epochs=100, rounds=5,
          csv="/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv")
a.threads = torch.get_num_threads()
gen = torch.Generator().manual_seed(1)


def epoch(model, loss_fn, opt, x_all, y_all, batch, drop_last):
    n = x_all.shape[0]
    order = torch.randperm(n, generator=gen)
    end = n - n % batch if drop_last else n
    steps = 0
    for start in range(0, end, batch):
        idx = order[start:start + batch]
        x, y = x_all[idx], y_all[idx]
        loss = loss_fn(model(x), y)
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    return steps, loss.item()


def time_groups(label, model, opt, x_all, y_all, batch, drop_last):
    loss_fn = torch.nn.CrossEntropyLoss()
    rates = []
    for r in range(a.rounds + 1):
        t0 = time.perf_counter()
        steps = 0
        for _ in range(a.epochs):
            s, loss = epoch(model, loss_fn, opt, x_all, y_all, batch, drop_last)
            steps += s
        secs = time.perf_counter() - t0
        if r > 0:
            rates.append(steps / secs)
    print(f"torch small {label} train: {max(rates):.0f} steps/s (best of {len(rates)} groups of "
          f"{steps} steps, {min(rates):.0f}..{max(rates):.0f}; train_loss {loss:.4f}; "
          f"{torch_note()})")


# XOR
n = 512
corner = torch.arange(n) % 4
bits = torch.stack([corner // 2, corner % 2], 1).float()
x_xor = bits + 0.1 * torch.randn(n, 2)
y_xor = (corner // 2) ^ (corner % 2)
model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
time_groups("xor", model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), x_xor, y_xor,
            32, False)

# Tabular
table = np.loadtxt(a.csv, delimiter=",", skiprows=1)
rows = np.random.default_rng(42).permutation(table.shape[0])[:int(table.shape[0] * 0.8)]
x_tab = torch.tensor(table[rows, :30], dtype=torch.float32)
x_tab = (x_tab - x_tab.mean(0)) / x_tab.std(0)
y_tab = torch.tensor(table[rows, 30], dtype=torch.long)
model = torch.nn.Sequential(torch.nn.Linear(30, 200, bias=False), torch.nn.ReLU(),
                            torch.nn.BatchNorm1d(200), torch.nn.Linear(200, 100, bias=False),
                            torch.nn.ReLU(), torch.nn.BatchNorm1d(100), torch.nn.Linear(100, 2))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01, foreach=True)
time_groups("tabular", model, opt, x_tab, y_tab, 64, True)
