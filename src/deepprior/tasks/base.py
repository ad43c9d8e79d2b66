"""What every task shares: a :class:`Problem` goes in, is fitted by its plan, and a
:class:`Result` comes out."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..callbacks import GroundTruth, ProgressBar, ProgressLog, SaveState, Snapshots
from ..errors import DeepPriorError, StateMismatch
from ..fit import Callback, load_state
from ..plan import PRIORS, FitPlan, build_plan
from .estimate import record_fit
from .presets import Preset
from .report import PlanLine, build_report, measure, now_iso, plan_line

if TYPE_CHECKING:
    import PIL.Image

__all__ = ["PRIORS", "Problem", "Result", "solve_problem"]


@dataclass
class Result:
    """The outcome of a restoration.

    Attributes:
        image: the restored image, (C, H, W) float32 in [0, 1] on the CPU.
        last: the final iterate; ``ema``: the exponential average of the outputs (or None).
        extras: other named images the task made (e.g. ``coarse`` for enhance,
            ``bicubic`` for SR, ``masked`` and ``mask`` for generated masks).
        metrics: PSNR/SSIM against the ground truth when one was given (and of the input).
        history: per-step loss and periodic PSNR.
        report: everything needed to reproduce the run (task, preset, settings, timings).
        interrupted: True when Ctrl-C stopped the fit early.
        weights: the generator's weights at the end of the fit (CPU tensors), which
            ``init_weights`` of another fit may start from (None: no generator was fitted).
    """

    image: torch.Tensor
    last: torch.Tensor
    ema: torch.Tensor | None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def save(self, path: str | Path, *, bits: int = 8) -> Path:
        """Write :attr:`image` atomically to ``path`` (PNG by default)."""
        from ..io import save_image

        return save_image(self.image, path, bits=bits)

    def numpy(self) -> np.ndarray:
        """:attr:`image` as an (H, W, C) float32 array in [0, 1] (the tensor is kept).

        Example:
            >>> r = Result(image=torch.zeros(3, 4, 5), last=torch.zeros(3, 4, 5), ema=None)
            >>> r.numpy().shape, r.numpy().dtype
            ((4, 5, 3), dtype('float32'))
        """
        return self.image.detach().cpu().float().permute(1, 2, 0).numpy().copy()

    def pil(self) -> PIL.Image.Image:
        """:attr:`image` as an 8-bit PIL image (``L`` for one channel, else ``RGB``).

        Example:
            >>> Result(image=torch.ones(1, 4, 5), last=torch.ones(1, 4, 5), ema=None).pil().size
            (5, 4)
        """
        from PIL import Image

        arr = (self.numpy().clip(0, 1) * 255).round().astype(np.uint8)
        return Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)


@dataclass
class Problem:
    """What a task hands to :func:`solve`: the data term, the image size, optional z guide."""

    task: str
    data_term: nn.Module
    size: tuple[int, int]
    channels: int
    guide: torch.Tensor | None = None
    init: torch.Tensor | None = None  # starting pixels for the no-prior/TV baselines
    degraded: torch.Tensor | None = None  # the input as the user sees it (for metrics)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


#: Seconds between two progress lines with ``progress="log"``.
LOG_SECONDS = 60.0
#: A fit from ``init_weights`` averages its outputs with a warm-up (``Schedule.ema_warmup``
#: = this; TensorFlow's moving-average rule): its net starts near a fitted image and changes fast
#: at first, which a plain EMA would trail by about 100 steps.
WARM_EMA_WARMUP = 10


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def solve_problem(
    problem: Problem,
    preset: Preset,
    *,
    prior: str = "dip",
    tv_weight: float | None = None,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    gt: torch.Tensor | None = None,
    progress: bool | str = True,
    callbacks: Sequence[Callback] = (),
    snapshot_dir: str | Path | None = None,
    snapshot_every: int = 0,
    metrics_every: int = 50,
    memory_check: bool = True,
    restarts: int = 1,
    state_file: str | Path | None = None,
    state_every: int = 0,
    state_seconds: float = 0.0,
    resume: bool = False,
    init_weights: dict[str, torch.Tensor] | None = None,
) -> Result:
    """Fit the preset's generator to ``problem`` and return a :class:`Result`.

    Args:
        problem: the task's data term and image geometry.
        preset: net, input, schedule and output rule (already with the user's overrides).
        prior, tv_weight, seed, device, precision, restarts, memory_check: see
            :func:`deepprior.plan.build_plan`.
        gt: a clean image to measure PSNR/SSIM against, during and after the fit.
        progress: show a progress bar and the one-line plan; ``"log"``: the plan and a plain
            line every minute instead of the bar (for logs).
        callbacks: extra callbacks for the loop.
        snapshot_dir, snapshot_every: write the current output every K steps to this folder.
        metrics_every: how often the PSNR against ``gt`` is measured.
        state_file: where the fit's full state (weights, Adam, EMA, ...) is saved: every
            ``state_every`` steps (0: never) but at most once per ``state_seconds``, and
            when the fit is interrupted.
        resume: continue from the state in ``state_file``, which must come from a fit of the
            same task, input, preset (but for the step count), prior, seed and restarts; the
            result is the one an uninterrupted fit gives.
        init_weights: start the generator from these weights (the :attr:`Result.weights` of
            a fit of the same preset, e.g. of a neighbouring tile) instead of a random draw.
    """
    if resume and state_file is None:
        raise DeepPriorError("resume needs the state_file to resume from", param="resume")
    gt = _matching_gt(gt, problem)
    plan = build_plan(problem, preset, prior=prior, tv_weight=tv_weight, seed=seed,
                      device=device, precision=precision, restarts=restarts,
                      memory_check=memory_check)  # fmt: skip
    if init_weights is not None:
        _load_weights(plan, init_weights)
        if plan.schedule.ema is not None:  # it starts near a fitted image and moves fast
            plan.schedule = replace(plan.schedule, ema_warmup=WARM_EMA_WARMUP)
    cbs: list[Callback] = list(callbacks)
    saved = None
    if state_file is not None:
        fingerprint = _fingerprint(problem, preset, plan, seed, init_weights)
        saved = _saved_state(state_file, fingerprint) if resume else None
        cbs.append(SaveState(state_file, every=state_every, fingerprint=fingerprint,
                             min_seconds=state_seconds))  # fmt: skip
    keep = problem.data_term.keep_observed if preset.keep_observed else None
    gt_cb = GroundTruth(gt, every=metrics_every, transform=keep) if gt is not None else None
    if gt_cb is not None:
        cbs.append(gt_cb)
    if snapshot_dir is not None and snapshot_every > 0:
        cbs.append(Snapshots(snapshot_dir, every=snapshot_every))
    if progress:
        cbs.append(PlanLine(plan_line(problem, preset, plan)))
        if progress == "log":  # for logs and pipes: a plain line now and then
            cbs.append(ProgressLog(_stderr_line, seconds=LOG_SECONDS, desc=problem.task))
        else:
            every = max(1, min(25, preset.iters // 100 or 1))
            cbs.append(ProgressBar(every=every, desc=problem.task, metrics=gt_cb))
    started = now_iso()
    t0 = time.perf_counter()
    fr = plan.run(cbs, seed=seed, resume=saved)
    seconds = time.perf_counter() - t0
    record_fit(plan.net, plan.z, plan.device, plan.dtype, fr.seconds, fr.iters_run)
    image, last, ema = plan.outputs(fr)
    image, post = _post_filter(preset.post, plan, image, gt)
    if keep is not None:
        image, last = keep(image), keep(last)
        ema = None if ema is None else keep(ema)
    metrics = measure(image, last, ema, problem, gt)
    report = build_report(problem, preset, plan, fr, seed=seed, seconds=seconds,
                          metrics=metrics, started=started)  # fmt: skip
    if post is not None:
        report["post"] = post
    return Result(image=image, last=last, ema=ema, extras=dict(problem.extras),
                  metrics=metrics, history=fr.history, report=report,
                  interrupted=fr.interrupted,
                  weights=None if plan.prior != "dip" else _weights(plan.net))  # fmt: skip


def _weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _load_weights(plan: FitPlan, weights: dict[str, torch.Tensor]) -> None:
    """Start ``plan``'s generator from ``weights``, which must be of the same net."""
    try:
        plan.net.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise DeepPriorError(
            f"init_weights are not those of this fit's generator ({first}); start from the "
            "weights of a fit with the same net and settings", param="init_weights",
        ) from None  # fmt: skip


def _post_filter(
    post: str | None, plan: FitPlan, image: torch.Tensor, gt: torch.Tensor | None
) -> tuple[torch.Tensor, list[dict[str, Any]] | None]:
    """The preset's post-filters of ``image``, in order, each kept only if it lowers the
    error on the held-out pixels of the fit's stopping rule (which no candidate was fitted
    to, and which a filter of the data does not read); one record per filter says what was
    measured (with ``gt``: the PSNR before and after)."""
    from ..metrics import psnr
    from ..ops import POST_FILTERS, post_chain
    from ..stopping import HoldoutStop

    names = post_chain(post)
    if not names:
        return image, None
    rule = next((cb for cb in plan.callbacks if isinstance(cb, HoldoutStop)), None)
    if rule is None:
        why = "no held-out pixels to check it on"
        return image, [{"filter": n, "applied": False, "why": why} for n in names]
    records = []
    for name in names:
        filtered = POST_FILTERS[name](image, rule.blind_data(image))
        if filtered is None:
            records.append({"filter": name, "applied": False, "why": "does not apply here"})
            continue
        before, after = rule.error(image.unsqueeze(0)), rule.error(filtered.unsqueeze(0))
        rec: dict[str, Any] = {"filter": name, "applied": after < before,
                               "heldout_mse": [round(before, 8), round(after, 8)]}  # fmt: skip
        if gt is not None:
            rec["psnr"] = [round(psnr(image, gt), 3), round(psnr(filtered, gt), 3)]
        records.append(rec)
        image = filtered if rec["applied"] else image
    return image, records


#: The problem-level entry point under its former name.
solve = solve_problem


def _matching_gt(gt: torch.Tensor | None, problem: Problem) -> torch.Tensor | None:
    """``gt`` as float, checked against the result's size and given its channel count."""
    if gt is None:
        return None
    gt = gt.float()
    h, w = problem.size
    if tuple(gt.shape[-2:]) != (h, w):
        raise DeepPriorError(
            f"the ground truth is {gt.shape[-1]}x{gt.shape[-2]} px but the result will be "
            f"{w}x{h} px; give the clean image of the same size", param="gt",
        )  # fmt: skip
    if gt.shape[-3] != problem.channels:
        gt = gt.mean(-3, keepdim=True) if problem.channels == 1 else gt.expand(3, -1, -1)
    return gt


def _fingerprint(
    problem: Problem, preset: Preset, plan: FitPlan, seed: int,
    init_weights: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What a saved fit state must agree on to be resumed: all but the step count."""
    digest = _digest(problem.data_term.state_dict())
    if problem.guide is not None:
        digest.update(problem.guide.detach().float().cpu().contiguous().numpy().tobytes())
    # A post-filter acts on the fit's result, not on the fit.
    settings = {k: v for k, v in preset.to_dict().items() if k not in ("iters", "post")}
    out = {
        "task": problem.task, "data": digest.hexdigest(), "preset": settings,
        "prior": plan.prior, "tv_weight": plan.tv_weight, "seed": seed, "restarts": plan.runs,
        "canvas": list(plan.canvas),
    }  # fmt: skip
    if init_weights is not None:  # (absent otherwise: states saved before it resume)
        out["init_weights"] = _digest(init_weights).hexdigest()
        out["ema_warmup"] = plan.schedule.ema_warmup
    return out


def _digest(tensors: dict[str, torch.Tensor]) -> Any:
    """A SHA-256 of named tensors' names and values (in name order)."""
    digest = hashlib.sha256()
    for name, t in sorted(tensors.items()):
        digest.update(name.encode())
        digest.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return digest


def _saved_state(path: str | Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    state, meta = load_state(path)
    theirs = meta.get("fingerprint", {})
    names = {"data": "the input image or mask", "preset": "the preset's settings"}
    differ = [names.get(k, k) for k in fingerprint if theirs.get(k) != fingerprint[k]]
    if differ:
        raise StateMismatch(
            f"the saved fit state {path} is from another run (it differs in "
            f"{', '.join(differ)}); run without --resume to start afresh"
        )
    return state
