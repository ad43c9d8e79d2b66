"""Shorter stopping rules for the auto denoiser, judged after its post-filters, on photos the
project is not tuned on (scikit-image's bundled colour photos).

For each photo: a centre crop of about a tile's size (one fit, no tiles), Gaussian noise
sigma = 25/255 (seed 0), then ``deepprior.denoise`` with the default ``auto`` preset. Beside
the preset's own rule (patience 200) run "shadow" rules that watch the same fit and the same
held-out pixels but only note where they would have stopped and the image they would have
kept; each kept image then goes through the preset's post-filters as the fit's own does. So
every rule is compared on one fit, and the difference between rules is the rule alone. The
clean crop is used only to measure.

    python benchmarks/stop_rules.py astronaut chelsea coffee rocket
    python benchmarks/stop_rules.py --lr 0.02 astronaut   # the fit with another learning rate

Prints a Markdown row per photo and rule: steps to the stop, PSNR before and after the
post-filters, and the change against the preset's rule.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from types import SimpleNamespace

import torch
from auto_heldout import crop

import deepprior
from deepprior.fit import Callback, StepInfo
from deepprior.metrics import psnr
from deepprior.ops import DataTerm, add_gaussian_noise
from deepprior.stopping import HoldoutStop
from deepprior.tasks import get_task
from deepprior.tasks.base import _post_filter
from deepprior.tasks.presets import HOLDOUT

#: (patience, min_delta) of the rules compared with the preset's.
RULES = [(150, 0.0), (100, 0.0), (200, 0.001), (150, 0.001), (100, 0.001), (150, 0.002)]


class Shadow(Callback):
    """A holdout rule that watches a fit without ending it: it records its stop and image."""

    def __init__(self, noisy: torch.Tensor, patience: int, min_delta: float) -> None:
        kw = {**HOLDOUT, "patience": patience, "min_delta": min_delta}
        self.rule = HoldoutStop(**kw)
        self.rule.attach(DataTerm(noisy))  # the fit's mask: same fraction, same seed
        self.every = self.rule.every
        self.stop: int | None = None

    def on_step(self, info: StepInfo) -> None:
        if self.stop is None:
            self.rule.on_step(replace(info, request_stop=self._stopped))

    def _stopped(self, reason: str) -> None:
        self.stop = self.rule.stop_step


def main(names: list[str], size: int, lr: float | None) -> None:
    post = get_task("denoise").presets["auto"].post
    print("| photo | lr | rule (patience, min_delta) | steps | saved | DIP | output | change |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name in names:
        clean = crop(name, size)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        shadows = [Shadow(noisy, p, d) for p, d in [(HOLDOUT["patience"], 0.0), *RULES]]
        res = deepprior.denoise(noisy, gt=clean, progress=False, callbacks=shadows, lr=lr)
        if "tiles" in res.report:
            raise SystemExit(f"{name}: {size} px was tiled; use a crop that one fit covers")
        steps = res.report["iters_run"]
        out = psnr(res.image, clean)
        dip = res.report["post"][0]["psnr"][0]
        control = shadows.pop(0)  # the preset's own rule, replayed: must match the fit's
        if control.rule.best_step != res.report["best_step"]:
            raise SystemExit(f"{name}: the replayed rule is not the fit's")
        rate = res.report["settings"]["lr"]
        print(f"| {name} | {rate:g} | preset ({HOLDOUT['patience']}, 0) | {steps} | — | {dip:.2f} "
              f"| {out:.2f} | — |", flush=True)  # fmt: skip
        for (p, d), sh in zip(RULES, shadows, strict=True):
            image = sh.rule.best.float()[0]
            filtered, _ = _post_filter(post, SimpleNamespace(callbacks=[sh.rule]), image, clean)
            s = sh.stop or steps
            o, fit_psnr = psnr(filtered, clean), psnr(image, clean)
            print(f"| {name} | {rate:g} | ({p}, {d:g}) | {s} | {1 - s / steps:.0%} "
                  f"| {fit_psnr:.2f} | {o:.2f} | {o - out:+.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Shorter stopping rules, after the post-filters.")
    p.add_argument("photos", nargs="*", default=["coffee", "chelsea"])
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--lr", type=float, default=None, help="the fit's learning rate (auto: 0.01)")
    a = p.parse_args()
    main(a.photos, a.size, a.lr)
