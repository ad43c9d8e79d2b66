"""What averaging two independent fits is worth, measured where tiles overlap.

Neighbouring tiles of a tiled denoise are independent fits (their own net, ``z`` and stop)
of the same noisy pixels where they overlap. On each overlap this compares each tile's
output alone with the plain mean of the two, against the clean image: the gain of a
two-fit average, as the paper's "average of two runs" or ``--restarts 2`` would give, on
the very pixels and fits the auto denoiser makes, with no extra fitting.

It reads a tiled run's folder of finished tiles (``OUTPUT_STEM.tiles/`` or a bench's
``IMAGE.dip.tiles/``: ``tile_NNN.npz`` and ``manifest.json``). A run removes that folder
when it ends, so copy it while the run is going (or stop the run), then:

    python benchmarks/tile_pairs.py kodim02.dip.tiles ../shared/data/CBM3D9/kodim02.png

Prints each overlap (at least 32 x 100 px) and the mean gains, in dB.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from deepprior.io import load_image
from deepprior.metrics import psnr

MIN_OVERLAP_PX = 32 * 100  # smaller overlaps (corners) hold too few pixels for a PSNR


def overlaps(folder: Path, clean: torch.Tensor) -> list[tuple[int, int, float, float, float]]:
    """``(tile a, tile b, PSNR of a, of b, of their mean)`` over each overlap of two
    finished tiles of ``folder``, against ``clean``."""
    records = json.loads((folder / "manifest.json").read_text())["records"]
    tiles = {}
    for key, rec in records.items():
        f = folder / f"tile_{int(key):03d}.npz"
        if f.is_file():
            with np.load(f) as data:
                tiles[int(key)] = (rec["fit"], torch.from_numpy(data["image"]))
    out = []
    for (i, (fa, a)), (j, (fb, b)) in itertools.combinations(sorted(tiles.items()), 2):
        top, bottom = max(fa[0], fb[0]), min(fa[1], fb[1])
        left, right = max(fa[2], fb[2]), min(fa[3], fb[3])
        if bottom <= top or right <= left or (bottom - top) * (right - left) < MIN_OVERLAP_PX:
            continue
        crop_a = a[:, top - fa[0] : bottom - fa[0], left - fa[2] : right - fa[2]]
        crop_b = b[:, top - fb[0] : bottom - fb[0], left - fb[2] : right - fb[2]]
        ref = clean[:, top:bottom, left:right]
        p = [psnr(x, ref) for x in (crop_a, crop_b, (crop_a + crop_b) / 2)]
        out.append((i, j, *p))
    return out


def main() -> None:
    rows = overlaps(Path(sys.argv[1]), load_image(sys.argv[2]))
    print("| tiles | PSNR a | PSNR b | mean of a and b | gain over their mean PSNR |")
    print("|---|---:|---:|---:|---:|")
    for i, j, pa, pb, pm in rows:
        print(f"| {i}, {j} | {pa:.2f} | {pb:.2f} | {pm:.2f} | {pm - (pa + pb) / 2:+.2f} |")
    gain = np.mean([pm - (pa + pb) / 2 for _, _, pa, pb, pm in rows])
    over_best = np.mean([pm - max(pa, pb) for _, _, pa, pb, pm in rows])
    print(f"\n{len(rows)} overlaps: the mean of two fits gains {gain:+.3f} dB over their mean "
          f"PSNR, {over_best:+.3f} dB over the better of the two.")  # fmt: skip


if __name__ == "__main__":
    main()
