"""``solve(y, operator=A, preset=...)``: restore through any differentiable degradation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import DataTerm, Identity
from .base import Problem, Result
from .common import ImageLike, as_image, fit_task
from .options import FitOptions, fit_options
from .presets import Preset
from .registry import get_task

if TYPE_CHECKING:
    from typing_extensions import Unpack


@fit_options
def solve(
    image: ImageLike | Problem,
    operator: nn.Module | None = None,
    *,
    preset: str | Preset | None = None,
    task: str = "deblur",
    size: tuple[int, int] | None = None,
    weight: torch.Tensor | None = None,
    **kw: Unpack[FitOptions],
) -> Result:
    """Restore ``image`` = ``A(x)`` (+ noise) for any differentiable operator ``A``.

    Fits ``||A(f(z)) - y||²`` (``weight``: per-pixel weights of the observation).

    Args:
        image: the observation ``y`` (tensor, array, PIL image or path); or a task
            :class:`Problem` (then ``preset`` must be a :class:`Preset`).
        operator: ``A``, an :class:`torch.nn.Module` mapping (N, C, H, W) images to the
            observation; the identity when ``None``.
        preset: a :class:`Preset`, or the name of one of ``task``'s presets.
        task: whose presets a name refers to (default the deblurring task's).
        size: ``(H, W)`` of the restored image; default ``operator.input_size(h, w)`` when
            it has one, else the observation's size.
        **kw: preset overrides (``iters``, ``lr``, ``net``, ``net_kwargs`` ...) and the
            settings of :func:`~deepprior.tasks.base.solve_problem` (``seed``, ``gt`` ...).

    Example:
        >>> import deepprior, torch
        >>> from deepprior.tasks.deblur import GaussianBlur
        >>> y = GaussianBlur(1.0)(torch.rand(1, 3, 32, 32))[0]
        >>> res = deepprior.solve(y, operator=GaussianBlur(1.0), iters=2, progress=False,
        ...                       net_kwargs={"n_d": [8, 8], "n_s": 2, "depth": 2})
        >>> res.image.shape
        torch.Size([3, 32, 32])
    """
    if isinstance(image, Problem):
        return fit_task(image, preset, **kw)
    y = as_image(image)
    op = operator if operator is not None else Identity()
    h, w = y.shape[-2:]
    if size is None:
        size = op.input_size(h, w) if hasattr(op, "input_size") else (h, w)
    init = (
        y
        if tuple(size) == (h, w)
        else F.interpolate(y[None], size=tuple(size), mode="bicubic", align_corners=False)[0].clamp(
            0, 1
        )
    )
    problem = Problem("solve", DataTerm(y, op, weight), tuple(size), y.shape[0], init=init,
                      degraded=y if tuple(size) == (h, w) else None)  # fmt: skip
    return fit_task(problem, preset, get_task(task), **kw)
