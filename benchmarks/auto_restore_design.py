"""The measurements behind the ``auto`` preset of restoration from 50 % of the pixels.

Each run fits one 256x256 centre crop of a scikit-image photo, made grayscale (8-bit BT.601
luma) and masked with a seeded Bernoulli mask keeping 50 % of its pixels (as the Heide11
table), with the ``skip`` net of a given width, fixed steps, a given LR, sigma_p = 1/30 and
EMA 0.99. Every 20 steps it records the PSNR of the whole image (known pixels included, as
the table) for the iterate and its EMA, and for the EMA with its known pixels replaced by the
observed ones (``psnr_keep``, the auto preset's output), the seconds so far, and the held-out
loss of the EMA (5 % of the known pixels left out of the fit, as the auto preset).

    python benchmarks/auto_restore_design.py n32,n32s astronaut,coffee --out DIR
    python benchmarks/auto_restore_design.py summary DIR
    python benchmarks/auto_restore_design.py preset astronaut    # the auto preset itself

CPU, fp32, one thread. The photos are not part of any table (``camera`` is left out: it is
Heide11's Cameraman).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from auto_heldout import crop  # the same centre crops of scikit-image's photos

from deepprior.bench.baselines import inpaint_biharmonic
from deepprior.fit import Callback, Schedule, fit
from deepprior.metrics import psnr
from deepprior.nets import create_net, make_input
from deepprior.ops import DataTerm, Mask, bernoulli_mask
from deepprior.stopping import HoldoutStop

CONFIGS = {
    # the paper's LR with the auto denoiser's 32-filter net
    "n32s": {"n_d": [32] * 5, "lr": 0.001, "iters": 6000},
    # the same net at the LR of every other preset
    "n32": {"n_d": [32] * 5, "lr": 0.01, "iters": 6000},
    "n64": {"n_d": [64] * 5, "lr": 0.01, "iters": 4000},
}


class _Record(Callback):
    every = 20

    def __init__(self, gt: torch.Tensor, mask: torch.Tensor, rule: HoldoutStop) -> None:
        self.gt, self.mask, self.rule, self.rows = gt, mask, rule, []

    def on_step(self, info) -> None:  # noqa: ANN001
        self.rows.append({
            "step": info.step, "seconds": round(info.elapsed, 2),
            "psnr": psnr(info.output[0], self.gt), "psnr_ema": psnr(info.ema[0], self.gt),
            "psnr_keep": psnr(info.ema[0] * (1 - self.mask) + self.gt * self.mask, self.gt),
            "heldout_ema": self.rule.score(info.ema, info),
        })  # fmt: skip


def gray(name: str) -> torch.Tensor:
    """The crop's 8-bit BT.601 luma, (1, 256, 256) in [0, 1]."""
    r, g, b = crop(name)
    return ((0.299 * r + 0.587 * g + 0.114 * b) * 255).round().div(255).unsqueeze(0)


def run(config: str, name: str) -> dict:
    cfg = CONFIGS[config]
    gt = gray(name)
    mask = bernoulli_mask(tuple(gt.shape[-2:]), 0.5, seed=0)
    torch.manual_seed(0)
    net = create_net("skip", 32, 1, n_d=cfg["n_d"], n_s=4)
    z = make_input("noise", 32, tuple(gt.shape[-2:]), generator=torch.Generator().manual_seed(0))
    rule = HoldoutStop(fraction=0.05)
    term = rule.attach(DataTerm(gt * mask, Mask(mask)))
    rec = _Record(gt, mask, rule)
    sched = Schedule(iters=cfg["iters"], lr=cfg["lr"], input_noise=1 / 30, ema=0.99,
                     backtrack_db=5.0)  # fmt: skip
    t0 = time.time()
    fit(net, z, term, sched, callbacks=[rec])
    return {
        "config": config, "settings": cfg, "image": name, "seconds": round(time.time() - t0, 1),
        "biharmonic": psnr(inpaint_biharmonic(gt * mask, mask), gt), "rows": rec.rows,
    }  # fmt: skip


def preset(name: str, size: int = 128) -> str:
    """One row: ``deepprior.restore`` with its default (auto) preset on the crop's centre
    ``size`` px, against biharmonic inpainting."""
    import deepprior

    gt = gray(name)
    top = (gt.shape[-1] - size) // 2
    gt = gt[:, top : top + size, top : top + size].contiguous()
    mask = bernoulli_mask((size, size), 0.5, seed=0)
    t0 = time.time()
    res = deepprior.restore(gt, p_known=0.5, progress=False, metrics_every=20, device="cpu")
    rep, secs = res.report, time.time() - t0
    oracle = max(res.history["psnr_ema"])
    return (
        f"| {name} {size}² | {res.metrics['psnr']:.2f} | {oracle:.2f} | "
        f"{oracle - res.metrics['psnr']:.2f} | {rep['iters_run']} | {rep['best_step']} | "
        f"{secs:.0f} | {psnr(inpaint_biharmonic(gt * mask, mask), gt):.2f} |"
    )


def summary(folder: Path) -> str:
    lines = [
        "| net, LR | photo | steps | s | best EMA PSNR (step) | at 2000 / 4000 steps "
        "| biharmonic |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(folder.glob("*.json")):
        r = json.loads(p.read_text())
        rows = r["rows"]
        best = max(rows, key=lambda q: q["psnr_ema"])
        at = [next((q["psnr_ema"] for q in rows if q["step"] >= s), None) for s in (2000, 4000)]
        ats = " / ".join("—" if a is None else f"{a:.2f}" for a in at)
        lines.append(
            f"| {r['config']} ({r['settings']['lr']}) | {r['image']} | {rows[-1]['step']} | "
            f"{r['seconds']:.0f} | {best['psnr_ema']:.2f} ({best['step']}) | {ats} | "
            f"{r['biharmonic']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("configs")
    ap.add_argument("photos", nargs="?")
    ap.add_argument("--out", default="restore_design")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.configs == "summary":
        print(summary(Path(a.photos)), end="")
    elif a.configs == "preset":
        print("| crop | auto | oracle | gap | steps | best step | s | biharmonic |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in a.photos.split(","):
            print(preset(n), flush=True)
    else:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        for c in a.configs.split(","):
            for n in a.photos.split(","):
                r = run(c, n)
                (out / f"{c}_{n}.json").write_text(json.dumps(r) + "\n")
