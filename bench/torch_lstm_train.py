#!/usr/bin/python3
"""gom_lstm_train_bench's training in Debian's PyTorch, for the ratio scripts/bench prints.

Same network and protocol as bench/lstm_train_bench.cpp: the corpus's bytes mapped to the ids of
its sorted distinct characters; non-overlapping windows of --seq characters as input, the same
window shifted by one as target; batches of --batch windows in a seeded shuffled order;
nn.Embedding(V, 64) -> nn.LSTM(64, 256, batch_first=True) -> nn.Linear(256, V) with PyTorch's
default init; cross entropy over the [B*T, V] logits; Adam lr 2e-3; clip_grad_norm_ 1.0; the
loss read every batch (as gom's fit does). --warmup untimed batches, then --batches timed ones
in --rounds groups; tokens/s is the best group's (other work on the machine only ever slows a
group down). Prints:
  torch lstm train: X tokens/s (...)
"""
import time

import torch

from torch_common import setup

a = setup(batches=60, warmup=5, rounds=3, seq=64, batch=32,
          corpus="../shared/data/tinyshakespeare.txt")

with open(a.corpus, "rb") as f:
    data = f.read()
chars = sorted(set(data))
lut = torch.zeros(256, dtype=torch.long)
for i, c in enumerate(chars):
    lut[c] = i
ids = lut[torch.frombuffer(bytearray(data), dtype=torch.uint8).long()]
V, T, B = len(chars), a.seq, a.batch
n_windows = (len(ids) - 1) // T
windows_x = ids[:n_windows * T].reshape(n_windows, T)
windows_y = ids[1:n_windows * T + 1].reshape(n_windows, T)


class CharLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, 64)
        self.lstm = torch.nn.LSTM(64, 256, batch_first=True)
        self.out = torch.nn.Linear(256, V)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.out(h).reshape(-1, V)


model = CharLSTM()
loss_fn = torch.nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=2e-3, foreach=True)
gen = torch.Generator().manual_seed(1)
order = torch.randperm(n_windows, generator=gen)
cursor = 0


def step():
    global cursor
    if cursor + B > n_windows:
        cursor = 0
    idx = order[cursor:cursor + B]
    cursor += B
    x, y = windows_x[idx], windows_y[idx].reshape(-1)
    loss = loss_fn(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(a.warmup):
    step()
per_round = max(1, a.batches // a.rounds)
rates = []
loss = 0.0
for r in range(a.rounds):
    t0 = time.perf_counter()
    for _ in range(per_round):
        loss = step()
    rates.append(per_round * B * T / (time.perf_counter() - t0))
print(f"torch lstm train: {max(rates):.0f} tokens/s (best of {a.rounds} groups of {per_round} "
      f"batches of {B}x{T}, vocabulary {V}, {min(rates):.0f}..{max(rates):.0f}; "
      f"last loss {loss:.4f})")
