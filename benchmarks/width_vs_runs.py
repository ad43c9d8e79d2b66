"""One 32-filter fit against two 16-filter fits averaged, at about the same cost.

A 16-filter net's step takes about half a 32-filter one's on a CPU in fp32 (0.049 against
0.091 s at a 160 px tile, ``python benchmarks/step_time.py 16 160 60``), and averaging two
independent fits of the same noisy pixels gains 0.3-0.6 dB (docs/auto.md, "Two fits
averaged"). This measures whether two narrow fits beat one wide fit for the same seconds.

On the 144x144 centre crop of scikit-image photos (one tile of the auto denoiser),
sigma = 25 (noise seed 0), the default ``auto`` preset but for the width: the PSNR, steps and
seconds of each fit, and the PSNR of the mean of the two narrow fits.

    OMP_NUM_THREADS=1 python benchmarks/width_vs_runs.py coffee chelsea
    OMP_NUM_THREADS=1 python benchmarks/width_vs_runs.py --narrow 24 coffee
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


def run(noisy: torch.Tensor, width: int, seed: int, precision: str) -> tuple:
    t0 = time.perf_counter()
    res = deepprior.denoise(noisy, progress=False, seed=seed, precision=precision,
                            net_kwargs={"n_d": [width] * 5, "n_s": 4})  # fmt: skip
    return res.image, res.report["iters_run"], time.perf_counter() - t0


def main(names: list[str], narrow: int, size: int, precision: str, out: str | None) -> None:
    torch.set_num_threads(1)
    print(f"| photo | 32 filters (steps, s) | {narrow} filters, seed 0 (steps, s) "
          f"| {narrow} filters, seed 1 (steps, s) | mean of the two {narrow}-filter fits "
          "| gain over 32 | seconds, two / one |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name in names:
        clean = crop(name, size)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        wide = run(noisy, 32, 0, precision)
        a, b = run(noisy, narrow, 0, precision), run(noisy, narrow, 1, precision)
        p = {k: psnr(r[0], clean) for k, r in (("wide", wide), ("a", a), ("b", b))}
        p["mean"] = psnr((a[0] + b[0]) / 2, clean)
        ratio = (a[2] + b[2]) / wide[2]
        cell = {k: f"{p[k]:.2f} ({r[1]}, {r[2]:.0f})" for k, r in (("wide", wide), ("a", a),
                                                                    ("b", b))}  # fmt: skip
        print(f"| {name} | {cell['wide']} | {cell['a']} | {cell['b']} | {p['mean']:.2f} "
              f"| {p['mean'] - p['wide']:+.2f} | {ratio:.2f} |", flush=True)  # fmt: skip
        rows.append({"photo": name, "psnr": p, "steps": [wide[1], a[1], b[1]],
                     "seconds": [wide[2], a[2], b[2]]})  # fmt: skip
    if out:
        with open(out, "w") as f:
            json.dump({"narrow": narrow, "size": size, "precision": precision, "rows": rows}, f,
                      indent=1)  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", default=["coffee", "chelsea"])
    ap.add_argument("--narrow", type=int, default=16, help="filters of the two narrow nets")
    ap.add_argument("--size", type=int, default=144, help="crop side (px)")
    ap.add_argument("--precision", default="fp32", help="fp32, bf16 or auto")
    ap.add_argument("--out", help="also write the rows as JSON here")
    args = ap.parse_args()
    main(args.names, args.narrow, args.size, args.precision, args.out)
