"""No-reference stopping rules: end a fit near its best iterate without a clean image.

A DIP fit first reproduces the image's structure and later its damage (noise, artefacts),
so its quality rises and then falls. A stopping rule watches signals the fit has anyway and
ends it once the peak has passed, keeping the output it judged best as ``result.images["best"]``.

Two rules, both plain fit callbacks (the loop has no special case for them):

* :class:`HoldoutStop` (self-validation, Li et al. BMVC 2021): a small random share of the
  observed pixels is left out of the data term. Their squared error is an unbiased estimate of
  the true error plus a constant (the noise on them is never fitted), so its minimum is the
  best iterate. Works for every task whose observation is an image compared pixel by pixel.
* :class:`VarianceStop` (ES-WMV, Wang et al. TMLR 2023): the running variance of the recent
  outputs falls while the net fits structure and rises once it fits noise; stop when it has
  not reached a new minimum for ``patience`` steps. Needs nothing but the outputs.

Example:
    >>> stopper = make_stopper("holdout", patience=300)
    >>> type(stopper).__name__
    'HoldoutStop'
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .errors import DeepPriorError
from .fit import Callback, FitResult, Schedule, StepInfo
from .seeds import MASK_STREAM, stream_seed

__all__ = [
    "HoldoutStop", "VarianceStop", "StoppingRule", "make_stopper", "list_stoppers",
    "rule_settings",
]  # fmt: skip


class StoppingRule(Callback, ABC):
    """A callback that may end the fit early and keeps the output it judged best.

    Subclasses implement :meth:`score` (lower is better) from a step's outputs. The rule
    keeps the image of the lowest score, and stops when no new minimum came for
    ``patience`` steps (and at least ``min_steps`` have run). With ``min_delta`` a new
    minimum restarts that count only if it beats the one that last restarted it by that
    share: near the peak a curve creeps down by amounts that change nothing one can see,
    and waiting for each of them costs steps (the image kept is still the lowest score's).

    Args:
        every: steps between two scores (each score copies one image).
        patience: steps without a new minimum before the fit is stopped.
        min_steps: never stop before this step (the early loss curve is erratic).
        min_delta: the relative improvement (0.001 = 0.1 %) a new minimum must make over the
            one that last restarted the count to restart it; 0: any improvement does.
        use: which image is scored and kept: ``ema`` (the exponential average, when the
            schedule keeps one) or ``output`` (the current iterate).
    """

    name = "rule"

    def __init__(self, every: int = 10, patience: int = 300, min_steps: int = 100,
                 use: str = "ema", min_delta: float = 0.0) -> None:  # fmt: skip
        if every < 1 or patience < 1 or min_steps < 0:
            raise DeepPriorError(
                "stopping rule: every and patience must be >= 1, min_steps >= 0",
                param="stop_kwargs",
            )
        if not 0 <= min_delta < 1:
            raise DeepPriorError(
                f"stopping rule: min_delta is a share in [0, 1), got {min_delta}",
                param="stop_kwargs",
            )
        if use not in ("ema", "output"):
            raise DeepPriorError(
                f"stopping rule: use must be 'ema' or 'output', got {use!r}", param="stop_kwargs"
            )
        self.every, self.patience, self.min_steps, self.use = every, patience, min_steps, use
        self.min_delta = min_delta
        self.reset()

    def reset(self) -> None:
        self.best_score = float("inf")
        self.best_step = 0
        self.anchor_score, self.anchor_step = float("inf"), 0  # what restarted the count
        self.best: torch.Tensor | None = None
        self.steps: list[int] = []
        self.scores: list[float] = []
        self.stop_step: int | None = None

    def attach(self, data_term: nn.Module) -> nn.Module:
        """The data term to fit with (a rule may hold data back from it); default: as is."""
        return data_term

    @abstractmethod
    def score(self, image: torch.Tensor, info: StepInfo) -> float | None:
        """The rule's score of ``image`` at this step (lower is better; None: not yet)."""

    def _image(self, info: StepInfo) -> torch.Tensor:
        x = info.ema if (self.use == "ema" and info.ema is not None) else info.output
        return x.mean(0, keepdim=True) if x.shape[0] > 1 else x  # restarts: their average

    def on_start(self, schedule: Schedule) -> None:
        if self.best is None and not self.steps:
            self.reset()

    def on_step(self, info: StepInfo) -> None:
        image = self._image(info)
        value = self.score(image, info)
        if value is None:
            return
        self.steps.append(info.step)
        self.scores.append(value)
        if value < self.best_score:
            self.best_score, self.best_step = value, info.step
            self.best = image.detach().clone()
        if value < self.anchor_score * (1 - self.min_delta):
            self.anchor_score, self.anchor_step = value, info.step
        waited = info.step - self.anchor_step
        if info.step >= self.min_steps and waited >= self.patience:
            self.stop_step = info.step
            by = f" of more than {self.min_delta:.2%}" if self.min_delta else ""
            info.stop(
                f"{self.name}: no improvement{by} for {waited} steps; best at step {self.best_step}"
            )

    def on_end(self, result: FitResult) -> None:
        if self.best is not None:
            result.images["best"] = self.best.float().cpu().contiguous()
        result.history[f"{self.name}_step"] = list(self.steps)
        result.history[f"{self.name}_score"] = list(self.scores)
        result.history["best_step"] = [self.best_step]

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score, "best_step": self.best_step, "best": self.best,
            "steps": list(self.steps), "scores": list(self.scores),
            "anchor_score": self.anchor_score, "anchor_step": self.anchor_step,
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = float(state["best_score"])
        self.best_step = int(state["best_step"])
        self.best = state["best"]
        self.steps, self.scores = list(state["steps"]), list(state["scores"])
        # a state saved before min_delta existed: its count ran from the best
        self.anchor_score = float(state.get("anchor_score", self.best_score))
        self.anchor_step = int(state.get("anchor_step", self.best_step))


def excess_in_se(err: torch.Tensor, ref: torch.Tensor) -> float:
    """How many standard errors the mean of ``err`` is above the mean of ``ref``, paired
    element by element (the errors of two images on the same pixels): the mean difference over
    its standard error; ``inf`` (or 0) for a constant positive (or non-positive) difference.

    Example:
        >>> round(excess_in_se(torch.tensor([1.0, 2.0, 3.0]), torch.ones(3)), 4)  # 1 / (1 / √3)
        1.7321
    """
    d = (err - ref).double().flatten()
    mean, std = torch.stack([d.mean(), d.std() if d.numel() > 1 else d.new_zeros(())]).tolist()
    se = std / math.sqrt(d.numel())
    if se > 0:
        return mean / se
    return math.inf if mean > 0 else 0.0


def position_uniform(h: int, w: int, origin: tuple[int, int], seed: int) -> torch.Tensor:
    """(h, w) numbers in [0, 1) that depend only on each pixel's position ``origin + (i, j)``
    in a larger image and on ``seed`` (an integer hash of the three): crops of one pattern,
    so that overlapping crops draw the same number for a shared pixel.

    Example:
        >>> whole = position_uniform(6, 8, (0, 0), seed=1)
        >>> bool((position_uniform(3, 4, (2, 3), seed=1) == whole[2:5, 3:7]).all())
        True
    """
    m = 0xFFFFFFFF
    ys = torch.arange(origin[0], origin[0] + h, dtype=torch.int64).view(h, 1)
    xs = torch.arange(origin[1], origin[1] + w, dtype=torch.int64).view(1, w)
    # every product stays under 2**63: each factor is under 2**32 and each multiplier 2**31
    v = (ys * 0x1B873593 + xs * 0x7FEB352D + (seed & 0x7FFFFFFF) * 0x68E31DA5) & m
    for mult in (0x2C1B3C6D, 0x297A2D39):
        v = ((v ^ (v >> 15)) * mult) & m
    v = v ^ (v >> 15)
    return (v.to(torch.float64) / 2.0**32).to(torch.float32)


class HoldoutStop(StoppingRule):
    """Self-validation: hold out ``fraction`` of the observed pixels; score = their MSE.

    Call :meth:`attach` on the task's data term before the fit: it returns a copy that
    ignores the held-out pixels. The data term must have a ``target`` (the observation,
    (1, C, h, w)), an ``operator`` ``A`` and an optional ``weight`` (1 = observed).

    Args:
        fraction: share of the observed pixels held out (a few per cent suffice).
        seed: seeds the choice of pixels.
        origin: ``(top, left)`` of the observation in a larger image (a tile's): the pixels
            are then chosen by their position in that image, so that overlapping tiles hold
            out the same pixels, and a tile started from its neighbour's fitted net
            (:attr:`~deepprior.tasks.presets.Preset.tile_warm`) is never judged on pixels that
            net was fitted to. ``None``: chosen for this observation alone.
        tie_se: keep the latest scored image whose held-out error is above the lowest one's
            by at most this many standard errors (of the mean of the pixelwise differences
            between the two, over the held-out pixels), instead of the lowest score's image.
            With exact observations the score flattens while the fit still improves: of two
            images it cannot tell apart the later is the better fitted. Where the fit takes
            on noise, its score rises by more than its standard error and the lowest score's
            image is kept as with 0 (the default: always the lowest).
        **kw: see :class:`StoppingRule`.

    Example:
        >>> from deepprior.ops import DataTerm
        >>> rule = HoldoutStop(fraction=0.25, seed=0)
        >>> fit_term = rule.attach(DataTerm(torch.rand(3, 8, 8)))
        >>> 0.6 < float(fit_term.weight.mean()) < 0.9
        True
    """

    name = "holdout"

    def __init__(
        self, fraction: float = 0.05, seed: int = 0, origin: tuple[int, int] | None = None,
        tie_se: float = 0.0, **kw: Any,
    ) -> None:  # fmt: skip
        if not 0 < fraction < 0.5:
            raise DeepPriorError(
                f"holdout fraction must be in (0, 0.5), got {fraction}", param="stop_kwargs"
            )
        if not 0 <= tie_se < math.inf:
            raise DeepPriorError(f"holdout tie_se must be >= 0, got {tie_se}", param="stop_kwargs")
        self.tie_se = float(tie_se)
        super().__init__(**kw)
        self.fraction, self.seed = fraction, seed
        self.origin = None if origin is None else (int(origin[0]), int(origin[1]))
        self.operator: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.target: torch.Tensor | None = None
        self.val: torch.Tensor | None = None
        self._held: torch.Tensor | None = None  # val as a bool index (tie_se)
        self.fitted: torch.Tensor | None = None  # the pixels the net is fitted to
        self.fitted_scores: list[float] = []

    def reset(self) -> None:
        super().reset()
        # tie_se: the image kept (the latest tied with the lowest score's) and the held-out
        # pixels' errors of the lowest score's image and of the image just scored
        self.kept: torch.Tensor | None = None
        self.kept_step = 0
        self.best_err: torch.Tensor | None = None
        self._err: torch.Tensor | None = None

    def attach(self, data_term: nn.Module) -> nn.Module:
        from .ops import DataTerm

        target = getattr(data_term, "target", None)
        if not isinstance(data_term, DataTerm) or target is None:
            raise DeepPriorError(
                "the holdout stopping rule needs a pixel data term (DataTerm); "
                "use another stopping rule for this task", param="stop"
            )  # fmt: skip
        # Offset from the seed: a mask drawn from the very stream that noise seeded with the
        # same number came from would pick pixels by their noise (torch.rand and randn share
        # the stream), e.g. 5 % of pixels with 20 % less noise than the rest.
        h, w = target.shape[-2:]
        if self.origin is None:
            gen = torch.Generator().manual_seed(stream_seed(self.seed, MASK_STREAM))
            u = torch.rand(1, 1, h, w, generator=gen)
        else:
            u = position_uniform(h, w, self.origin, stream_seed(self.seed, MASK_STREAM))
        held = (u < self.fraction).float().view(1, 1, h, w)
        weight = data_term.weight
        observed = data_term.observed()  # held-out pixels must be observed ones
        known = torch.ones(1, 1, h, w) if observed is None else observed.cpu()
        self.val = (held * known).expand(1, target.shape[1], h, w).contiguous()
        self._held = self.val.bool()
        if float(self.val.sum()) < 1:
            raise DeepPriorError("too few observed pixels to hold some out; use another rule")
        fit_weight = known * (1 - held) if weight is None else weight.cpu() * (1 - held)
        self.operator, self.target = data_term.operator, target
        self.fitted = (fit_weight > 0).float().expand(1, target.shape[1], h, w).contiguous()
        return DataTerm(target[0], data_term.operator, fit_weight[0], data_term.tv_weight)

    def error(self, image: torch.Tensor) -> float:
        """The mean squared error of ``image`` (1, C, h, w) on the held-out pixels: an
        unbiased estimate of its true error plus the noise level, for any image that the
        held-out observations did not shape (the fit's outputs, or a filter of them)."""
        if self.val is None or self.target is None or self.operator is None:
            raise DeepPriorError("HoldoutStop.attach() must wrap the data term before the fit")
        with torch.no_grad():
            x = image.to(self.target.device, torch.float32)
            err = (self.operator(x) - self.target).square()
            return float((err * self.val).sum() / self.val.sum())

    def blind_data(self, image: torch.Tensor) -> torch.Tensor | None:
        """The observation (C, h, w) with the held-out pixels replaced by ``image``'s: what
        a filter of the data may read and still be judged fairly on the held-out pixels;
        None unless the operator is the identity (the data is then an image)."""
        from .ops import Identity

        identity = isinstance(self.operator, (Identity, nn.Identity))
        if not identity or self.val is None or self.target is None:
            return None
        held = self.val.to(image.device)
        data = self.target.to(image.device, torch.float32)
        return (data * (1 - held) + image.float().unsqueeze(0) * held)[0].to(image.dtype)

    def score(self, image: torch.Tensor, info: StepInfo) -> float:
        if self.operator is None or self.val is None or self.target is None:
            raise DeepPriorError("HoldoutStop.attach() must wrap the data term before the fit")
        if self.val.device != image.device:  # once: the fit's device
            self.val, self.target = self.val.to(image.device), self.target.to(image.device)
            self._held = self.val.bool()
            if self.fitted is not None:
                self.fitted = self.fitted.to(image.device)
        with torch.no_grad():
            err = (self.operator(image.float()) - self.target).square()
            held = (err * self.val).sum() / self.val.sum()
            if self.tie_se:
                self._err = err[self._held]
            if self.fitted is None:
                return float(held)
            # also recorded: how far the fit has gone into the noise (one transfer for both)
            fitted = (err * self.fitted).sum() / self.fitted.sum()
            held_v, fitted_v = torch.stack([held, fitted]).tolist()
        self.fitted_scores.append(fitted_v)
        return held_v

    def tied(self, err: torch.Tensor) -> bool:
        """Whether an image whose held-out pixels have the errors ``err`` is above the lowest
        score's image by at most ``tie_se`` standard errors of their paired difference."""
        return self.best_err is not None and excess_in_se(err, self.best_err) <= self.tie_se

    def on_step(self, info: StepInfo) -> None:
        super().on_step(info)
        err, self._err = self._err, None
        if err is None:  # tie_se is 0, or nothing was scored
            return
        if self.best_step == info.step:  # a new lowest score
            self.best_err, self.kept, self.kept_step = err, self.best, info.step
        elif self.tied(err):
            self.kept, self.kept_step = self._image(info).detach().clone(), info.step

    def on_end(self, result: FitResult) -> None:
        super().on_end(result)
        result.history[f"{self.name}_fitted"] = list(self.fitted_scores)
        if self.tie_se and self.kept is not None:
            result.images["best"] = self.kept.float().cpu().contiguous()
            result.history["lowest_step"] = [self.best_step]
            result.history["best_step"] = [self.kept_step]  # the step of the image kept

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "fitted_scores": list(self.fitted_scores)}
        if self.tie_se:
            state.update(kept=self.kept, kept_step=self.kept_step, best_err=self.best_err)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.fitted_scores = list(state.get("fitted_scores", []))
        self.kept, self.best_err = state.get("kept"), state.get("best_err")
        self.kept_step = int(state.get("kept_step", 0))


class VarianceStop(StoppingRule):
    """ES-WMV: score = the variance of the last ``window`` steps' images (sampled every K).

    Args:
        window: how many steps the variance spans.
        **kw: see :class:`StoppingRule` (``use="output"`` is the published rule).

    Example:
        >>> VarianceStop(window=100, every=10).slots
        10
    """

    name = "variance"

    def __init__(self, window: int = 100, **kw: Any) -> None:
        kw.setdefault("use", "output")
        super().__init__(**kw)
        self.slots = max(2, window // self.every)
        self.buffer: list[torch.Tensor] = []

    def score(self, image: torch.Tensor, info: StepInfo) -> float | None:
        self.buffer.append(image.detach().clone())
        if len(self.buffer) > self.slots:
            self.buffer.pop(0)
        if len(self.buffer) < self.slots:
            return None
        stack = torch.stack(self.buffer)
        return float((stack - stack.mean(0)).square().mean())

    def on_step(self, info: StepInfo) -> None:
        super().on_step(info)
        if self.best_step == info.step and len(self.buffer) == self.slots:
            # The window's mean at the variance minimum: an average of iterates.
            self.best = torch.stack(self.buffer).mean(0)


_RULES: dict[str, type[StoppingRule]] = {"holdout": HoldoutStop, "variance": VarianceStop}


def list_stoppers() -> list[str]:
    """Names accepted by :func:`make_stopper`."""
    return sorted(_RULES)


def make_stopper(name: str, **kwargs: Any) -> StoppingRule:
    """Build the stopping rule registered as ``name`` with its settings ``kwargs``."""
    try:
        cls = _RULES[name]
    except KeyError:
        raise DeepPriorError(
            f"unknown stopping rule {name!r}; choose one of {', '.join(list_stoppers())}",
            param="stop",
        ) from None
    known = rule_settings(cls)
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise DeepPriorError(
            f"stopping rule {name!r} has no setting {', '.join(map(repr, unknown))}; its "
            f"settings: {', '.join(known)}",
            param="stop_kwargs",
        )
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise DeepPriorError(
            f"bad settings for stopping rule {name!r}: {e}", param="stop_kwargs"
        ) from None


def rule_settings(cls: type) -> list[str]:
    """The keyword settings a stopping rule class takes (its own and its bases', where it
    passes ``**kw`` on).

    Example:
        >>> rule_settings(VarianceStop)
        ['window', 'every', 'patience', 'min_steps', 'use', 'min_delta']
    """
    import inspect

    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
                  and p.name not in names]  # fmt: skip
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names
