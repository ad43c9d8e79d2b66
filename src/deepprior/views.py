"""Views of a fit to look at rather than read: its curves (loss and PSNR against the step,
the stop marked) and a time-lapse of the output, with frames at growing step intervals so
that the early, fast changes show as well as the slow end.

Example:
    >>> geometric_steps(100, frames=8)
    [1, 2, 4, 7, 12, 21, 37, 66, 100]
"""

from __future__ import annotations

import importlib.util
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DeepPriorError
from .fit import Callback, FitResult, Schedule, StepInfo

__all__ = [
    "TIMELAPSE_FORMATS", "RunViews", "Timelapse", "geometric_steps", "plot_report",
    "write_timelapse",
]  # fmt: skip

TIMELAPSE_FORMATS = ("gif", "mp4")
#: Frames are shrunk to this longest side, so that a time-lapse of a large image stays small.
FRAME_SIDE = 384


def geometric_steps(iters: int, frames: int = 40) -> list[int]:
    """About ``frames`` steps from 1 to ``iters``, each about ``iters ** (1 / frames)`` times
    the one before, with gaps that never shrink: many early frames, few late ones."""
    if iters < 1:
        return []
    ratio = iters ** (1 / max(1, frames))
    steps, gap = [1], 1
    while steps[-1] < iters:
        nxt = min(iters, max(steps[-1] + gap, round(steps[-1] * ratio)))
        gap = nxt - steps[-1]
        steps.append(nxt)
    return steps


def _frame(x: torch.Tensor) -> np.ndarray:
    """One (1|N, C, H, W) output as an (h, w, 3) uint8 frame no larger than FRAME_SIDE."""
    from PIL import Image

    img = x.detach().float().mean(0).clamp(0, 1).cpu()  # restarts: their average
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    pil = Image.fromarray(arr)
    pil.thumbnail((FRAME_SIDE, FRAME_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(pil)


class Timelapse(Callback):
    """Keeps the output at :func:`geometric_steps` of the fit (and its final iterate) as
    frames for :func:`write_timelapse`. Each kept frame reads the output back once.

    Args:
        frames: about how many frames to keep.
    """

    def __init__(self, frames: int = 40) -> None:
        self.frames = frames
        self.steps: list[int] = []
        self.images: list[np.ndarray] = []
        self._due: set[int] = set()

    def on_start(self, schedule: Schedule) -> None:
        self._due = set(geometric_steps(schedule.iters, self.frames))

    def on_step(self, info: StepInfo) -> None:
        if info.step in self._due:
            self.steps.append(info.step)
            self.images.append(_frame(info.output))

    def on_end(self, result: FitResult) -> None:
        if result.iters_run and (not self.steps or self.steps[-1] != result.iters_run):
            self.steps.append(result.iters_run)  # stopped early or interrupted
            self.images.append(_frame(result.image))


def check_timelapse_format(fmt: str) -> None:
    """Refuse, before the fit, a format this installation cannot write."""
    if fmt not in TIMELAPSE_FORMATS:
        raise DeepPriorError(f"unknown time-lapse format {fmt!r}; choose gif or mp4")
    if fmt == "mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise DeepPriorError(
            "an MP4 time-lapse needs imageio-ffmpeg (pip install imageio-ffmpeg); or use gif"
        )


def write_timelapse(tl: Timelapse, path: str | Path, fmt: str = "gif") -> Path:
    """Write the frames of ``tl`` atomically as a GIF (looping, the last frame held) or MP4.

    Returns:
        ``path`` as a Path.
    """
    import imageio.v3 as iio

    from .io import atomic_write_bytes

    check_timelapse_format(fmt)
    if not tl.images:
        raise DeepPriorError("the fit made no steps: no time-lapse to write")
    if fmt == "gif":
        durations = [150] * (len(tl.images) - 1) + [1500]  # milliseconds
        data = iio.imwrite("<bytes>", np.stack(tl.images), extension=".gif",
                           duration=durations, loop=0)  # fmt: skip
    else:
        frames = np.stack([_even(f) for f in tl.images])
        data = iio.imwrite("<bytes>", frames, extension=".mp4", plugin="FFMPEG", fps=8)
    return atomic_write_bytes(path, data)


def _even(frame: np.ndarray) -> np.ndarray:
    """Crop to even sides (what H.264 needs)."""
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Plot a run's loss (log scale) and PSNR (when measured) against the step, with the
    step the fit stopped at (and the stopping rule's best step) marked; save as PNG.

    Args:
        report: a restoration report (``Result.report``): its ``history``, ``iters_run``
            and ``best_step`` are used.
        path: the PNG to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from .io import atomic_write_bytes

    h = report.get("history") or {}
    if not h.get("step"):
        raise DeepPriorError("the report holds no history to plot (the fit made no steps)")
    has_psnr = bool(h.get("psnr_step"))
    fig = Figure(figsize=(7, 5.5 if has_psnr else 3.5), dpi=100)
    axes = fig.subplots(2 if has_psnr else 1, 1, sharex=True, squeeze=False)[:, 0]
    loss = [v if v is not None else math.nan for v in h["loss"]]
    axes[0].plot(h["step"], loss, lw=1.2, color="tab:blue")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("loss")
    if has_psnr:
        for key, label in (("psnr", "output"), ("psnr_ema", "running average (EMA)")):
            if h.get(key):
                axes[1].plot(h["psnr_step"], h[key], lw=1.2, marker=".", label=label)
        axes[1].set_ylabel("PSNR (dB)")
        axes[1].legend(fontsize=8)
    _mark_stops(axes, report)
    axes[-1].set_xlabel("step")
    fig.suptitle(f"{report.get('task', 'fit')}: preset {report.get('preset', {}).get('name')}",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


def _mark_stops(axes: Any, report: dict[str, Any]) -> None:
    """A dashed line at the last step, a dotted one at the stopping rule's best step; for a
    tiled run, a thin line where each tile's fit starts."""
    starts = (report.get("history") or {}).get("tile_start")
    if starts:
        for ax in axes:
            for i, step in enumerate(starts):
                ax.axvline(step, color="gray", lw=0.6, label="a tile starts" if i == 0 else None)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        return
    marks = [(report.get("iters_run"), "stop", "--", "black")]
    if report.get("best_step") is not None:
        marks.append((report["best_step"], "best (kept)", ":", "tab:red"))
    for ax in axes:
        for step, label, style, color in marks:
            if step:
                ax.axvline(step, ls=style, color=color, lw=1, label=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)


class RunViews:
    """The views a command writes beside its ``OUTPUT``: ``OUTPUT_STEM.curves.png``
    (``plot``) and ``OUTPUT_STEM.gif`` or ``.mp4`` (``timelapse``). The paths and the format
    are checked when made, before the fit.

    Args:
        out: the command's output image.
        inputs: its input files (never overwritten).
        plot: write the curves.
        timelapse: ``gif``, ``mp4`` or ``None``.
    """

    def __init__(
        self, out: Path, inputs: list[str], plot: bool = False, timelapse: str | None = None
    ) -> None:
        self.plot = _beside(out, ".curves.png", inputs) if plot else None
        self.timelapse: Timelapse | None = None
        if timelapse:
            check_timelapse_format(timelapse)
            self.format = timelapse
            self.movie = _beside(out, f".{timelapse}", inputs)
            self.timelapse = Timelapse()

    @property
    def callbacks(self) -> list[Callback]:
        """The callbacks the fit must run (the time-lapse's frames)."""
        return [self.timelapse] if self.timelapse is not None else []

    def write(self, report: dict[str, Any]) -> list[str]:
        """Write the views of a finished (or interrupted) run; returns their paths. The
        time-lapse's frame steps go into ``report["timelapse_steps"]``."""
        written = []
        if self.plot is not None and (report.get("history") or {}).get("step"):
            written.append(str(plot_report(report, self.plot)))
        if self.timelapse is not None and self.timelapse.images:
            written.append(str(write_timelapse(self.timelapse, self.movie, self.format)))
            report["timelapse_steps"] = list(self.timelapse.steps)
        return written


def _beside(out: Path, suffix: str, inputs: list[str]) -> Path:
    """``OUTPUT_STEM`` + ``suffix`` next to ``out`` (whose folder is checked), never an input."""
    p = out.with_name(out.stem + suffix)
    if any(Path(i).resolve() == p.resolve() for i in inputs if i):
        raise DeepPriorError(f"refusing to overwrite the input {p}; choose another output path")
    return p
