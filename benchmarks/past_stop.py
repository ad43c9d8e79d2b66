"""Run one tile of a Heide11 restoration past its held-out stop: was the stop early?

The bench's stop gap (best PSNR on a fit's curve minus its output) only sees the steps the fit
ran, so a stop that ends a still-rising fit looks harmless. This refits one tile of the bench's
input (the image in grayscale, its seeded 50 % Bernoulli mask, as
``deepprior bench inpaint --preset auto`` makes it) with the ``restore`` auto preset and a
patience no fit reaches, records the PSNR (EMA) and held-out curves to ``--iters`` steps, and
prints where the rule would have stopped and what the longer run reached:

    python benchmarks/past_stop.py montage 0 144 0 144 out.json
    python benchmarks/past_stop.py montage 112 256 0 144 out.json --iters 4000

The box is the tile's fitted area (``top bottom left right``, input px), as the bench record
lists it under ``fits.dip.tiles.fits[i].fit``. One thread, fp32, on the CPU. ``--replay``
prints the row of a saved ``out.json`` again; ``--filters N`` fits a net of N filters per
level instead of the preset's 32 (``--filters 64 --iters 2500``). The columns: the filters,
the rule's stop step, the PSNR of its output (the held-out best before the stop), the best
PSNR before the stop (what the bench's stop gap sees), the best in the whole run, and the
last step's.

    python benchmarks/past_stop.py --last-vs-best results/inpaint-Heide11-50pct-auto

compares, on the bench records' own curves, each tile's last EMA (at the stop) with its
output (the held-out best).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from stop_signals import _stop_at  # the held-out rule replayed on a recorded curve

import deepprior
from deepprior.bench import data as bd
from deepprior.io import load_image
from deepprior.ops import bernoulli_mask
from deepprior.tasks import get_preset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "Heide11"


def summarise(h: dict[str, list[float]], rule: dict, iters: int, secs: float) -> dict:
    """Where the rule stops on the recorded held-out curve, and the PSNR there and beyond."""
    curve = {int(s): v for s, v in zip(h["psnr_step"], h["psnr_ema"], strict=True)}
    steps = [int(s) for s in h["holdout_step"]]
    kept, stop = _stop_at(steps, h["holdout_score"], rule["patience"], rule["min_steps"],
                          rule.get("min_delta", 0.0))  # fmt: skip
    stop = steps[-1] if stop is None else stop
    out_step = steps[kept]  # the output the rule returns: its held-out best so far
    best_step = max(curve, key=lambda s: curve[s])
    return {
        "iters": iters, "seconds": round(secs, 1), "rule_stop": stop,
        "rule_output_step": out_step, "psnr_rule_output": curve[out_step],
        "best_before_stop": max(v for s, v in curve.items() if s <= stop),
        "best_in_run": curve[best_step], "best_in_run_step": best_step,
        "psnr_last": h["psnr_ema"][-1],
    }  # fmt: skip


def main(
    image: str, box: tuple[int, int, int, int], out: Path, iters: int, replay: bool,
    filters: int | None = None,
) -> None:  # fmt: skip
    rule = dict(get_preset("restore", "auto").stop_kwargs or {})
    if replay:  # the row again from a saved run's curves
        saved = json.loads(out.read_text())
        h, iters, secs = saved["history"], saved["iters"], saved["seconds"]
        image, box = saved["image"], tuple(saved["box"])
        filters = saved.get("filters")
    else:
        torch.set_num_threads(1)
        gt = load_image(DATA / f"{image}.png", channels=1)
        mask = bernoulli_mask(tuple(gt.shape[-2:]), 0.5, seed=bd.image_seed(0, image))
        top, bottom, left, right = box
        g, m = gt[..., top:bottom, left:right], mask[..., top:bottom, left:right]
        t0 = time.perf_counter()
        never = {**rule, "patience": 10**9}
        net = {} if filters is None else {"net_kwargs": {"n_d": [filters] * 5, "n_s": 4}}
        res = deepprior.restore(g * m, m, gt=g, tile="off", iters=iters, metrics_every=10,
                                progress=False, stop_kwargs=never, **net)  # fmt: skip
        secs = time.perf_counter() - t0
        h = {k: [float(x) for x in v] for k, v in res.history.items()}
    row = {"image": image, "box": list(box), "filters": filters or 32,
           **summarise(h, rule, iters, secs), "history": h}  # fmt: skip
    if not replay:
        out.write_text(json.dumps(row))
    print(f"| {image} | {box[0]}:{box[1]}, {box[2]}:{box[3]} | {row['filters']} "
          f"| {row['rule_stop']} "
          f"| {row['psnr_rule_output']:.2f} | {row['best_before_stop']:.2f} "
          f"| {row['best_in_run']:.2f} (step {row['best_in_run_step']}) "
          f"| {row['psnr_last']:.2f} | {iters} | {secs:.0f} |")  # fmt: skip


def last_vs_best(folder: Path) -> None:
    """Per image of a tiled table's records: the tiles' last EMA (at the stop) against their
    output (the held-out best), from the curves the records keep; no fitting."""
    print("| image | tiles | last − output, mean | min | max | tiles where last is better |")
    print("|---|---:|---:|---:|---:|---:|")
    every: list[float] = []
    for path in sorted(folder.glob("*.json")):
        rec = json.loads(path.read_text())
        fits = ((rec.get("fits", {}).get("dip") or {}).get("tiles") or {}).get("fits") or []
        if not fits or not all("curve" in f for f in fits):
            continue
        gaps = [f["curve"]["psnr_ema"][-1] - f["psnr"] for f in fits]
        every += gaps
        print(f"| {rec['image']} | {len(gaps)} | {sum(gaps) / len(gaps):+.3f} | {min(gaps):+.2f} "
              f"| {max(gaps):+.2f} | {sum(g > 0 for g in gaps)} |")  # fmt: skip
    if every:
        print(f"| all | {len(every)} | {sum(every) / len(every):+.3f} | {min(every):+.2f} "
              f"| {max(every):+.2f} | {sum(g > 0 for g in every)} |")  # fmt: skip


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--last-vs-best"]:  # python past_stop.py --last-vs-best FOLDER
        last_vs_best(Path(sys.argv[2]))
        raise SystemExit(0)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", help="a Heide11 image name, e.g. montage")
    p.add_argument("box", type=int, nargs=4, metavar="TBLR", help="top bottom left right")
    p.add_argument("out", type=Path, help="JSON with the curves")
    p.add_argument("--iters", type=int, default=4000)
    p.add_argument("--filters", type=int, help="filters per level (the preset's: 32)")
    p.add_argument(
        "--replay",
        action="store_true",
        help="print the row of a saved OUT (its image and box, not the ones given)",
    )
    a = p.parse_args()
    main(a.image, tuple(a.box), a.out, a.iters, a.replay, a.filters)
