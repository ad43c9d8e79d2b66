"""Restore a Heide11 image from 50 % of its pixels in tiles, each stopped by itself.

The ``restore`` auto preset fits the whole image: on a 512² image its 12000-step cap takes
about 3.4 h of this CPU. The ``auto`` denoiser works in 160 px tiles, each fitted and stopped
on its own, because a fit's steps to its best iterate grow with the content it must
reproduce. This experiment runs the restore auto preset the same way (``tile=160``) on the
bench's input (the image in grayscale, the bench's seeded Bernoulli mask), so its PSNR and
steps compare with the whole-image record of ``deepprior bench inpaint --preset auto``:

    python benchmarks/restore_tiles.py Cameraman256 out.json
    python benchmarks/restore_tiles.py peppers256 out.json --tile 160

``photo:NAME`` is instead the 256 px centre crop of a scikit-image photo (not part of any
table) in 8-bit BT.601 luma, with a mask of seed 0, as ``auto_restore_design.py`` makes it;
``--tile 0`` fits the whole image (the preset as it is), for the comparison on such a photo:

    python benchmarks/restore_tiles.py photo:astronaut out.json --tile 0

One thread, fp32, on the CPU (as the records were made).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from deepprior.bench.data import dataset_image, image_seed, resolve_data_dir
from deepprior.io import load_image
from deepprior.ops import bernoulli_mask
from deepprior.tasks.registry import get_task


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("image", help="a Heide11 image name, e.g. Cameraman256")
    p.add_argument("out")
    p.add_argument("--tile", type=int, default=160, help="tile side (px); 0: the whole image")
    p.add_argument("--data-dir", default=None, help="as bench's (default: ../shared/data)")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.image.startswith("photo:"):
        from auto_restore_design import gray

        gt, seed = gray(a.image.removeprefix("photo:")), 0
    else:
        path = dataset_image(resolve_data_dir(a.data_dir), "Heide11", a.image)
        gt, seed = load_image(path, channels=1), image_seed(0, a.image)
    mask = bernoulli_mask(tuple(gt.shape[-2:]), 0.5, seed=seed)
    t0 = time.perf_counter()
    res = get_task("restore").solve(gt * mask, mask, tile=a.tile or "off", preset="auto", gt=gt,
                                    precision="fp32", device="cpu", progress=False)  # fmt: skip
    fits = res.report["tiles"]["fits"] if a.tile else [res.report]
    report = {
        "image": a.image, "tile": a.tile, "psnr": res.metrics["psnr"],
        "steps": res.report["iters_run"], "seconds": round(time.perf_counter() - t0, 1),
        "fits": [{k: f.get(k) for k in ("iters_run", "best_step", "stop_reason", "psnr",
                                        "best_psnr", "best_psnr_step")} for f in fits],
    }  # fmt: skip
    Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "fits"}))


if __name__ == "__main__":
    main()
