"""The auto denoiser on photos the project is not tuned on: scikit-image's bundled photos.

For each photo: a 256x256 centre crop, Gaussian noise sigma = 25/255 (seed 0), then
``deepprior.denoise`` with the default ``auto`` preset (which cuts a 256 px crop into four
tiles, each stopped by itself). The clean crop is given as ``gt`` only to record the PSNR
curves; the stop never sees it. Prints a Markdown table: the result's PSNR, the stop gap (the
best PSNR on a fit's curve minus its output's: the mean and the worst over the tiles), the
steps, the seconds, and NL-means with the true sigma for reference.

    python benchmarks/auto_heldout.py coffee chelsea   # rows of results/auto_heldout.md
    python benchmarks/auto_heldout.py --restarts 2 coffee   # two nets per tile, their mean
    python benchmarks/auto_heldout.py --cold-tiles coffee   # every tile from a random draw
    python benchmarks/auto_heldout.py --threads 2 coffee    # tiles fitted two at a time

The seconds are those of ``--threads`` torch threads (1 by default, so that two photos can
run side by side, one a core); the tiles are fitted as many at a time as there are threads
(``tile_jobs="auto"``), so with one thread they run in turn.

The ``warm`` column says whether the tiles started from their left neighbour's net (the
preset's default, or ``--cold-tiles`` / ``--warm-tiles``).
"""

from __future__ import annotations

import argparse
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


def stop_gaps(res: deepprior.Result) -> list[float]:
    """The stop gap of each fit: per tile over its own area, or of the one whole-image fit."""
    fits = (res.report.get("tiles") or {}).get("fits")
    if fits:
        return [f["best_psnr"] - f["psnr"] for f in fits]
    return [max(res.history["psnr_ema"]) - res.metrics["psnr"]]


def main(
    names: list[str], restarts: int = 1, tile_warm: bool | None = None, threads: int = 1
) -> None:
    torch.set_num_threads(threads)
    print(
        "| photo | noisy | auto | stop gap mean / worst (fits) | steps | seconds | NL-means "
        "| auto − NL-means | warm |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in names:
        clean = crop(name)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        t0 = time.perf_counter()
        res = deepprior.denoise(
            noisy,
            gt=clean,
            progress=False,
            metrics_every=10,
            restarts=restarts,
            tile_warm=tile_warm,
        )
        secs = time.perf_counter() - t0
        got, gaps = psnr(res.image, clean), stop_gaps(res)
        nlm = psnr(denoise_nlm(noisy, 25 / 255), clean)
        print(f"| {name} | {psnr(noisy, clean):.2f} | {got:.2f} "
              f"| {sum(gaps) / len(gaps):.2f} / {max(gaps):.2f} ({len(gaps)}) "
              f"| {res.report['iters_run']} | {secs:.0f} | {nlm:.2f} | {got - nlm:+.2f} "
              f"| {'yes' if (res.report.get('tiles') or {}).get('warm') else 'no'} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="The auto denoiser on scikit-image photos.")
    p.add_argument("photos", nargs="*", default=["coffee", "chelsea"])
    p.add_argument("--restarts", type=int, default=1, help="nets per tile, averaged")
    p.add_argument(
        "--warm-tiles",
        dest="tile_warm",
        action="store_true",
        default=None,
        help="start each tile from its left neighbour's net (the preset's default)",
    )
    p.add_argument(
        "--cold-tiles",
        dest="tile_warm",
        action="store_false",
        help="start every tile from a random draw",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (and tiles fitted at a time)"
    )
    a = p.parse_args()
    if a.threads < 1:
        p.error(f"--threads must be at least 1, not {a.threads}")
    main(a.photos, a.restarts, a.tile_warm, a.threads)
