"""Warm-started tiles: does a tile's fit reach its stop in fewer steps when its net starts
from the weights a neighbouring tile's fit ended with, and at what cost in PSNR?

For each scikit-image photo: a strip of three tiles of 160 px in a row, overlapping by 32 px
as the tiler lays them, Gaussian noise sigma = 25/255 (seed 0) on the whole strip. Every tile
is fitted cold (the ``auto`` preset as it is), and tiles 2 and 3 are fitted again starting
from the weights the previous tile's *warm* fit ended with (tile 2 from tile 1's cold fit), as
a chain of tiles in one worker would. Everything else (z, stopping rule, post-filters) is the
preset's. The clean strip is used only to measure.

    python benchmarks/warm_tiles.py astronaut coffee chelsea
    python benchmarks/warm_tiles.py --warm-only astronaut   # tiles 2 and 3 warm only
    python benchmarks/warm_tiles.py --warm-only --by-position astronaut  # as a tiled run

Prints a Markdown row per tile: steps and PSNR cold and warm.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import skimage.data
import torch

import deepprior
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise

TILE, STRIDE, N = 160, 128, 3


def strip(name: str) -> torch.Tensor:
    a = getattr(skimage.data, name)()[..., :3]
    t = torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)
    _, h, w = t.shape
    width = TILE + STRIDE * (N - 1)
    top, left = (h - TILE) // 2, (w - width) // 2
    return t[:, top : top + TILE, left : left + width].contiguous()


#: With ``--by-position``: the held-out pixels chosen by their place in the strip, as a
#: warm-started tiled run chooses them (``HoldoutStop(origin=)``); None: per tile.
ORIGIN_STOP: dict | None = None


def fit(noisy: torch.Tensor, clean: torch.Tensor, weights, left: int = 0) -> tuple:  # noqa: ANN001
    """One tile's fit, from ``weights`` (None: a random draw); its end weights come last."""
    t0 = time.perf_counter()
    extra = {} if ORIGIN_STOP is None else {"stop_kwargs": {**ORIGIN_STOP, "origin": (0, left)}}
    res = deepprior.denoise(noisy, gt=clean, progress=False, init_weights=weights, **extra)
    secs = time.perf_counter() - t0
    assert "tiles" not in res.report
    dip = res.report["post"][0]["psnr"][0]
    best = max(res.history["psnr_ema"])
    return res.report["iters_run"], dip, psnr(res.image, clean), best, secs, res.weights


def main(names: list[str], warm_only: bool = False) -> None:
    torch.set_num_threads(1)
    print("| photo | tile | cold steps | warm steps | cold DIP / output | warm DIP / output "
          "| best EMA cold / warm | output change |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        clean_strip = strip(name)
        noisy_strip = add_gaussian_noise(clean_strip, 25 / 255, seed=0)
        warm_w = None
        for i in range(N):
            sl = slice(i * STRIDE, i * STRIDE + TILE)
            clean, noisy = clean_strip[..., sl], noisy_strip[..., sl]
            c = fit(noisy, clean, None, i * STRIDE) if i == 0 or not warm_only else None
            if i == 0:
                warm_w = c[5]
                print(f"| {name} | 1 | {c[0]} | — | {c[1]:.2f} / {c[2]:.2f} | — | {c[3]:.2f} / — "
                      "| — |", flush=True)  # fmt: skip
                continue
            w = fit(noisy, clean, warm_w, i * STRIDE)
            warm_w = w[5]
            if c is None:
                print(f"| {name} | {i + 1} | — | {w[0]} | — | {w[1]:.2f} / {w[2]:.2f} | "
                      f"— / {w[3]:.2f} | — |", flush=True)  # fmt: skip
                continue
            print(f"| {name} | {i + 1} | {c[0]} | {w[0]} | {c[1]:.2f} / {c[2]:.2f} | "
                  f"{w[1]:.2f} / {w[2]:.2f} | {c[3]:.2f} / {w[3]:.2f} | {w[2] - c[2]:+.2f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+", help="scikit-image photo names")
    ap.add_argument(
        "--warm-only",
        action="store_true",
        help="fit tiles 2 and 3 warm only (their cold rows are known)",
    )
    ap.add_argument(
        "--by-position",
        action="store_true",
        help="hold out pixels by their place in the strip, as a warm tiled run does",
    )
    args = ap.parse_args()
    if args.by_position:
        from deepprior.tasks import get_task

        ORIGIN_STOP = dict(get_task("denoise").preset("auto").stop_kwargs)
    main(args.names, args.warm_only)
