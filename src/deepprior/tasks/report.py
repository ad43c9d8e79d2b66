"""What a restoration reports: its metrics against a ground truth and the run's record."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import torch

from .._version import __version__
from ..metrics import psnr, ssim

if TYPE_CHECKING:
    from ..fit import FitResult
    from ..plan import FitPlan
    from .base import Problem
    from .presets import Preset


def measure(
    image: torch.Tensor,
    last: torch.Tensor,
    ema: torch.Tensor | None,
    problem: Problem,
    gt: torch.Tensor | None,
) -> dict[str, float]:
    """PSNR/SSIM of the result (and of the last iterate, the EMA, the input and the task's
    extra images of the same size) against ``gt``; empty without one."""
    if gt is None:
        return {}
    metrics = {"psnr": psnr(image, gt), "ssim": ssim(image, gt)}
    if ema is not None:
        metrics["psnr_last"] = psnr(last, gt)
        metrics["psnr_ema"] = psnr(ema, gt)
    if problem.degraded is not None and tuple(problem.degraded.shape) == tuple(gt.shape):
        metrics["psnr_input"] = psnr(problem.degraded, gt)
    for name, img in problem.extras.items():
        if tuple(img.shape) == tuple(gt.shape) and name not in ("mask",):
            metrics[f"psnr_{name}"] = psnr(img, gt)
    return metrics


def build_report(
    problem: Problem,
    preset: Preset,
    plan: FitPlan,
    fr: FitResult,
    *,
    seed: int,
    seconds: float,
    metrics: dict[str, float],
) -> dict[str, Any]:
    """Everything needed to reproduce the run: task, preset, settings, timings, versions."""
    s, (h, w) = plan.schedule, problem.size
    best = fr.history.get("best_step")
    return {
        "task": problem.task, "preset": preset.to_dict(), "prior": plan.prior, "seed": seed,
        "restarts": plan.runs,
        "settings": {
            "iters": s.iters, "lr": s.lr, "input_noise": s.input_noise, "ema": s.ema,
            "backtrack_db": s.backtrack_db, "check_every": s.check_every,
            "tv_weight": plan.tv_weight,
        },
        "image_size": [w, h], "channels": problem.channels,
        "canvas": [plan.canvas[1], plan.canvas[0]],
        "net_parameters": sum(p.numel() for p in plan.net.parameters()),
        "iters_run": fr.iters_run, "stop_reason": fr.stop_reason,
        "best_step": best[-1] if best else None, "resumed_from": fr.start,
        "interrupted": fr.interrupted, "backtracks": fr.backtracks,
        "seconds": round(seconds, 3),
        "seconds_per_iter": round(fr.seconds / max(fr.iters_run, 1), 5),
        "fit_seconds": round(fr.seconds, 3), "device": str(plan.device),
        "dtype": str(plan.dtype).replace("torch.", ""),
        "estimated_memory_mib": round(plan.memory_bytes / 2**20, 1),
        "final_loss": fr.final_loss, "metrics": metrics,
        "versions": {
            "deepprior": __version__, "torch": torch.__version__,
            "python": platform.python_version(),
        },
        **problem.info,
    }  # fmt: skip
