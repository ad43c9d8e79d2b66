"""What the task modules share: reading images, and resolving a preset with the user's
overrides before :func:`~deepprior.tasks.base.solve_problem`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DeepPriorError
from .base import Problem, Result, solve_problem
from .presets import Preset
from .registry import Task, get_task

__all__ = ["ImageLike", "as_image", "fit_task", "with_user_overrides"]

ImageLike = Any  # torch.Tensor | np.ndarray | PIL.Image.Image | str | Path


def as_image(x: ImageLike, name: str = "image") -> torch.Tensor:
    """Convert a tensor, array, PIL image or path to a float (C, H, W) tensor in [0, 1]."""
    if isinstance(x, (str, Path)):
        from ..io import load_image

        return load_image(x)
    if isinstance(x, torch.Tensor):
        t = x.detach().float().cpu()
    else:
        try:
            from PIL import Image

            if isinstance(x, Image.Image):
                x = np.asarray(x)
        except ImportError:  # pragma: no cover - Pillow is a dependency
            pass
        arr = np.asarray(x)
        scale = 255.0 if arr.dtype == np.uint8 else 65535.0 if arr.dtype == np.uint16 else 1.0
        t = torch.from_numpy(arr.astype(np.float32) / scale)
        t = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3, 4):
        raise DeepPriorError(
            f"{name} must be (C, H, W) with 1 or 3 channels, got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 4:
        t = t[:3]
    if not torch.isfinite(t).all():
        raise DeepPriorError(f"{name} contains NaN or infinite values")
    _check_range(t, name)
    return t.clamp(0, 1).contiguous()


#: The largest value a float image may hold: a noisy image in [0, 1] overshoots a little
#: (it is clamped), an image in 0-255 or 0-65535 does not fit (it is refused).
MAX_FLOAT_VALUE = 2.0


def _check_range(t: torch.Tensor, name: str) -> None:
    """Refuse a float image in 0-255 (or 0-65535) rather than clamp it to white.

    Example:
        >>> _check_range(torch.full((1, 2, 2), 200.0), "image")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        deepprior.errors.DeepPriorError: image holds values up to 200 ... divide it by 255 ...
    """
    top = float(t.max()) if t.numel() else 0.0
    if top > MAX_FLOAT_VALUE:
        scale = "255" if top <= 255.5 else "65535"
        raise DeepPriorError(
            f"{name} holds values up to {top:g} but float images must be in [0, 1]; it looks "
            f"like a 0-{scale} image: divide it by {scale} (or pass it as "
            f"{'uint8' if scale == '255' else 'uint16'})"
        )


_SOLVE_KEYS = {
    "seed", "device", "precision", "gt", "progress", "callbacks", "snapshot_dir",
    "snapshot_every", "metrics_every", "memory_check", "prior", "tv_weight", "restarts",
    "state_file", "state_every", "state_seconds", "resume", "init_weights",
}  # fmt: skip
_PRESET_KEYS = {
    "iters", "lr", "input_noise", "net", "ema", "output", "input", "backtrack_db", "stop",
    "stop_kwargs",
}  # fmt: skip


def with_user_overrides(p: Preset, kw: dict[str, Any]) -> Preset:
    """``p`` with the preset settings among ``kw`` (``iters``, ``net``, ``net_kwargs`` ...),
    which are popped from ``kw``. ``net_kwargs`` and ``stop_kwargs`` change the preset's
    settings of its net and stopping rule; another ``net`` or ``stop`` drops them.

    Example:
        >>> from deepprior.tasks import get_preset
        >>> kw = {"net": "hourglass2", "net_kwargs": {"n_d": 8}, "seed": 1}
        >>> p = with_user_overrides(get_preset("denoise"), kw)
        >>> p.net, p.net_kwargs, kw
        ('hourglass2', {'n_d': 8}, {'seed': 1})
        >>> p = with_user_overrides(get_preset("denoise"), {"stop_kwargs": {"patience": 50}})
        >>> p.stop, p.stop_kwargs["patience"], p.stop_kwargs["fraction"]
        ('holdout', 50, 0.05)
    """
    overrides = {k: kw.pop(k) for k in list(kw) if k in _PRESET_KEYS}
    net_kwargs = kw.pop("net_kwargs", None) or {}
    if overrides.get("net") is not None and overrides["net"] != p.net:
        overrides["net_kwargs"] = dict(net_kwargs)  # another net: drop the preset's settings
    else:
        overrides["net_kwargs"] = {**p.net_kwargs, **net_kwargs}
    stop_kwargs = overrides.pop("stop_kwargs", None)
    if stop_kwargs is not None:
        stop = overrides.get("stop", p.stop)
        if stop is None:
            raise DeepPriorError(
                f"stop_kwargs: preset {p.name!r} has no stopping rule to set (it runs every "
                "step); use a preset that stops by itself (auto)",
                param="stop_kwargs",
            )
        same = overrides.get("stop") in (None, p.stop)
        overrides["stop_kwargs"] = {**p.stop_kwargs, **stop_kwargs} if same else stop_kwargs
    return p.with_overrides(**overrides)


def fit_task(
    problem: Problem,
    preset: str | Preset | None,
    task: Task | None = None,
    params: dict[str, Any] | None = None,
    **kw: Any,
) -> Result:
    """Resolve the preset (a name of ``task``'s presets, or a :class:`Preset`), apply the
    preset overrides among ``kw`` (``iters``, ``lr``, ``net``, ``net_kwargs`` ...) and solve.

    ``params`` are the task's options a preset may depend on (e.g. the SR factor).
    """
    unknown = set(kw) - _SOLVE_KEYS - _PRESET_KEYS - {"net_kwargs"}
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    if isinstance(preset, Preset):
        p = preset
    else:
        p = (task or get_task(problem.task)).preset(preset, **(params or {}))
    p = with_user_overrides(p, kw)
    if "gt" in kw and kw["gt"] is not None:
        kw["gt"] = as_image(kw["gt"], "ground truth")
    return solve_problem(problem, p, **kw)
