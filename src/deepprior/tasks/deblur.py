"""Deblurring with a known Gaussian kernel: ``E(x) = ||k_sigma * x - x0||²``.

The whole task is this file: the operator, the presets and the CLI option (``--sigma``);
registering it adds ``deepprior deblur`` and ``deepprior.list_tasks()``'s entry.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from ..kernels import gaussian_kernel_1d, like, separable_conv
from ..ops import DataTerm, Operator
from .base import Problem, Result
from .common import ImageLike, as_image, fit_task
from .options import FitOptions, fit_options
from .presets import AUTO_BACKTRACK_KEEP_DB, FAST_NET, HOLDOUT, Preset
from .registry import Option, Task, register_task

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["GaussianBlur", "deblur"]


class GaussianBlur(Operator):
    """``A(x) = k * x``: a separable Gaussian blur of standard deviation ``sigma`` px.

    The kernel has ``2 ceil(3 sigma) + 1`` taps, sums to 1, and the image is padded by
    ``padding`` (``reflect`` or ``replicate``) so the output keeps the input's size.

    Example:
        >>> blur = GaussianBlur(1.5)
        >>> blur.A(torch.ones(1, 3, 16, 16)).allclose(torch.ones(1, 3, 16, 16))
        True
    """

    kernel_1d: torch.Tensor

    def __init__(self, sigma: float, padding: str = "reflect") -> None:
        super().__init__()
        if padding not in ("reflect", "replicate"):
            raise ValueError(f"padding must be 'reflect' or 'replicate', got {padding!r}")
        kernel = gaussian_kernel_1d(sigma)
        self.sigma, self.padding = float(sigma), padding
        self.register_buffer("kernel_1d", kernel, persistent=False)
        self.radius = self.kernel_1d.numel() // 2

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, padding={self.padding!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return separable_conv(x, like(self.kernel_1d, x), self.radius, 1, self.padding)


@register_task
class Deblur(Task):
    name = "deblur"
    default_preset = "auto"
    summary = "Deblurring of INPUT, blurred by a known Gaussian kernel of --sigma px."
    presets = {
        "auto": Preset("auto", "SR-default net, at most 2000 steps; stops by itself (held-out "
                       "pixels), output = best EMA", iters=2000, output="best", stop="holdout",
                       stop_kwargs=HOLDOUT, backtrack_keep_db=AUTO_BACKTRACK_KEEP_DB),
        "paper": Preset("paper", "SR-default net, 2000 steps, sigma_p=1/30", iters=2000,
                        ema=None),
        "fast": Preset("fast", "64-filter net, 1000 steps", net_kwargs=FAST_NET, iters=1000,
                       ema=None),
    }  # fmt: skip
    options = (Option("sigma", "Standard deviation of the Gaussian blur, in px.", type=float,
                      required=True),)  # fmt: skip

    def tile_footprint(self, *, sigma: float, **_: Any) -> tuple[int, int]:
        """No scale; the Gaussian's radius, ceil(3 sigma) + 1 px, as context around a tile."""
        return 1, math.ceil(3 * float(sigma)) + 1

    def run(self, image: ImageLike, **kw: Any) -> Result:
        return deblur(image, **kw)


@fit_options
def deblur(
    image: ImageLike, sigma: float, *, preset: str | None = None, **kw: Unpack[FitOptions]
) -> Result:
    """Non-blind deblurring: fit ``||GaussianBlur(sigma)(x) - x0||²``.

    Example:
        >>> from deepprior.tasks.deblur import deblur
        >>> res = deblur(torch.rand(3, 32, 32), 1.0, iters=2, progress=False,
        ...              net_kwargs={"n_d": [8, 8], "n_s": 2, "depth": 2})
        >>> res.image.shape
        torch.Size([3, 32, 32])
    """
    y = as_image(image)
    problem = Problem(
        "deblur", DataTerm(y, GaussianBlur(sigma)), tuple(y.shape[-2:]), y.shape[0],
        init=y, degraded=y, info={"sigma": float(sigma)},
    )  # fmt: skip
    return fit_task(problem, preset, **kw)
