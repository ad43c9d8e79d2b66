"""The auto denoiser with and without its chroma post-filter, on scikit-image photos.

For each photo: a 256×256 centre crop, Gaussian noise sigma = 25/255 (seed 0), then
``deepprior.denoise`` with the default ``auto`` preset and its post-filter set to
``--post`` (``chroma`` or ``none``). The fit is the same either way (same seed); the filter
acts on each tile's result and is kept where it lowers the error on that tile's held-out
pixels. Prints a Markdown row per photo: the PSNR, how many tiles kept the filter, and the
mean change it made per tile (0 where it was not kept), with the range of what it would have
done on each tile (the clean crop is used only to measure).

    python benchmarks/chroma_post.py coffee chelsea            # with the filter
    python benchmarks/chroma_post.py --post none coffee        # without it
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from auto_heldout import crop

import deepprior
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise
from deepprior.tasks import get_task


def main(names: list[str], post: str | None) -> None:
    torch.set_num_threads(1)
    task = get_task("denoise")
    task.presets["auto"] = replace(task.presets["auto"], post=post)
    print("| photo | post | PSNR | tiles that kept it | mean change per tile (0 where not "
          "kept) | the filter's change per tile: min, max | steps | seconds |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        clean = crop(name)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        t0 = time.perf_counter()
        res = deepprior.denoise(noisy, gt=clean, progress=False, metrics_every=10)
        secs = time.perf_counter() - t0
        posts = [f["post"][-1] for f in res.report["tiles"]["fits"] if f.get("post")]
        kept = [p for p in posts if p["applied"]]
        gains = [p["psnr"][1] - p["psnr"][0] for p in posts]
        made = [g if p["applied"] else 0.0 for g, p in zip(gains, posts, strict=True)]
        change = (f"{sum(made) / len(made):+.3f} | {min(gains):+.3f}, {max(gains):+.3f}"
                  if gains else "— | —")  # fmt: skip
        print(f"| {name} | {post or 'none'} | {psnr(res.image, clean):.2f} "
              f"| {len(kept)} of {len(posts)} | {change} | {res.report['iters_run']} "
              f"| {secs:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="The auto denoiser's chroma post-filter.")
    p.add_argument("photos", nargs="*", default=["coffee", "chelsea"])
    p.add_argument("--post", default="chroma", help="chroma or none")
    a = p.parse_args()
    main(a.photos, None if a.post == "none" else a.post)
