"""Does a tile's fit converge faster when it starts from the weights of the tile before it?

The auto denoiser fits each tile from a fresh random net. This experiment starts every tile
but the first from the weights the previous tile's fit ended with (same architecture, same
seeded input ``z``), runs the auto preset's tiles and held-out stop otherwise unchanged, and
writes the PSNR, the steps and each tile's stop to a JSON report.

    python benchmarks/tile_warm_start.py CLEAN.png NOISY.png warm out.json   # or cold

Results: benchmarks/results/auto_tiles.md ("Warm-started tiles").
"""

from __future__ import annotations

import copy
import json
import sys
import time

import deepprior.tiling as tiling
from deepprior.io import load_image
from deepprior.plan import FitPlan


def main(clean: str, noisy: str, mode: str, out: str) -> None:
    if mode not in ("warm", "cold"):
        raise SystemExit("mode must be warm or cold")
    in_tile, prev = [False], [None]  # inside a tile's fit (not the plan's probes); last weights
    run, tile_run = FitPlan.run, tiling._tile_run

    def warm_run(self, callbacks=(), *, seed=0, resume=None):
        if in_tile[0] and prev[0] is not None and mode == "warm":
            self.net.load_state_dict(prev[0])
        fr = run(self, callbacks, seed=seed, resume=resume)
        if in_tile[0]:
            prev[0] = copy.deepcopy(self.net.state_dict())
        return fr

    def marked_tile_run(*a, **k):
        in_tile[0] = True
        try:
            return tile_run(*a, **k)
        finally:
            in_tile[0] = False

    FitPlan.run, tiling._tile_run = warm_run, marked_tile_run
    t0 = time.perf_counter()
    res = tiling.solve_tiled("denoise", load_image(noisy), tile=160, overlap=32,
                             gt=load_image(clean), preset="auto", precision="fp32",
                             device="cpu", progress=False)  # fmt: skip
    fits = res.report["tiles"]["fits"]
    report = {
        "mode": mode, "psnr": res.metrics["psnr"], "psnr_input": res.metrics["psnr_input"],
        "steps": res.report["iters_run"], "seconds": round(time.perf_counter() - t0, 1),
        "tiles": [{k: f.get(k) for k in ("iters_run", "best_step", "psnr", "best_psnr",
                                         "best_psnr_step")} for f in fits],
    }  # fmt: skip
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "tiles"}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
