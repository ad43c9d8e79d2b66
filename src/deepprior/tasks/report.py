"""What a restoration reports: its metrics against a ground truth and the run's record."""

from __future__ import annotations

import math
import platform
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import torch

from .._version import __version__
from ..callbacks import _duration
from ..fit import Callback, StepInfo
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
    started: str | None = None,
) -> dict[str, Any]:
    """Everything needed to reproduce the run: task, preset, settings, timings, versions,
    and what it did: the sampled history, the best PSNR, peak memory (see :func:`run_record`).
    """
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
        "best_step": best[-1] if best else None, "resumed_from": fr.start, "hosts": fr.hosts,
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
        **run_record(fr.history, plan.device, started),
        **problem.info,
    }  # fmt: skip


#: The most points per curve a report keeps (the loss is sampled every K steps to fit).
MAX_HISTORY_POINTS = 200


def now_iso() -> str:
    """The current time, ISO 8601 with the UTC offset, to the second."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _finite(v: Any) -> float | None:
    """A float fit for strict JSON: rounded, ``None`` for NaN or infinity."""
    v = float(v)
    return round(v, 8 if abs(v) < 1 else 4) if math.isfinite(v) else None


def sample_history(history: dict[str, list[Any]], points: int = MAX_HISTORY_POINTS) -> dict:
    """The fit's history made small and strict-JSON: the loss every K steps (K chosen so that
    at most ``points`` remain, the last step always kept) and the PSNR curves as measured
    (thinned the same way, keeping the best point).

    Example:
        >>> h = sample_history({"loss": [1.0] * 1000})
        >>> h["every"], len(h["step"]), h["step"][-1]
        (5, 200, 1000)
    """
    loss = history.get("loss") or []
    every = max(1, math.ceil(len(loss) / points))
    steps = list(range(every, len(loss) + 1, every))
    if loss and steps[-1:] != [len(loss)]:
        steps.append(len(loss))
    out: dict[str, Any] = {
        "every": every,
        "step": steps,
        "loss": [_finite(loss[i - 1]) for i in steps],
    }
    at = history.get("psnr_step") or []
    if at:
        curves = {k: history[k] for k in ("psnr", "psnr_ema") if history.get(k)}
        keep = set(range(0, len(at), max(1, math.ceil(len(at) / points))))
        keep |= {len(at) - 1, *(max(range(len(v)), key=v.__getitem__) for v in curves.values())}
        idx = sorted(keep)
        out["psnr_step"] = [at[i] for i in idx]
        out.update({k: [_finite(v[i]) for i in idx] for k, v in curves.items()})
    return out


def best_psnr(history: dict[str, Any]) -> dict[str, Any]:
    """The best PSNR of the sampled history (of the output or its EMA) and its step."""
    best: tuple[float, int, str] | None = None
    for key in ("psnr", "psnr_ema"):
        for step, v in zip(history.get("psnr_step", []), history.get(key) or [], strict=False):
            if v is not None and (best is None or v > best[0]):
                best = (v, step, "ema" if key == "psnr_ema" else "output")
    if best is None:
        return {"best_psnr": None, "best_psnr_step": None, "best_psnr_of": None}
    return {"best_psnr": best[0], "best_psnr_step": best[1], "best_psnr_of": best[2]}


def peak_memory(device: torch.device | str) -> dict[str, Any]:
    """The run's peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, else the
    process's peak resident set (``ru_maxrss``, which includes reading the images)."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"peak_memory_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
                "peak_memory_of": "cuda max_memory_allocated"}  # fmt: skip
    try:
        import resource
    except ImportError:  # Windows
        return {"peak_memory_mib": None, "peak_memory_of": None}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return {"peak_memory_mib": round(rss * scale / 2**20, 1), "peak_memory_of": "ru_maxrss"}


def run_record(
    history: dict[str, list[Any]], device: torch.device | str, started: str | None
) -> dict[str, Any]:
    """The report's record of the run itself: sampled history, best PSNR, peak memory,
    start and end times (ISO 8601)."""
    sampled = sample_history(history)
    return {"started_at": started, "finished_at": now_iso(), **peak_memory(device),
            **best_psnr(sampled), "history": sampled}  # fmt: skip


def plan_line(problem: Problem, preset: Preset, plan: FitPlan) -> str:
    """The one line shown before a fit: what runs where, and what it will cost in memory,
    e.g. ``denoise: preset auto, net skip (0.56M parameters), at most 3000 steps, cpu bf16,
    ~610 MiB estimated`` (:class:`PlanLine` adds the time)."""
    params = sum(p.numel() for p in plan.net.parameters())
    steps = f"at most {plan.schedule.iters}" if preset.stop else str(plan.schedule.iters)
    dtype = str(plan.dtype).replace("torch.", "").replace("bfloat16", "bf16")
    return (
        f"{problem.task}: preset {preset.name}, net {preset.net} ({params / 1e6:.2f}M "
        f"parameters), {steps} steps, {plan.device} {dtype.replace('float32', 'fp32')}, "
        f"~{plan.memory_bytes / 2**20:.0f} MiB estimated"
    )


class PlanLine(Callback):
    """Prints :func:`plan_line` with the time the fit will take, measured on its first steps
    (step 2 minus step 1, so that the first step's warm-up does not count)."""

    def __init__(self, line: str, write: Any = None) -> None:
        self.line = line
        self.write = write
        self._first: float | None = None

    def on_step(self, info: StepInfo) -> None:
        if self.every > 1:
            return
        if self._first is None and info.step < info.iters:
            self._first = info.elapsed
            return
        per_step = info.elapsed - (self._first or 0.0)
        left = per_step * (info.iters - info.step)
        self._emit(f"{self.line}, ~{_duration(left + info.elapsed)} ({per_step:.3g} s/step)")
        self.every = 2**62  # printed: off the loop

    def _emit(self, text: str) -> None:
        if self.write is not None:
            self.write(text)
            return
        from tqdm.auto import tqdm

        tqdm.write(text, file=sys.stderr)
