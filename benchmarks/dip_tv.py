"""The auto denoiser with a total-variation term added to its loss (DIP-TV).

Liu et al. (2019) report that ``||x - y||^2 + lambda * TV(x)`` with ``x = f(z)`` denoises
better than the plain Deep Image Prior loss: the TV term slows the fitting of the noise. This
measures it on one auto tile: the 144x144 centre crop of scikit-image photos, sigma = 25
(noise seed 0), the default ``auto`` preset (32 filters, held-out stop, fp32), with the TV
weight of ``deepprior.ops.total_variation`` (mean over pixels of |dx| + |dy|) set to each
lambda (``tv_weight``); lambda 0 is the auto preset as it is.

    OMP_NUM_THREADS=1 python benchmarks/dip_tv.py --weights 0,0.01,0.03 coffee chelsea
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from auto_heldout import crop  # the same crops (benchmarks/ is on the path of a script)

import deepprior
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise


def main(names: list[str], weights: list[float], size: int, out: str | None) -> None:
    torch.set_num_threads(1)
    head = (f"λ = {w:g} (steps, s; best on the curve)" for w in weights)
    print("| photo | " + " | ".join(head) + " |")
    print("|---|" + "---:|" * len(weights))
    rows = []
    for name in names:
        clean = crop(name, size)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        cells, row = [], {"photo": name, "runs": []}
        for w in weights:
            t0 = time.perf_counter()
            res = deepprior.denoise(
                noisy, progress=False, precision="fp32", tv_weight=w, gt=clean, metrics_every=10
            )  # gt: the curve, not the stop
            secs = time.perf_counter() - t0
            p, n = psnr(res.image, clean), res.report["iters_run"]
            curve = [round(v, 3) for v in res.history["psnr_ema"]]
            best = max(range(len(curve)), key=curve.__getitem__)
            cells.append(f"{p:.2f} ({n}, {secs:.0f}; best {curve[best]:.2f})")
            row["runs"].append(
                {
                    "tv_weight": w,
                    "psnr": p,
                    "steps": n,
                    "seconds": secs,
                    "step": res.history["psnr_step"],
                    "psnr_ema": curve,
                }
            )
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        rows.append(row)
    if out:
        with open(out, "w") as f:
            json.dump({"size": size, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", default=["coffee", "chelsea"])
    ap.add_argument("--weights", default="0,0.01,0.03", help="comma-separated TV weights")
    ap.add_argument("--size", type=int, default=144, help="crop side (px)")
    ap.add_argument("--out", help="also write the rows as JSON here")
    args = ap.parse_args()
    main(args.names, [float(w) for w in args.weights.split(",")], args.size, args.out)
