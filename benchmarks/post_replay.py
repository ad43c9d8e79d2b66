"""The chroma post-filter replayed on the finished tiles of a CBM3D9 ``auto`` bench run.

A tile's fit is not changed by the post-filter, and everything its held-out decision needs is
reproducible: the bench's noisy image (its per-image seed), the tile's place (the manifest)
and the held-out pixels (the rule's seeded mask at the tile's size). So a bench run's
finished tiles, copied while it runs (a run removes ``IMAGE.dip.tiles/`` when it ends), give
the filter's effect on the very fits the table measured, with no fitting:

    python benchmarks/post_replay.py kodim02.dip.tiles [more folders]

Prints a Markdown row per folder: tiles, the PSNR over the tiles (the tiles' mean MSE) before
and after, how many tiles kept the filter, and the per-tile change. The replay checks itself:
each tile's held-out error of its output must equal the best score its fit recorded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from deepprior.bench.data import dataset_image, image_seed, resolve_data_dir
from deepprior.io import load_image
from deepprior.ops import DataTerm, add_gaussian_noise
from deepprior.stopping import HoldoutStop
from deepprior.tasks.base import _post_filter
from deepprior.tasks.presets import HOLDOUT


def replay(folder: Path, data_dir: Path, sigma: float = 25.0, seed: int = 0) -> str:
    name = folder.name.removesuffix(".tiles").removesuffix(".dip")
    gt = load_image(dataset_image(data_dir, "CBM3D9", name), channels=3)
    noisy = add_gaussian_noise(gt, sigma / 255, seed=image_seed(seed, name))
    records = json.loads((folder / "manifest.json").read_text())["records"]
    before, after, kept, gains = [], [], 0, []
    for key, rec in sorted(records.items(), key=lambda kv: int(kv[0])):
        t0, t1, l0, l1 = rec["fit"]
        img = torch.from_numpy(np.load(folder / f"tile_{int(key):03d}.npz")["image"]).float()
        clean = gt[:, t0:t1, l0:l1]
        rule = HoldoutStop(fraction=HOLDOUT["fraction"])
        rule.attach(DataTerm(noisy[:, t0:t1, l0:l1]))
        out, (post,) = _post_filter("chroma", SimpleNamespace(callbacks=[rule]), img, clean)
        best = min(rec["curve"]["rule_score"])
        if abs(post["heldout_mse"][0] / best - 1) > 1e-3:
            got = post["heldout_mse"][0]
            raise SystemExit(f"{folder}: tile {key} does not replay (held-out error "
                             f"{got:.6g} against its fit's {best:.6g})")  # fmt: skip
        kept += post["applied"]
        before.append(float((img - clean).square().mean()))
        after.append(float((out - clean).square().mean()))
        gains.append(post["psnr"][1] - post["psnr"][0])
    pb, pa = (-10 * np.log10(np.mean(v)) for v in (before, after))
    return (f"| {name} | {len(records)} | {pb:.2f} | {pa:.2f} | {pa - pb:+.3f} | {kept} "
            f"| {np.mean(gains):+.3f} ({min(gains):+.3f}, {max(gains):+.3f}) |")  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Replay the chroma post-filter on bench tiles.")
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--data-dir", default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    print("| image | tiles | PSNR over the tiles | with the filter | change | tiles filtered "
          "| tile change: mean (min, max) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for f in a.folders:
        print(replay(f, resolve_data_dir(a.data_dir)), flush=True)
