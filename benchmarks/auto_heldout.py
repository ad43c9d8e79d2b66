"""The auto denoiser on photos the project is not tuned on: scikit-image's bundled photos.

For each photo: a 256x256 centre crop, Gaussian noise sigma = 25/255 (seed 0), then
``deepprior.denoise`` with the default ``auto`` preset. The clean crop is given as ``gt`` only
to record the PSNR curve; the stop never sees it. Prints a Markdown table: the result's PSNR,
the best PSNR on the fit's curve (the oracle stop) and the gap, the stop and best steps, the
seconds, and NL-means with the true sigma for reference.

    python benchmarks/auto_heldout.py coffee chelsea > benchmarks/results/auto_heldout.md
"""

from __future__ import annotations

import sys
import time

import numpy as np
import skimage.data
import torch

import deepprior
from deepprior.bench.baselines import denoise_nlm
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise


def crop(name: str, size: int = 256) -> torch.Tensor:
    a = getattr(skimage.data, name)()[..., :3]  # RGB (a few photos have alpha)
    t = torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)
    _, h, w = t.shape
    top, left = (h - size) // 2, (w - size) // 2
    return t[:, top : top + size, left : left + size].contiguous()


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    print("| photo | noisy | auto | oracle | gap | stop step | best step | seconds | NL-means |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        clean = crop(name)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        t0 = time.perf_counter()
        res = deepprior.denoise(noisy, gt=clean, progress=False, metrics_every=10)
        secs = time.perf_counter() - t0
        oracle = max(res.history["psnr_ema"])
        got = psnr(res.image, clean)
        best = res.report.get("best_step")
        print(f"| {name} | {psnr(noisy, clean):.2f} | {got:.2f} | {oracle:.2f} "
              f"| {oracle - got:.2f} | {res.report['iters_run']} | {best} | {secs:.0f} "
              f"| {psnr(denoise_nlm(noisy, 25 / 255), clean):.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:] or ["coffee", "chelsea"])
