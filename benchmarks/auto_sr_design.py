"""The measurements behind the ``auto`` SR preset's net and step cap.

Each run fits the x4 SR of one 256x256 centre crop of a scikit-image photo (its LR: the 8-bit
crop resized by 1/4 with PIL's Lanczos, as the bench) with the ``skip`` net of a given width,
fixed steps, LR 0.01 (constant or cosine), sigma_p = 1/30, EMA 0.99, and records every 20 steps
the Y-PSNR (4-px border) of the iterate and of its EMA, the seconds so far, and the held-out
loss of the EMA (5 % of the LR pixels left out of the fit, as the auto preset).

    python benchmarks/auto_sr_design.py n32,n64 astronaut,coffee,chelsea --out DIR
    python benchmarks/auto_sr_design.py summary DIR

CPU, fp32, one thread. The photos are not part of any table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from auto_heldout import crop  # the same centre crops of scikit-image's photos

from deepprior.bench.data import lanczos_lr_8bit
from deepprior.bench.protocols import psnr_y
from deepprior.fit import Callback, Schedule, fit
from deepprior.nets import create_net, make_input
from deepprior.ops import DataTerm, Downsample, upscale
from deepprior.stopping import HoldoutStop

CONFIGS = {
    "n32": {"n_d": [32] * 5, "lr": 0.01, "iters": 2000},
    "n64": {"n_d": [64] * 5, "lr": 0.01, "iters": 2000},
    "n32L": {"n_d": [32] * 5, "lr": 0.01, "iters": 4000},
    "n32c": {"n_d": [32] * 5, "lr": 0.02, "iters": 3000, "schedule": "cosine"},
    "n32c1": {"n_d": [32] * 5, "lr": 0.01, "iters": 3000, "schedule": "cosine"},
    "n32z8": {"n_d": [32] * 5, "lr": 0.01, "iters": 3000, "z": 8},
    "n32z32": {"n_d": [32] * 5, "lr": 0.01, "iters": 3000},
}


class _Record(Callback):
    every = 20

    def __init__(self, hr: torch.Tensor, rule: HoldoutStop) -> None:
        self.hr, self.rule, self.rows = hr, rule, []

    def on_step(self, info) -> None:  # noqa: ANN001
        self.rows.append({
            "step": info.step, "seconds": round(info.elapsed, 2),
            "psnr_y": psnr_y(info.output[0], self.hr), "psnr_y_ema": psnr_y(info.ema[0], self.hr),
            "heldout_ema": self.rule.score(info.ema, info),
        })  # fmt: skip


def run(config: str, name: str) -> dict:
    cfg = CONFIGS[config]
    hr = crop(name)
    lr = lanczos_lr_8bit(hr, 4)
    torch.manual_seed(0)
    nz = cfg.get("z", 32)  # channels of z
    net = create_net("skip", nz, 3, n_d=cfg["n_d"], n_s=4)
    z = make_input("noise", nz, tuple(hr.shape[-2:]), generator=torch.Generator().manual_seed(0))
    rule = HoldoutStop(fraction=0.05)
    term = rule.attach(DataTerm(lr, Downsample(4)))
    rec = _Record(hr, rule)
    sched = Schedule(iters=cfg["iters"], lr=cfg["lr"], input_noise=1 / 30, ema=0.99,
                     backtrack_db=5.0, lr_schedule=cfg.get("schedule", "constant"))  # fmt: skip
    t0 = time.time()
    fit(net, z, term, sched, callbacks=[rec])
    return {
        "config": config, "settings": cfg, "image": name, "seconds": round(time.time() - t0, 1),
        "bicubic": psnr_y(upscale(lr, 4, "bicubic"), hr),
        "lanczos": psnr_y(upscale(lr, 4, "lanczos"), hr), "rows": rec.rows,
    }  # fmt: skip


def summary(folder: Path) -> str:
    lines = [
        "| net | photo | steps | s | best EMA Y-PSNR (step) | at 2000 steps (s) | bicubic "
        "| Lanczos |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(folder.glob("*.json")):
        r = json.loads(p.read_text())
        rows = r["rows"]
        best = max(rows, key=lambda q: q["psnr_y_ema"])
        at = next((q for q in rows if q["step"] >= 2000), rows[-1])
        lines.append(
            f"| {r['config']} | {r['image']} | {rows[-1]['step']} | {r['seconds']:.0f} | "
            f"{best['psnr_y_ema']:.2f} ({best['step']}) | {at['psnr_y_ema']:.2f} "
            f"({at['seconds']:.0f}) | {r['bicubic']:.2f} | {r['lanczos']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("configs")
    ap.add_argument("photos", nargs="?")
    ap.add_argument("--out", default="sr_design")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.configs == "summary":
        print(summary(Path(a.photos)), end="")
    else:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        for c in a.configs.split(","):
            for n in a.photos.split(","):
                r = run(c, n)
                (out / f"{c}_{n}.json").write_text(json.dumps(r) + "\n")
