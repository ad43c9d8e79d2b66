"""Two fits averaged: two separate runs (seeds 0 and 1) against ``--restarts 2``.

On the 144x144 centre crop of a scikit-image photo (one tile of the auto denoiser),
sigma = 25 (noise seed 0), the default ``auto`` preset: the PSNR of each separate run, of the
mean of the two, and of one run with two nets fitted together and stopped on their mean.

    OMP_NUM_THREADS=1 python benchmarks/restarts_vs_seeds.py coffee chelsea
"""

from __future__ import annotations

import sys
import time

import torch
from auto_heldout import crop  # the same crops (benchmarks/ is on the path of a script)

import deepprior
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    print("| photo | seed 0 (steps, s) | seed 1 (steps, s) | mean of the two "
          "| restarts 2 (steps, s) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name in names:
        clean = crop(name, 144)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        runs = {}
        for key, kw in (("s0", {"seed": 0}), ("s1", {"seed": 1}), ("r2", {"restarts": 2})):
            t0 = time.perf_counter()
            res = deepprior.denoise(noisy, progress=False, **kw)
            runs[key] = (res.image, res.report["iters_run"], time.perf_counter() - t0)
        mean = (runs["s0"][0] + runs["s1"][0]) / 2
        cell = {k: f"{psnr(img, clean):.2f} ({n}, {s:.0f})" for k, (img, n, s) in runs.items()}
        print(f"| {name} | {cell['s0']} | {cell['s1']} | {psnr(mean, clean):.2f} | {cell['r2']} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:] or ["coffee", "chelsea"])
