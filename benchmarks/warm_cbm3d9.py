"""Warm-started tiles on CBM3D9 images: the auto denoiser with ``tile_warm=True`` against the
committed cold records of ``deepprior bench denoise --preset auto``.

Each image gets the table's noise (sigma 25, the table's per-image seed) and is restored as
the table restores it (``auto`` preset, fp32, two tile workers of one thread each), but every
tile after the first of its row starts from its left neighbour's end weights. The printed row
compares PSNR, total tile steps and wall seconds with the record in
``benchmarks/results/denoise-CBM3D9-sigma25-auto/`` (seconds compare only when the record
ran on the same kind of CPU; the script prints the record's CPU flags).

    OMP_NUM_THREADS=1 python benchmarks/warm_cbm3d9.py image_Peppers512rgb kodim12
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from deepprior.bench import data as bd
from deepprior.device import cpu_flags
from deepprior.io import load_image
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise
from deepprior.tasks import get_task
from deepprior.tiling import solve_maybe_tiled

RECORDS = Path(__file__).parent / "results" / "denoise-CBM3D9-sigma25-auto"


def main(names: list[str]) -> None:
    torch.set_num_threads(2)
    data_dir = bd.resolve_data_dir(None)
    print("| image | cold PSNR | warm PSNR | change | cold steps | warm steps | steps ratio "
          "| cold s (CPU) | warm s (CPU) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    here = "avx512" if any(f.startswith("avx512") for f in cpu_flags()) else "avx2"
    for name in names:
        rec = json.loads((RECORDS / f"{name}.json").read_text())
        cold_fit = rec["fits"]["dip"]
        flags = rec["host"].get("cpu_flags") or []
        there = "avx512" if any(f.startswith("avx512") for f in flags) else "avx2"
        gt = load_image(bd.dataset_image(data_dir, "CBM3D9", name), channels=3)
        noisy = add_gaussian_noise(gt, 25 / 255, seed=bd.image_seed(0, name))
        t0 = time.perf_counter()
        res = solve_maybe_tiled(get_task("denoise"), noisy, preset="auto", seed=0,
                                device="cpu", precision="fp32", gt=gt, progress=False,
                                metrics_every=10, tile_jobs=2, tile_warm=True)  # fmt: skip
        secs = time.perf_counter() - t0
        cold_p, warm_p = rec["metrics"]["dip"]["psnr"], psnr(res.image, gt)
        cold_n, warm_n = cold_fit["iters_run"], res.report["iters_run"]
        print(f"| {name} | {cold_p:.2f} | {warm_p:.2f} | {warm_p - cold_p:+.2f} | {cold_n} | "
              f"{warm_n} | {warm_n / cold_n:.2f} | {cold_fit['seconds']:.0f} ({there}) | "
              f"{secs:.0f} ({here}) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+", help="CBM3D9 image names (as in the records)")
    main(ap.parse_args().names)
