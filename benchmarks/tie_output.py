"""Which image should the restoration's held-out rule keep: the lowest score's, or the latest
that the score cannot tell from it (``HoldoutStop(tie_se=...)``)?

With exact observations (the Heide11 table's 50 % of the pixels) the held-out score flattens
while the fit still improves (``results/past_stop.md``), so the lowest score's image is often
an early one. With noisy observations the fit takes on noise later and the lowest score's
image is the right one. This fits one crop with the ``restore`` auto preset and a patience no
fit reaches, records every 10 steps the PSNR of its output (EMA, known pixels kept) and the
error of each held-out pixel, and replays the rule offline for several patiences and
``tie_se`` values: where it stops, which image it keeps, and that image's PSNR against the
best of the whole run.

    python benchmarks/tie_output.py photo:coffee OUT.json               # exact data
    python benchmarks/tie_output.py photo:coffee OUT.json --sigma 10    # noise of 10/255
    python benchmarks/tie_output.py heide:couple:360:512:120:272 OUT.json
    python benchmarks/tie_output.py summary OUT1.json OUT2.json ...

``photo:NAME``: the 144 px centre crop of a scikit-image photo (grayscale, BT.601 luma);
``heide:NAME:TOP:BOTTOM:LEFT:RIGHT``: a tile of the Heide11 bench's input. Both are masked
with the bench's seeded 50 % Bernoulli mask (Heide11's per-image seed; seed 0 for photos).
One thread, fp32, CPU. ``OUT.json`` keeps the curves and, at each check, how many standard
errors the held-out error is above the lowest so far (``tie_z``): the replay needs no more.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from auto_heldout import crop  # the centre crops of scikit-image's photos
from stop_signals import _stop_at

import deepprior
from deepprior.bench import data as bd
from deepprior.fit import Callback, StepInfo
from deepprior.io import load_image
from deepprior.ops import DataTerm, Mask, add_gaussian_noise, bernoulli_mask
from deepprior.stopping import HoldoutStop, excess_in_se
from deepprior.tasks import get_preset

HEIDE = Path(__file__).resolve().parents[2] / "shared" / "data" / "Heide11"
PATIENCES = (500, 750, 1000)
TIES = (0.0, 0.5, 1.0, 2.0)


def source(spec: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The clean crop (1, h, w) and its mask (1, h, w) named by ``spec``."""
    kind, _, rest = spec.partition(":")
    if kind == "photo":
        rgb = crop(rest, 144)
        gray = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]).mul(255).round().div(255)
        clean, seed = gray.unsqueeze(0), 0
    elif kind == "heide":
        name, *box = rest.split(":")
        top, bottom, left, right = map(int, box)
        whole = load_image(HEIDE / f"{name}.png", channels=1)
        seed = bd.image_seed(0, name)
        mask = bernoulli_mask(tuple(whole.shape[-2:]), 0.5, seed=seed)
        return whole[..., top:bottom, left:right], mask[..., top:bottom, left:right]
    else:
        raise SystemExit(f"unknown source {spec!r}: photo:NAME or heide:NAME:T:B:L:R")
    return clean, bernoulli_mask(tuple(clean.shape[-2:]), 0.5, seed=seed)


class _HeldOutErrors(Callback):
    """Every 10 steps: the EMA's squared error on each held-out pixel (the same pixels as the
    preset's rule, which draws them from the observation's size and seed 0)."""

    every = 10

    def __init__(self, observed: torch.Tensor, mask: torch.Tensor, fraction: float) -> None:
        self.rule = HoldoutStop(fraction=fraction)
        self.rule.attach(DataTerm(observed, Mask(mask)))
        self.rows: list[np.ndarray] = []

    def on_step(self, info: StepInfo) -> None:
        r = self.rule
        with torch.no_grad():
            err = (r.operator(info.ema.float().cpu()) - r.target).square()
        self.rows.append(err[r.val > 0].numpy().astype(np.float32))


def tie_z(errs: np.ndarray) -> list[float]:
    """At each check, how many standard errors its held-out error is above the lowest one's
    so far (:func:`deepprior.stopping.excess_in_se`; 0 at a new lowest): all that the rule's
    choice needs, for any ``tie_se`` and patience."""
    scores, best, z = errs.mean(1), 0, []
    for i in range(len(errs)):
        if scores[i] < scores[best] or i == 0:
            best = i
            z.append(0.0)
        else:
            z.append(excess_in_se(torch.from_numpy(errs[i]), torch.from_numpy(errs[best])))
    return z


def replay(row: dict, patience: int, tie_se: float) -> dict:
    """The rule's stop, and the image it keeps, on a run's recorded held-out scores."""
    steps, scores, z = row["holdout_step"], row["holdout_score"], row["tie_z"]
    _, stop = _stop_at(steps, scores, patience, row["min_steps"])
    end = len(steps) if stop is None else steps.index(stop) + 1
    best_i = kept_i = 0
    for i in range(end):
        if scores[i] < scores[best_i]:
            best_i = kept_i = i
        elif tie_se and z[i] <= tie_se:
            kept_i = i
    psnr_at = dict(zip(row["psnr_step"], row["psnr_ema"], strict=True))
    return {"stop": steps[end - 1], "kept_step": steps[kept_i], "psnr": psnr_at[steps[kept_i]]}


def run(spec: str, out: Path, iters: int, sigma: float) -> None:
    torch.set_num_threads(1)
    clean, mask = source(spec)
    obs = clean if not sigma else add_gaussian_noise(clean, sigma / 255, seed=1).clamp(0, 1)
    preset = get_preset("restore", "auto")
    rule = dict(preset.stop_kwargs or {})
    rec = _HeldOutErrors(obs * mask, mask, rule["fraction"])
    t0 = time.perf_counter()
    res = deepprior.restore(obs * mask, mask, gt=clean, tile="off", iters=iters,
                            metrics_every=10, progress=False, callbacks=[rec],
                            stop_kwargs={**rule, "patience": 10**9})  # fmt: skip
    secs = time.perf_counter() - t0
    h = res.history
    errs = np.stack(rec.rows)
    # the recorded pixels are the rule's: their mean is the rule's own score
    assert np.allclose(errs.mean(1), h["holdout_score"], rtol=1e-4), "not the rule's pixels"
    row = {"source": spec, "sigma": sigma, "iters": iters, "seconds": round(secs, 1),
           "psnr_step": [int(s) for s in h["psnr_step"]],
           "psnr_ema": [float(v) for v in h["psnr_ema"]],
           "holdout_step": [int(s) for s in h["holdout_step"]],
           "holdout_score": [float(v) for v in errs.mean(1)], "tie_z": tie_z(errs),
           "min_steps": rule["min_steps"]}  # fmt: skip
    out.write_text(json.dumps(row))
    summary([out])


def summary(paths: list[Path]) -> None:
    """A row per run: for each patience, the stop and the gap (best PSNR of the whole run
    minus the kept image's) for each ``tie_se``; then the mean gaps of the exact and the noisy
    runs."""
    head = " | ".join(f"p{p} stop | " + " | ".join(f"tie {t:g}" for t in TIES) for p in PATIENCES)
    print(f"| source | σ | best in run (step) | {head} |")
    print("|---|---:|---:|" + "---:|" * (len(PATIENCES) * (len(TIES) + 1)))
    gaps: dict[bool, list[list[float]]] = {False: [], True: []}
    for path in paths:
        row = json.loads(path.read_text())
        psnr_at = dict(zip(row["psnr_step"], row["psnr_ema"], strict=True))
        top = max(psnr_at, key=lambda s: psnr_at[s])
        cells, mine = [], []
        for p in PATIENCES:
            rs = [replay(row, p, t) for t in TIES]
            mine += [psnr_at[top] - r["psnr"] for r in rs]
            cells.append(f"{rs[0]['stop']} | " + " | ".join(f"{g:.2f}" for g in mine[-len(TIES) :]))
        gaps[bool(row["sigma"])].append(mine)
        print(f"| {row['source']} | {row['sigma']:g} | {psnr_at[top]:.2f} ({top}) "
              f"| {' | '.join(cells)} |")  # fmt: skip
    for noisy, rows in gaps.items():
        if rows:
            mean = [sum(c) / len(rows) for c in zip(*rows, strict=True)]
            worst = [max(c) for c in zip(*rows, strict=True)]
            for what, vals in (("mean", mean), ("worst", worst)):
                cells = [" | " + " | ".join(f"{v:.2f}" for v in vals[i : i + len(TIES)])
                         for i in range(0, len(vals), len(TIES))]  # fmt: skip
                print(f"| {what} of {len(rows)} {'noisy' if noisy else 'exact'} | | "
                      f"|{' |'.join(cells)} |")  # fmt: skip


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["summary"]:
        summary([Path(p) for p in sys.argv[2:]])
        raise SystemExit(0)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="photo:NAME or heide:NAME:TOP:BOTTOM:LEFT:RIGHT")
    p.add_argument("out", type=Path, help="JSON of the curves")
    p.add_argument("--iters", type=int, default=4000)
    p.add_argument("--sigma", type=float, default=0.0, help="noise std on the 0-255 scale")
    a = p.parse_args()
    run(a.source, a.out, a.iters, a.sigma)
