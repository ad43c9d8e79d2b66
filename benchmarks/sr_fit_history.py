"""One SR table image's auto fit with its full history: the training loss at every step, the
held-out score and the PSNR curves (which the bench samples), to see why a fit went wrong.

The low-resolution input is made as the bench makes it (the authors' crop to a multiple of
32, Lanczos ×4 in 8 bit), seed 0, fp32 on the CPU:

    python benchmarks/sr_fit_history.py Set14/ppt3 2000 ppt3_history.json

Results: benchmarks/results/auto_design/sr_backtracking.md.
"""

from __future__ import annotations

import json
import sys

from deepprior.bench import data as bd
from deepprior.bench.tables import SR_HR_MULTIPLE
from deepprior.io import load_image
from deepprior.tasks.restoration import super_resolve


def main(image: str, iters: str, out: str) -> None:
    data = bd.resolve_data_dir()
    hr = bd.center_crop_to_multiple(load_image(data / f"{image}.png"), SR_HR_MULTIPLE)
    lr = bd.lanczos_lr_8bit(hr, 4)
    res = super_resolve(lr, 4, preset="auto", iters=int(iters), seed=0,
                        device="cpu", precision="fp32", gt=hr, metrics_every=10,
                        progress=False)  # fmt: skip
    h = dict(res.history)
    h["loss"] = [float(f"{v:.5g}") for v in h["loss"]]
    keys = ("iters_run", "stop_reason", "best_step", "backtracks", "fit_seconds")
    h["report"] = {k: res.report.get(k) for k in keys}
    with open(out, "w") as f:
        json.dump(h, f)
    print(h["report"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
