"""Milliseconds of one Adam update of the auto net's parameters (32 filters per level: 87
tensors, 0.15 M values), per-tensor, foreach and fused, one thread:

    OMP_NUM_THREADS=1 python benchmarks/adam_step.py
"""

from __future__ import annotations

import time

import torch

from deepprior.nets import create_net


def main(steps: int = 200) -> None:
    torch.set_num_threads(1)
    params = list(create_net("skip", 32, 3, n_d=[32] * 5, n_s=4).parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    print(f"{len(params)} tensors, {sum(p.numel() for p in params)} values")
    for kw in ({"foreach": False}, {"foreach": True}, {"fused": True}):
        opt = torch.optim.Adam(params, lr=0.01, **kw)
        for _ in range(5):
            opt.step()
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.step()
        print(f"{kw}: {(time.perf_counter() - t0) / steps * 1e3:.2f} ms/step")


if __name__ == "__main__":
    main()
