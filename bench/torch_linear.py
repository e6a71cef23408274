#!/usr/bin/python3
"""The linear benchmark's shapes in Debian's PyTorch, for the ratio scripts/bench prints.

Same work as gom_linear_bench: per layer of the Fashion-MNIST MLP (batch 128; 784->256,
256->256, 256->10) one F.linear forward and its backward (dX, dW, db), grads dropped between
iterations; the median of --reps repetitions of ~--seconds each. Prints one line:
  torch linear fwd+bwd: X GFLOP/s (FLOP = 6*B*in*out per layer, bias excluded)
"""
import statistics
import time

import torch

from torch_common import blas_libs, setup, torch_note

a = setup(reps=7, seconds=0.3)

B = 128
layers = [(784, 256), (256, 256), (256, 10)]
xs = [torch.randn(B, i, requires_grad=True) for i, _ in layers]
ws = [torch.randn(o, i, requires_grad=True) for i, o in layers]
bs = [torch.randn(o, requires_grad=True) for _, o in layers]
gs = [torch.randn(B, o) for _, o in layers]


def step():
    for x, w, b, g in zip(xs, ws, bs, gs):
        torch.nn.functional.linear(x, w, b).backward(g)
        x.grad = w.grad = b.grad = None


for _ in range(20):
    step()
t0, n = time.perf_counter(), 0
while time.perf_counter() - t0 < a.seconds:
    step()
    n += 1
times = []
for _ in range(a.reps):
    t = time.perf_counter()
    for _ in range(n):
        step()
    times.append((time.perf_counter() - t) / n)
flop = sum(6 * B * i * o for i, o in layers)
print(f"torch linear fwd+bwd: {flop / statistics.median(times) / 1e9:.2f} GFLOP/s "
      f"({torch_note()}, BLAS {', '.join(blas_libs())})")
