"""The auto denoiser's post-filters, one at a time, on scikit-image photos.

For each photo: a 192×192 centre crop (one fit, no tiles), Gaussian noise sigma = 25/255
(seed 0), then ``deepprior.denoise`` with the default ``auto`` preset. Its report records,
for each post-filter in turn, the PSNR before and after and whether the held-out pixels kept
it; the script also applies the chroma filter alone to the fit's result (the earlier
default, which kept it where the held-out pixels agreed) for comparison. The clean crop is
used only to measure.

    python benchmarks/wiener_post.py astronaut chelsea coffee rocket

Prints a Markdown row per photo.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from types import SimpleNamespace

import torch
from auto_heldout import crop

import deepprior
from deepprior.metrics import psnr
from deepprior.ops import DataTerm, add_gaussian_noise
from deepprior.ops.post import POST_FILTERS
from deepprior.stopping import HoldoutStop
from deepprior.tasks import get_task
from deepprior.tasks.base import _post_filter
from deepprior.tasks.presets import HOLDOUT


def main(names: list[str], size: int) -> None:
    task = get_task("denoise")
    auto = task.presets["auto"]
    seen: list[torch.Tensor] = []
    POST_FILTERS["_seen"] = lambda x, data: seen.append(x.clone())  # records, never applies
    task.presets["auto"] = replace(auto, post=f"_seen+{auto.post}")
    print("| photo | steps | seconds | DIP | chroma alone (kept?) | Wiener (kept?) | then chroma "
          "(kept?) | output | output - chroma alone |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        clean = crop(name, size)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        seen.clear()
        t0 = time.perf_counter()
        res = deepprior.denoise(noisy, gt=clean, progress=False)
        secs = time.perf_counter() - t0
        if "tiles" in res.report:
            raise SystemExit(f"{name}: {size} px was tiled; use a crop that one fit covers")
        wiener, chroma = res.report["post"][1:]
        rule = HoldoutStop(fraction=HOLDOUT["fraction"])  # the fit's mask (same seed)
        rule.attach(DataTerm(noisy))
        alone, (rec,) = _post_filter("chroma", SimpleNamespace(callbacks=[rule]), seen[0], clean)
        if rec["heldout_mse"][0] != wiener["heldout_mse"][0]:
            raise SystemExit(f"{name}: the replayed held-out pixels are not the fit's")
        out = psnr(res.image, clean)

        def cell(r: dict) -> str:
            return f"{r['psnr'][1]:.2f} ({'yes' if r['applied'] else 'no'})"

        print(f"| {name} | {res.report['iters_run']} | {secs:.0f} | {wiener['psnr'][0]:.2f} "
              f"| {cell(rec)} | {cell(wiener)} | {cell(chroma)} | {out:.2f} "
              f"| {out - psnr(alone, clean):+.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="The auto denoiser's post-filters, one at a time.")
    p.add_argument("photos", nargs="*", default=["coffee", "chelsea"])
    p.add_argument("--size", type=int, default=192)
    a = p.parse_args()
    main(a.photos, a.size)
