"""Paper presets on 128 px crops with a fixed, short step count: does DIP beat the input?

Usage: python benchmarks/smoke_paper_presets.py [--iters 600] [--out benchmarks/results]

Crops come from ../shared/data (never copied into the repo). Writes a JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

import deepprior
from deepprior.io import atomic_write_text, load_image
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise, downscale, upscale

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def crop(img: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return img[:, top : top + size, left : left + size].contiguous()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    rows = []

    f16 = crop(load_image(DATA / "dip-examples/denoising/F16_GT.png"), 192, 192, 128)
    noisy = add_gaussian_noise(f16, 25 / 255, seed=0)
    r = deepprior.denoise(noisy, preset="paper", iters=args.iters, gt=f16, progress=False)
    rows.append(("denoise sigma=25, F16 crop 128 (RGB PSNR)", psnr(noisy, f16), "noisy input",
                 r.metrics["psnr"], r.report))  # fmt: skip

    bf = crop(load_image(DATA / "Set5/butterfly.png"), 64, 64, 128)
    lr = downscale(bf, 4)
    r = deepprior.sr(lr, 4, preset="paper", iters=args.iters, gt=bf, progress=False)
    bic = upscale(lr, 4, "bicubic")
    rows.append(("SR x4, Set5 butterfly crop 128 (RGB PSNR)", psnr(bic, bf), "bicubic",
                 r.metrics["psnr"], r.report))  # fmt: skip

    bar = crop(load_image(DATA / "Heide11/barbara.png", channels=1), 200, 200, 128)
    r = deepprior.restore(bar, p_known=0.5, preset="paper", iters=args.iters, progress=False)
    rows.append(("50% pixels, Heide11 barbara crop 128", r.metrics["psnr_input"], "masked input",
                 r.metrics["psnr"], r.report))  # fmt: skip

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Paper presets, {args.iters} steps on 128 px crops",
        "",
        f"commit {commit}, torch {torch.__version__}, {platform.processor() or platform.machine()},"
        f" {torch.get_num_threads()} threads. Command: "
        f"`python benchmarks/smoke_paper_presets.py --iters {args.iters}`",
        "",
        "| case | baseline | baseline PSNR | DIP PSNR | gain | s/step | device | dtype |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, base, base_name, ours, rep in rows:
        lines.append(
            f"| {name} | {base_name} | {base:.2f} | {ours:.2f} | {ours - base:+.2f} | "
            f"{rep['seconds_per_iter']:.3f} | {rep['device']} | {rep['dtype']} |"
        )
    atomic_write_text(out / "smoke_paper_presets.md", "\n".join(lines) + "\n")
    atomic_write_text(
        out / "smoke_paper_presets.json",
        json.dumps([{"case": n, "baseline": b, "baseline_name": bn, "dip": o, "report": rep}
                    for n, b, bn, o, rep in rows], indent=2, default=str) + "\n",
    )  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    t = time.time()
    main()
    print(f"total {time.time() - t:.0f} s")
