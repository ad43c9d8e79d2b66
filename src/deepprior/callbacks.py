"""Callbacks of the fitting loop: progress bar, metrics against a ground truth, snapshots,
the saved state to resume from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .fit import Callback, FitResult, Schedule, StepInfo
from .metrics import psnr


class ProgressBar(Callback):
    """A tqdm bar with ETA, the loss and, when a :class:`GroundTruth` runs too, the PSNR."""

    def __init__(self, every: int = 10, desc: str = "fit", metrics: GroundTruth | None = None):
        self.every = max(1, every)
        self.desc = desc
        self.metrics = metrics
        self.bar = None

    def on_start(self, schedule: Schedule) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=schedule.iters, desc=self.desc, unit="it", dynamic_ncols=True)
        self._last = 0

    def on_step(self, info: StepInfo) -> None:
        if self.bar is None:
            return
        post = {"loss": f"{float(info.loss):.3e}"}
        if self.metrics is not None and self.metrics.last is not None:
            post["psnr"] = f"{self.metrics.last:.2f}"
            if self.metrics.last_ema is not None:
                post["psnr_ema"] = f"{self.metrics.last_ema:.2f}"
        if info.backtracks:
            post["back"] = str(info.backtracks)
        if info.start and self._last == 0:  # a resumed fit: count its rate from here
            self.bar.n = self.bar.last_print_n = self.bar.initial = self._last = info.start
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(info.step - self._last)
        self._last = info.step

    def on_end(self, result: FitResult) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ProgressLog(Callback):
    """A plain progress line at most every ``seconds`` of wall time, for logs and pipes where
    a progress bar does not show: step, elapsed time, time left at the rate so far, loss.

    Args:
        log: where each line goes (e.g. ``print``).
        seconds: the least wall time between two lines.
        desc: the lines' prefix.

    Example:
        >>> cb = ProgressLog(print, seconds=600, desc="baby: dip")
    """

    def __init__(
        self, log: Callable[[str], None], seconds: float = 300.0, desc: str = "fit",
        every: int = 10,
    ) -> None:  # fmt: skip
        self.log = log
        self.seconds = seconds
        self.desc = desc
        self.every = max(1, every)
        self._next = seconds

    def on_step(self, info: StepInfo) -> None:
        if info.elapsed < self._next or info.step >= info.iters:
            return
        self._next = info.elapsed + self.seconds
        done = info.step - info.start
        left = (info.iters - info.step) * info.elapsed / max(1, done)
        self.log(
            f"{self.desc}: step {info.step}/{info.iters} ({100 * info.step // info.iters} %), "
            f"{_duration(info.elapsed)} so far, about {_duration(left)} left, "
            f"loss {float(info.loss):.3e}"
        )


def _duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``3.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class GroundTruth(Callback):
    """Measures the PSNR of the output (and of its EMA) against a clean image every K steps.

    Records ``psnr_step``, ``psnr_seconds`` (the fit's wall time at each measurement),
    ``psnr`` and ``psnr_ema`` in the fit history.
    """

    def __init__(self, gt: torch.Tensor, every: int = 50, transform=None):
        self.every = max(1, every)
        self.gt = gt.float().unsqueeze(0) if gt.dim() == 3 else gt.float()
        self.transform = transform
        self.steps: list[int] = []
        self.seconds: list[float] = []
        self.values: list[float] = []
        self.values_ema: list[float] = []
        self.last: float | None = None
        self.last_ema: float | None = None
        self._resumed = False
        self._offset = 0.0  # a resumed fit's clock restarts: its curve goes on from here

    def on_start(self, schedule: Schedule) -> None:
        if not self._resumed:
            self.steps, self.seconds, self.values, self.values_ema = [], [], [], []

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean(0, keepdim=True) if x.shape[0] > 1 else x  # restarts: their average
        return x if self.transform is None else self.transform(x)

    def on_step(self, info: StepInfo) -> None:
        gt = self.gt.to(info.output.device)
        self.last = psnr(self._view(info.output), gt)
        self.steps.append(info.step)
        self.seconds.append(round(self._offset + info.elapsed, 3))
        self.values.append(self.last)
        if info.ema is not None:
            self.last_ema = psnr(self._view(info.ema), gt)
            self.values_ema.append(self.last_ema)

    def state_dict(self) -> dict:
        """The curve so far, saved with a fit's state so a resumed fit keeps all of it."""
        return {"steps": self.steps, "seconds": self.seconds, "values": self.values,
                "values_ema": self.values_ema}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.seconds = list(state["steps"]), list(state["seconds"])
        self.values, self.values_ema = list(state["values"]), list(state["values_ema"])
        self._resumed, self._offset = True, (self.seconds[-1] if self.seconds else 0.0)

    def on_end(self, result: FitResult) -> None:
        result.history["psnr_step"] = self.steps
        result.history["psnr_seconds"] = self.seconds
        result.history["psnr"] = self.values
        if self.values_ema:
            result.history["psnr_ema"] = self.values_ema


class Snapshots(Callback):
    """Writes the current output to ``folder/step_000100.png`` every K steps."""

    def __init__(self, folder: str | Path, every: int = 100, transform=None, bits: int = 8):
        self.every = max(1, every)
        self.folder = Path(folder)
        self.transform = transform
        self.bits = bits

    def on_start(self, schedule: Schedule) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.width = max(6, len(str(schedule.iters)))

    def on_step(self, info: StepInfo) -> None:
        from .io import save_image

        x = info.output.mean(0, keepdim=True)  # restarts: their average
        x = x if self.transform is None else self.transform(x)
        save_image(x[0].cpu(), self.folder / f"step_{info.step:0{self.width}d}.png", bits=self.bits)


class SaveState(Callback):
    """Saves the fit's full state to ``path`` every K steps (0: never) and when interrupted.

    ``min_seconds`` spaces the periodic saves out in time as well (for fast devices, where
    K steps pass in moments). ``fingerprint`` is stored beside the state: what a later run
    must agree on to resume from it.
    """

    def __init__(
        self, path: str | Path, every: int = 0, fingerprint: dict | None = None,
        min_seconds: float = 0.0,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.every = every if every > 0 else 2**62
        self.fingerprint = fingerprint or {}
        self.min_seconds = min_seconds
        self._last = 0.0

    def _save(self, state: dict) -> None:
        from .fit import save_state

        save_state(state, self.path, fingerprint=self.fingerprint)

    def on_step(self, info: StepInfo) -> None:
        if info.state is None or info.step >= info.iters:  # the end is the result itself
            return
        if info.elapsed - self._last >= self.min_seconds:
            self._save(info.state())
            self._last = info.elapsed

    def on_end(self, result: FitResult) -> None:
        if result.interrupted and result.resumable and result.iters_run > result.start:
            self._save(result.state())
