"""The measurements behind the ``auto`` denoising preset: net width and stopping rule.

Each run fits one 128x128 crop (sigma = 25/255, seeded) for a fixed number of steps and records,
every 10 steps: the PSNR of the iterate and of its EMA against the clean crop, the held-out loss
(5 % of the pixels left out of the fit) of both, and the ES-WMV variance of the last 100 steps'
outputs. The stopping rules are then replayed on the recorded curves (no refit), so every rule
and patience is judged on the same fits.

    python benchmarks/auto_design.py fit n32,n64 House,sk_coffee,kodim01 --out DIR
    python benchmarks/auto_design.py replay DIR

Crops: the centre 128x128 of CBM3D9's House and kodim01 (from ../shared/data) and of
scikit-image's ``coffee`` (a photo the project is not tuned on). CPU, fp32, one thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from deepprior.fit import Callback, Schedule, fit
from deepprior.io import load_image
from deepprior.metrics import psnr
from deepprior.nets import create_net, make_input
from deepprior.ops import DataTerm, add_gaussian_noise

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "CBM3D9"
NETS = {"n32": [32] * 5, "n64": [64] * 5, "n128": [128] * 5}


def crop(x: torch.Tensor, s: int = 128) -> torch.Tensor:
    _, h, w = x.shape
    t, left = (h - s) // 2, (w - s) // 2
    return x[:, t : t + s, left : left + s].contiguous()


def image(name: str) -> torch.Tensor:
    if name.startswith("sk_"):
        import skimage.data

        a = getattr(skimage.data, name[3:])()
        return crop(torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1))
    files = {"House": "image_House256rgb.png", "kodim01": "kodim01.png", "kodim03": "kodim03.png"}
    return crop(load_image(DATA / files[name], channels=3))


class Record(Callback):
    """PSNR (iterate, EMA), held-out loss (iterate, EMA) and the 100-step output variance."""

    every = 5

    def __init__(self, gt: torch.Tensor, y: torch.Tensor, held: torch.Tensor) -> None:
        self.gt, self.y, self.held, self.buf, self.rows = gt[None], y[None], held, [], []

    def _held_loss(self, x: torch.Tensor) -> float:
        return float(((x - self.y).square() * self.held).sum() / self.held.sum() / 3)

    def on_step(self, info) -> None:
        out, ema = info.output.float(), info.ema
        self.buf = [*self.buf[-19:], out.clone()]
        if info.step % 10:
            return
        stack = torch.stack(self.buf)
        mean = stack.mean(0)
        self.rows.append({
            "step": info.step, "t": info.elapsed, "p": psnr(out[0], self.gt[0]),
            "pe": psnr(ema[0], self.gt[0]), "pw": psnr(mean[0], self.gt[0]),
            "var": float((stack - mean).square().mean()),
            "vo": self._held_loss(out), "ve": self._held_loss(ema),
        })  # fmt: skip


def run(name: str, net: str, iters: int, seed: int = 0) -> dict:
    gt = image(name)
    y = add_gaussian_noise(gt, 25 / 255, seed=1)
    held = torch.rand(1, 1, *gt.shape[1:], generator=torch.Generator().manual_seed(123)) < 0.05
    held = held.float()
    torch.manual_seed(seed)
    g = create_net("skip", 32, 3, n_d=NETS[net], n_s=4)
    z = make_input("noise", 32, gt.shape[1:], generator=torch.Generator().manual_seed(seed))
    rec = Record(gt, y, held)
    sch = Schedule(iters=iters, lr=0.01, input_noise=1 / 30, ema=0.99, backtrack_db=5.0)
    t0 = time.time()
    fit(g, z, DataTerm(y, weight=(1 - held)[0]), sch, callbacks=[rec], seed=seed)
    return {"image": name, "net": net, "noisy": psnr(y, gt), "rows": rec.rows,
            "seconds": time.time() - t0}  # fmt: skip


def replay(rows: list[dict], key: str, pick: str, patience: int, min_steps: int = 100):
    """A stopping rule on a recorded curve: (stop step, PSNR of the kept image, its step)."""
    best, best_step, kept = float("inf"), 0, rows[0]
    for r in rows:
        if r[key] < best:
            best, best_step, kept = r[key], r["step"], r
        if r["step"] >= min_steps and r["step"] - best_step >= patience:
            return r["step"], kept[pick], best_step
    return rows[-1]["step"], kept[pick], best_step


RULES = {  # name: (score, image kept)
    "holdout-ema": ("ve", "pe"),
    "holdout-iterate": ("vo", "pe"),
    "es-wmv": ("var", "pw"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("nets")
    f.add_argument("images")
    f.add_argument("--iters", type=int, default=1500)
    f.add_argument("--out", default="auto_design")
    r = sub.add_parser("replay")
    r.add_argument("dir")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "fit":
        Path(a.out).mkdir(parents=True, exist_ok=True)
        for net in a.nets.split(","):
            for name in a.images.split(","):
                res = run(name, net, a.iters)
                (Path(a.out) / f"dn_{net}_{name}.json").write_text(json.dumps(res))
        return
    print("| net | image | noisy | best EMA (step) | rule | patience | kept (step) | stop | gap |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for p in sorted(Path(a.dir).glob("dn_*.json")):
        d = json.loads(p.read_text())
        rows = d["rows"]
        o = max(rows, key=lambda q: q["pe"])
        for rule, (key, pick) in RULES.items():
            for patience in (100, 200, 300):
                stop, kept, step = replay(rows, key, pick, patience)
                print(f"| {d['net']} | {d['image']} | {d['noisy']:.2f} | {o['pe']:.2f} "
                      f"({o['step']}) | {rule} | {patience} | {kept:.2f} ({step}) | {stop} "
                      f"| {o['pe'] - kept:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
