"""Fits for the web app: each run is a thread that a page polls, and can stop at any time.

Nothing here needs Gradio: :class:`Run` takes images as tensors, fits one registered task in
a background thread and exposes what a page shows while it runs (:meth:`Run.status`): the
latest output, the loss (and PSNR) curve, the time left and where an ``auto`` preset's
stopping rule stands. When the fit ends, by itself or by :meth:`Run.stop`, the result, a JSON
report and a time-lapse GIF are written to the run's own folder.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..callbacks import _duration
from ..errors import DeepPriorError
from ..finite import dumps_strict
from ..fit import Callback, Schedule, StepInfo
from ..metrics import psnr
from ..tasks.registry import get_task
from ..views import Timelapse, write_timelapse

__all__ = ["LiveView", "Run", "RunStatus"]


@dataclass
class RunStatus:
    """What a page shows of a run at one moment.

    Attributes:
        state: ``starting``, ``running``, ``done``, ``stopped`` (by the user) or ``error``.
        step, iters, elapsed: progress; ``left``: the estimated seconds left.
        preview: the latest output (the EMA when the fit keeps one), uint8 (H, W, 3).
        loss: ``(step, loss)`` pairs; ``psnr``: ``(step, dB)`` pairs when a reference was given.
        stopping: one line on the stopping rule ("" without one).
        tile: ``(k, n)`` while tile ``k`` of ``n`` is fitted (a large image is restored in
            tiles, as on the command line); ``None`` for one fit of the whole image.
        message: the error, or a summary of the finished run.
        files: the result, report and time-lapse, once written.
    """

    state: str = "starting"
    step: int = 0
    iters: int = 0
    elapsed: float = 0.0
    left: float | None = None
    preview: np.ndarray | None = None
    loss: list[tuple[int, float]] = field(default_factory=list)
    psnr: list[tuple[int, float]] = field(default_factory=list)
    stopping: str = ""
    message: str = ""
    files: list[str] = field(default_factory=list)
    tile: tuple[int, int] | None = None

    @property
    def finished(self) -> bool:
        """The fit has ended (done, stopped or failed)."""
        return self.state in ("done", "stopped", "error")

    def progress_line(self) -> str:
        """``step 120/2000 (6 %), 14 s so far, about 3.5 min left`` (``tile 2/4, ...`` first
        for a tiled run, whose steps count on from tile to tile and whose time left is an upper
        bound: a tile that stops by itself skips the rest of its steps)."""
        if self.state == "error":
            return self.message
        if not self.iters:
            return "starting…"
        line = f"step {self.step}/{self.iters} ({100 * self.step // self.iters} %), "
        if self.tile is not None and not self.finished:
            line = f"tile {self.tile[0]}/{self.tile[1]}, " + line
        if self.finished:
            return line + _duration(self.elapsed)
        line += f"{_duration(self.elapsed)} so far"
        if self.left is not None:
            line += f", about {_duration(self.left)} left"
        return line


class LiveView(Callback):
    """A fit callback that keeps what the page shows: the preview, the curves and the
    stopping rule's standing; it ends the fit when :meth:`request_stop` was
    called (a fit in a thread gets no Ctrl-C).

    Args:
        gt: a clean image (C, H, W) of the result's size: PSNR along the fit.
        rule: the preset's stopping rule (``stop``, ``stop_kwargs``) to report on.
        preview_seconds: the least wall time between two preview images.
        points: about how many points the curves get.
    """

    every = 1

    def __init__(
        self, gt: torch.Tensor | None = None, rule: tuple[str, dict[str, Any]] | None = None,
        preview_seconds: float = 1.0, points: int = 400,
    ) -> None:  # fmt: skip
        self.gt = gt
        self.rule = rule
        self.preview_seconds = preview_seconds
        self.points = points
        self.status = RunStatus()
        self.lock = threading.Lock()
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """End the fit after the current step; the result is the output at that step."""
        self._stop.set()

    def on_tile(self, tile: Any, plan: Any) -> None:
        """A tiled run starts fitting ``tile`` (see :class:`deepprior.tiling.Mosaic`)."""
        with self.lock:
            self.status.tile = (tile.index + 1, len(plan.tiles))

    def on_start(self, schedule: Schedule) -> None:
        self.iters = schedule.iters
        self.every_point = max(1, schedule.iters // self.points)
        self._next_preview = 0.0
        with self.lock:
            self.status.state, self.status.iters = "running", schedule.iters

    def on_step(self, info: StepInfo) -> None:
        if self._stop.is_set():
            info.stop("stopped by the user")
        step, last = info.step, info.step >= info.iters or self._stop.is_set()
        preview = info.elapsed >= self._next_preview or last
        point = step % self.every_point == 0 or last
        if not (preview or point):
            return  # most steps: nothing computed, nothing copied
        image = info.ema if info.ema is not None else info.output
        image = image.mean(0) if image.dim() == 4 else image  # restarts: their mean
        pixels = image.detach().float().clamp(0, 1).cpu()
        updates: dict[str, Any] = {}
        if point:
            updates["loss"] = (step, float(info.loss))
            if self.gt is not None:
                updates["psnr"] = (step, psnr(pixels, self.gt))
        if point and self.rule is not None:
            updates["stopping"] = self._standing(info)
        from ..io import to_uint8

        uint8 = _rgb(to_uint8(pixels)) if preview else None
        if preview:
            self._next_preview = info.elapsed + self.preview_seconds
        done = step - info.start
        with self.lock:
            s = self.status
            s.step, s.elapsed = step, info.elapsed
            s.left = (info.iters - step) * info.elapsed / max(1, done)
            if preview:
                s.preview = uint8
            if "loss" in updates:
                s.loss.append(updates["loss"])
            if "psnr" in updates:
                s.psnr.append(updates["psnr"])
            if "stopping" in updates:
                s.stopping = updates["stopping"]

    def _standing(self, info: StepInfo) -> str:
        """Where the stopping rule stands: its best step and when it stops unless it improves.

        The rule is one of the plan's callbacks; its state is read from the fit's state.
        """
        name, kw = self.rule
        state = info.state() if info.state is not None else {}
        mine = next((v for v in state.get("callbacks", {}).values() if "best_step" in v), None)
        patience, min_steps = kw.get("patience", 300), kw.get("min_steps", 100)
        if mine is None or not mine.get("steps"):
            return f"auto stop ({name}): no score yet; it may stop from step {min_steps}"
        best = int(mine["best_step"])
        at = min(max(best + patience, min_steps), info.iters)
        return (
            f"auto stop ({name}): best at step {best}; it stops at step {at} unless it "
            f"improves (patience {patience} steps)"
        )


def _rgb(arr: np.ndarray) -> np.ndarray:
    """A gray (H, W) image as (H, W, 3), for display."""
    return np.repeat(arr[..., None], 3, axis=-1) if arr.ndim == 2 else arr


class Run:
    """One fit of a registered task in a background thread.

    Args:
        task: the task's name (see :func:`deepprior.tasks.registry.list_tasks`).
        images: the task's inputs, in the order of ``task.inputs`` (tensors (C, H, W) in
            [0, 1]; masks (1, H, W), 1 = known; ``None`` for an optional one left out).
        options: the task's own settings (e.g. ``{"factor": 4}`` for SR).
        preset: the preset's name (the task's default when ``None``).
        gt: a clean image of the result's size: PSNR along the fit and in the report.
        fit_kwargs: further keywords of the task function (``iters``, ``device``, ...).

    Example:
        >>> run = Run("denoise", [torch.rand(3, 32, 32)], preset="fast", iters=3,
        ...           net="skip", net_kwargs={"n_d": [8, 8], "n_u": [8, 8], "n_s": 2})
        >>> run.start().wait(60).state
        'done'
    """

    def __init__(
        self, task: str, images: list[torch.Tensor | None], options: dict[str, Any] | None = None,
        preset: str | None = None, gt: torch.Tensor | None = None, **fit_kwargs: Any,
    ) -> None:  # fmt: skip
        self.task = get_task(task)
        self.images, self.options = images, dict(options or {})
        self.preset, self.gt, self.fit_kwargs = preset, gt, fit_kwargs
        params = {k: v for k, v in self.options.items() if v is not None}
        spec = self.task.preset(preset, **params)
        rule = (spec.stop, spec.stop_kwargs) if spec.stop else None
        self.view = LiveView(gt=_gt_like(gt, images), rule=rule)
        self.timelapse = Timelapse()  # frames at growing step intervals (deepprior.views)
        self.folder = Path(tempfile.mkdtemp(prefix="deepprior-ui-"))
        self._closed = False
        self.thread = threading.Thread(target=self._fit, name=f"deepprior-{task}", daemon=True)

    def start(self) -> Run:
        """Start the fit in its thread; returns at once."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop the fit after its current step; the result so far is kept and written."""
        self.view.request_stop()

    def close(self) -> None:
        """Stop the fit and delete the run's folder (when its page is closed)."""
        self._closed = True
        self.stop()
        if not self.thread.is_alive():
            shutil.rmtree(self.folder, ignore_errors=True)

    def wait(self, timeout: float | None = None) -> RunStatus:
        """Block until the fit ends (or ``timeout`` seconds) and return its status."""
        self.thread.join(timeout)
        return self.status()

    def status(self) -> RunStatus:
        """A copy of the current status (safe to read while the fit runs)."""
        with self.view.lock:
            s = self.view.status
            return RunStatus(
                s.state, s.step, s.iters, s.elapsed, s.left, s.preview, list(s.loss),
                list(s.psnr), s.stopping, s.message, list(s.files), s.tile,
            )  # fmt: skip

    def _fit(self) -> None:
        """The thread's body: fit, write the outputs, record how it ended."""
        try:
            # As the CLI: the preset's tiles for a large image, or tiles when the whole image
            # would not fit in memory (deepprior.tiling.solve_maybe_tiled).
            result = self.task.solve(
                *self.images, preset=self.preset, gt=self.gt, progress=False,
                callbacks=[self.view, self.timelapse], **self.options, **self.fit_kwargs,
            )  # fmt: skip
            files = self._write(result)
            state = "stopped" if self.view._stop.is_set() else "done"
            message = _summary(result.report, result.metrics)
            from ..io import to_uint8

            with self.view.lock:  # the result itself (a tiled run's blend of its tiles)
                self.view.status.preview = _rgb(to_uint8(result.image.float().clamp(0, 1)))
        except DeepPriorError as e:
            from ..cli.common import error_message

            state, message, files = "error", error_message(e), []
        except Exception as e:  # noqa: BLE001 - shown on the page, not lost in a thread
            traceback.print_exc()
            state, message, files = "error", f"internal error: {type(e).__name__}: {e}", []
        with self.view.lock:
            s = self.view.status
            s.state, s.message, s.files, s.left = state, message, files, 0.0
        if self._closed:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _write(self, result: Any) -> list[str]:
        """Write the result, the report and the time-lapse into the run's folder."""
        from ..io import atomic_write_text, save_image

        name = f"{self.task.name}-result"
        image = save_image(result.image, self.folder / f"{name}.png")
        report = {"task": self.task.name, "options": self.options, **result.report}
        atomic_write_text(self.folder / f"{name}.json", dumps_strict(report, indent=2, default=str))
        gif = write_timelapse(self.timelapse, self.folder / f"{name}.gif")
        return [str(image), str(self.folder / f"{name}.json"), str(gif)]


def _gt_like(gt: torch.Tensor | None, images: list[Any]) -> torch.Tensor | None:
    """``gt`` with the channel count of the first image (the result's), for the live PSNR."""
    if gt is None or not images or images[0] is None:
        return gt
    c = images[0].shape[0]
    if gt.shape[0] == c:
        return gt
    return gt.mean(0, keepdim=True) if c == 1 else gt.expand(3, -1, -1)


def _summary(report: dict[str, Any], metrics: dict[str, float]) -> str:
    """One line on a finished run: steps, time, device, PSNR, why it stopped."""
    line = f"{report['iters_run']} steps in {report['seconds']:.1f} s on {report['device']}"
    tiles = report.get("tiles")
    if tiles:
        line += f" ({tiles['count']} tiles)"
    if "psnr" in metrics:
        line += f"; PSNR {metrics['psnr']:.2f} dB"
        ref = metrics.get("psnr_input", metrics.get("psnr_bicubic", metrics.get("psnr_masked")))
        if ref is not None and not math.isnan(ref):
            line += f" (input {ref:.2f} dB)"
    if report.get("stop_reason"):
        line += f"; {report['stop_reason']}"
    return line
