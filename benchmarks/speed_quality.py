"""Does the fast path reach the same PSNR as the fp32 baseline? (issue: results stay the same)

Runs each case twice through the public API, once with ``precision="fp32"`` (fp32, NCHW: the
baseline) and once with the default path (bf16 autocast + channels-last where the hardware
has fast bf16), with the same seed, and records PSNR and seconds per step.

Usage:
    python benchmarks/speed_quality.py [--cases sr denoise] [--precisions auto fp32]
                                       [--seeds 0 1 ...] [--out benchmarks/results]

Cases (read from $DEEPPRIOR_DATA, else ../shared/data; never copied into the repo):
    sr       x4 SR of Set5 butterfly, paper preset (2000 steps), RGB and Y PSNR.
    denoise  sigma=25 denoising of a 256x256 crop of F16, paper preset (1800 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import deepprior
from deepprior.io import atomic_write_text, load_image
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise, downscale

DATA = Path(
    os.environ.get("DEEPPRIOR_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


def run_case(case: str, precision: str, iters: int | None, seed: int = 0) -> dict:
    if case == "sr":
        hr = load_image(DATA / "Set5/butterfly.png")
        lr = downscale(hr, 4)
        r = deepprior.sr(lr, 4, preset="paper", iters=iters, gt=hr, precision=precision,
                         seed=seed, progress=False)  # fmt: skip
        extra = {"psnr_y_border4": psnr(r.image, hr, border=4, y_channel=True)}
    else:
        f16 = load_image(DATA / "dip-examples/denoising/F16_GT.png")[:, 128:384, 128:384]
        noisy = add_gaussian_noise(f16.contiguous(), 25 / 255, seed=0)
        r = deepprior.denoise(noisy, preset="paper", iters=iters, gt=f16, precision=precision,
                              seed=seed, progress=False)  # fmt: skip
        extra = {"psnr_last": r.metrics.get("psnr_last")}
    return {
        "case": case,
        "precision": precision,
        "seed": seed,
        "dtype": r.report["dtype"],
        "iters": r.report["iters_run"],
        "psnr": r.metrics["psnr"],
        **extra,
        "s_per_step": r.report["seconds_per_iter"],
        "seconds": r.report["seconds"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["sr", "denoise"], choices=["sr", "denoise"])
    ap.add_argument("--precisions", nargs="+", default=["auto", "fp32"], choices=["auto", "fp32"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of the fits")
    ap.add_argument("--iters", type=int, default=None, help="override the presets' steps")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "speed_quality.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip

    def key(r: dict) -> tuple:
        return r["case"], r["precision"], r.get("seed", 0)

    for case in args.cases:
        for seed in args.seeds:
            for precision in args.precisions:
                t = time.time()
                row = run_case(case, precision, args.iters, seed)
                row["commit"] = commit
                rows = [r for r in rows if key(r) != key(row)] + [row]
                atomic_write_text(path, json.dumps(rows, indent=2) + "\n")
                print(f"{case} {precision} seed {seed}: {row['psnr']:.2f} dB, "
                      f"{row['s_per_step']:.3f} s/step ({time.time() - t:.0f} s)",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
