"""What every task shares: build the net and z for a preset, fit, and package a Result."""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..callbacks import GroundTruth, ProgressBar, SaveState, Snapshots
from ..device import available_memory, resolve_precision, select_device
from ..errors import DeepPriorError, StateMismatch
from ..fit import Callback, FitResult, Schedule, fit, load_state
from ..memory import check_memory, estimate_fit_memory
from ..metrics import psnr, ssim
from ..nets import Restarts, canvas_size, create_net, make_input, min_image_side
from .presets import Preset

PRIORS = ("dip", "tv", "none")


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
    """

    image: torch.Tensor
    last: torch.Tensor
    ema: torch.Tensor | None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def save(self, path: str | Path, *, bits: int = 8) -> Path:
        """Write :attr:`image` atomically to ``path`` (PNG by default)."""
        from ..io import save_image

        return save_image(self.image, path, bits=bits)


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


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def solve(
    problem: Problem,
    preset: Preset,
    *,
    prior: str = "dip",
    tv_weight: float = 0.02,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    gt: torch.Tensor | None = None,
    progress: bool = True,
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
) -> Result:
    """Fit the preset's generator to ``problem`` and return a :class:`Result`.

    Args:
        problem: the task's data term and image geometry.
        preset: net, input and schedule (already with the user's overrides).
        prior: ``dip`` (the generator), ``none`` (optimise pixels directly) or ``tv``
            (pixels plus a total-variation penalty of weight ``tv_weight``).
        seed: seeds the weights, ``z`` and the input noise; the same seed on the same device
            gives the same result.
        device, precision: ``auto|cpu|cuda`` and ``auto|fp32|bf16``.
        gt: a clean image to measure PSNR/SSIM against, during and after the fit.
        progress: show a progress bar.
        callbacks: extra callbacks for the loop.
        snapshot_dir, snapshot_every: write the current output every K steps to this folder.
        metrics_every: how often the PSNR against ``gt`` is measured.
        memory_check: refuse to start when the estimated memory exceeds what is available.
        restarts: fit this many independently initialised nets in one pass and output the
            mean of their results (the paper's "average of two runs" for denoising).
        state_file: where the fit's full state (weights, Adam, EMA, ...) is saved: every
            ``state_every`` steps (0: never) but at most once per ``state_seconds``, and
            when the fit is interrupted.
        resume: continue from the state in ``state_file``, which must come from a fit of the
            same task, input, preset (but for the step count), prior, seed and restarts; the
            result is the one an uninterrupted fit gives.
    """
    if prior not in PRIORS:
        raise DeepPriorError(f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}")
    if preset.output not in ("last", "ema"):
        raise DeepPriorError(f"preset output must be 'last' or 'ema', got {preset.output!r}")
    if restarts < 1:
        raise DeepPriorError(f"--restarts must be at least 1, got {restarts}")
    if resume and state_file is None:
        raise DeepPriorError("resume needs the state_file to resume from")
    dev = select_device(device)
    dtype = resolve_precision(precision, dev)
    h, w = problem.size
    if gt is not None:
        gt = gt.float()
        if tuple(gt.shape[-2:]) != (h, w):
            raise DeepPriorError(
                f"the ground truth is {gt.shape[-1]}x{gt.shape[-2]} px but the result will be "
                f"{w}x{h} px; give the clean image of the same size"
            )
        if gt.shape[-3] != problem.channels:
            gt = gt.mean(-3, keepdim=True) if problem.channels == 1 else gt.expand(3, -1, -1)

    _seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    in_channels = preset.input_channels
    if preset.input == "meshgrid":
        in_channels = 2
    elif preset.input == "guide":
        if problem.guide is None:
            raise DeepPriorError(f"preset {preset.name!r} needs a guide image")
        in_channels = problem.guide.shape[-3]

    if prior == "dip":
        nets = [
            create_net(preset.net, in_channels, problem.channels, **preset.net_kwargs)
            for _ in range(restarts)
        ]
        net = nets[0] if restarts == 1 else Restarts(nets)
        stride = getattr(net, "stride", 1)
        if min(h, w) < min_image_side(stride):
            raise DeepPriorError(
                f"the image is {w}x{h} px but net {preset.net!r} needs at least "
                f"{min_image_side(stride)} px per side; use a larger image or a shallower net "
                "(e.g. --net hourglass2)"
            )
        canvas = canvas_size((h, w), stride)
        schedule = Schedule(
            iters=preset.iters, lr=preset.lr, input_noise=preset.input_noise, ema=preset.ema,
            backtrack_db=preset.backtrack_db,
            # A GPU runs ahead of the host; reading the loss back every step would stall it.
            check_every=1 if dev.type == "cpu" else 10,
        )  # fmt: skip
    else:
        canvas = (h, w)
        init = problem.init
        net = create_net("pixels", in_channels, problem.channels, size=canvas, init=init)
        problem.data_term.tv_weight = tv_weight if prior == "tv" else 0.0
        schedule = Schedule(iters=preset.iters, lr=max(preset.lr, 0.01), ema=None)
    top, left = (canvas[0] - h) // 2, (canvas[1] - w) // 2
    crop = (top, left, h, w) if canvas != (h, w) else None
    n_runs = restarts if prior == "dip" else 1
    z = torch.cat([
        make_input(preset.input if prior == "dip" else "noise", in_channels, canvas,
                   guide=problem.guide, generator=gen)
        for _ in range(n_runs)
    ])  # fmt: skip

    single = net.nets[0] if isinstance(net, Restarts) else net
    need = n_runs * estimate_fit_memory(single, in_channels, canvas, dtype=dtype)
    if memory_check:
        check_memory(need, available_memory(dev), what=f"a {w}x{h} px fit with this preset")

    cbs: list[Callback] = list(callbacks)
    saved = None
    if state_file is not None:
        fingerprint = _fingerprint(problem, preset, prior, seed, n_runs, canvas, tv_weight)
        saved = _saved_state(state_file, fingerprint) if resume else None
        cbs.append(
            SaveState(state_file, every=state_every, fingerprint=fingerprint,
                      min_seconds=state_seconds)
        )  # fmt: skip
    every = max(1, min(25, preset.iters // 100 or 1))
    gt_cb = None
    if gt is not None:
        gt_cb = GroundTruth(gt, every=metrics_every)
        cbs.append(gt_cb)
    if snapshot_dir is not None and snapshot_every > 0:
        cbs.append(Snapshots(snapshot_dir, every=snapshot_every))
    if progress:
        cbs.append(ProgressBar(every=every, desc=problem.task, metrics=gt_cb))

    channels_last = dev.type == "cuda" or dtype == torch.bfloat16
    t0 = time.perf_counter()
    fr: FitResult = fit(
        net, z, problem.data_term, schedule, crop=crop, callbacks=cbs, device=dev, dtype=dtype,
        channels_last=channels_last, seed=seed, resume=saved,
    )  # fmt: skip
    total = time.perf_counter() - t0
    # With restarts, each output is the mean over the runs (the paper's "average of runs").
    last = fr.image.mean(0).clamp(0, 1)
    ema = None if fr.ema is None else fr.ema.mean(0).clamp(0, 1)
    image = ema if (preset.output == "ema" and ema is not None) else last

    metrics: dict[str, float] = {}
    if gt is not None:
        metrics["psnr"] = psnr(image, gt)
        metrics["ssim"] = ssim(image, gt)
        if ema is not None:
            metrics["psnr_last"] = psnr(last, gt)
            metrics["psnr_ema"] = psnr(ema, gt)
        if problem.degraded is not None and tuple(problem.degraded.shape) == tuple(gt.shape):
            metrics["psnr_input"] = psnr(problem.degraded, gt)
        for name, img in problem.extras.items():
            if tuple(img.shape) == tuple(gt.shape) and name not in ("mask",):
                metrics[f"psnr_{name}"] = psnr(img, gt)

    report = {
        "task": problem.task,
        "preset": preset.to_dict(),
        "prior": prior,
        "seed": seed,
        "restarts": n_runs,
        "settings": {
            "iters": schedule.iters, "lr": schedule.lr, "input_noise": schedule.input_noise,
            "ema": schedule.ema, "backtrack_db": schedule.backtrack_db,
            "check_every": schedule.check_every,
            "tv_weight": tv_weight if prior == "tv" else 0.0,
        },
        "image_size": [w, h],
        "channels": problem.channels,
        "canvas": [canvas[1], canvas[0]],
        "net_parameters": sum(p.numel() for p in net.parameters()),
        "iters_run": fr.iters_run,
        "resumed_from": fr.start,
        "interrupted": fr.interrupted,
        "backtracks": fr.backtracks,
        "seconds": round(total, 3),
        "seconds_per_iter": round(fr.seconds / max(fr.iters_run, 1), 5),
        "fit_seconds": round(fr.seconds, 3),
        "device": str(dev),
        "dtype": str(dtype).replace("torch.", ""),
        "estimated_memory_mib": round(need / 2**20, 1),
        "final_loss": fr.final_loss,
        "metrics": metrics,
        "versions": {
            "deepprior": __version__, "torch": torch.__version__,
            "python": platform.python_version(),
        },
        **problem.info,
    }  # fmt: skip
    return Result(
        image=image, last=last, ema=ema, extras=dict(problem.extras), metrics=metrics,
        history=fr.history, report=report, interrupted=fr.interrupted,
    )  # fmt: skip


def _fingerprint(
    problem: Problem,
    preset: Preset,
    prior: str,
    seed: int,
    runs: int,
    canvas: tuple[int, int],
    tv_weight: float,
) -> dict[str, Any]:
    """What a saved fit state must agree on to be resumed: all but the step count."""
    digest = hashlib.sha256()
    for name, t in sorted(problem.data_term.state_dict().items()):
        digest.update(name.encode())
        digest.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    if problem.guide is not None:
        digest.update(problem.guide.detach().float().cpu().contiguous().numpy().tobytes())
    settings = {k: v for k, v in preset.to_dict().items() if k != "iters"}
    return {
        "task": problem.task, "data": digest.hexdigest(), "preset": settings, "prior": prior,
        "tv_weight": tv_weight if prior == "tv" else 0.0, "seed": seed, "restarts": runs,
        "canvas": list(canvas),
    }  # fmt: skip


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
