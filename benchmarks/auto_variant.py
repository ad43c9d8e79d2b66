"""Run an ``auto`` preset with a narrower net or fewer input channels, on one image.

The auto presets' step cost is spent in a 32-filter skip net fed a 32-channel ``z``, and the
denoiser's in tiles that overlap. This experiment changes the preset's width (filters per
level), ``z``'s channels, the tiles' overlap or the stop's patience and runs the task as the
CLI does (the denoiser in its 160 px tiles), writing PSNR, steps and seconds:

    python benchmarks/auto_variant.py denoise CLEAN.png NOISY.png out.json --width 16
    python benchmarks/auto_variant.py denoise CLEAN.png NOISY.png out.json --z 8
    python benchmarks/auto_variant.py denoise CLEAN.png NOISY.png out.json --overlap 16
    python benchmarks/auto_variant.py sr HR.png LR.png out.json --width 32 --z 32   # x4

One thread, fp32, on the CPU (as the auto tables were measured).
Results: benchmarks/results/auto_design/cheaper_steps.md.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch

import deepprior
from deepprior.io import load_image
from deepprior.tasks.registry import get_task


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=("denoise", "sr"))
    p.add_argument("clean")
    p.add_argument("observed")
    p.add_argument("out")
    p.add_argument("--width", type=int, default=32, help="filters per level (auto: 32)")
    p.add_argument("--z", type=int, default=32, help="input channels of z (auto: 32)")
    p.add_argument("--overlap", type=int, default=32, help="denoise tiles' overlap (auto: 32)")
    p.add_argument("--patience", type=int, default=None, help="the stop's patience (auto: 200)")
    p.add_argument("--factor", type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(1)
    task = get_task(a.task)
    auto = task.presets["auto"]
    net_kwargs = {**auto.net_kwargs, "n_d": [a.width] * len(auto.net_kwargs["n_d"])}
    stop_kwargs = {**auto.stop_kwargs, **({"patience": a.patience} if a.patience else {})}
    task.presets["auto"] = replace(auto, net_kwargs=net_kwargs, input_channels=a.z,
                                   stop_kwargs=stop_kwargs)  # fmt: skip
    clean, observed = load_image(a.clean), load_image(a.observed)
    common = {"gt": clean, "preset": "auto", "precision": "fp32", "device": "cpu",
              "progress": False}  # fmt: skip
    t0 = time.perf_counter()
    if a.task == "denoise":
        res = deepprior.denoise(observed, tile=160, overlap=a.overlap, **common)
        fits = res.report["tiles"]["fits"]
    else:
        res = deepprior.super_resolve(observed, a.factor, **common)
        fits = [res.report]
    report = {
        "task": a.task, "width": a.width, "z": a.z, "overlap": a.overlap,
        "patience": stop_kwargs["patience"], "psnr": res.metrics["psnr"],
        "psnr_input": res.metrics.get("psnr_input"), "steps": res.report["iters_run"],
        "seconds": round(time.perf_counter() - t0, 1),
        "fits": [{k: f.get(k) for k in ("iters_run", "best_step", "stop_reason", "psnr",
                                        "best_psnr", "best_psnr_step")} for f in fits],
    }  # fmt: skip
    with open(a.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "fits"}))


if __name__ == "__main__":
    main()
