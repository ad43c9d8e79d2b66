"""Fixed filter kernels shared by the generators (:mod:`deepprior.nets`) and the forward
operators (:mod:`deepprior.ops`), kept below both so that neither imports the other.

The Lanczos-2 decimation kernel (SPEC §3, §6): for a factor ``t`` the kernel has ``4t`` taps
per axis. Tap ``k`` sits at a distance ``d = ±0.5, ±1.5, …, ±(2t - 0.5)`` HR pixels from the
kernel centre (the centre of the untrimmed ``4t + 1``-tap kernel falls between the two middle
taps), so the kernel is symmetric and an output pixel is centred on its ``t × t`` block of HR
pixels. The value of a tap is ``L(d / t)`` with ``L(u) = sinc(u) · sinc(u / 2)`` for
``|u| < 2`` (normalised sinc, ``sin(πu) / (πu)``); the taps are normalised to sum to 1. The
2-D kernel is the outer product of the 1-D kernel with itself.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .errors import DeepPriorError

__all__ = [
    "Lanczos2Decimate", "gaussian_kernel_1d", "lanczos2", "lanczos2_kernel_1d",
    "lanczos2_kernel_2d", "like",
]  # fmt: skip


def like(buf: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``buf`` on ``x``'s device and in ``x``'s dtype, copying only when needed."""
    if buf.dtype != x.dtype or buf.device != x.device:
        return buf.to(device=x.device, dtype=x.dtype)
    return buf


def lanczos2(u: torch.Tensor) -> torch.Tensor:
    """The Lanczos-2 window ``sinc(u) · sinc(u/2)`` for ``|u| < 2``, 0 elsewhere."""
    value = torch.sinc(u) * torch.sinc(u / 2)
    return torch.where(u.abs() < 2, value, torch.zeros_like(value))


def _check_factor(factor: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise DeepPriorError(
            f"Lanczos2 kernel factor must be a positive integer, got {factor!r}; "
            "use e.g. 2, 4 or 8.",
            param="factor",
        )
    return factor


def lanczos2_kernel_1d(factor: int) -> torch.Tensor:
    """The 1-D Lanczos-2 decimation kernel for ``factor``: ``4 * factor`` float64 taps.

    Symmetric, sums to 1; tap ``k`` (``k = 0 … 4t-1``) is at distance
    ``d = k - (4t - 1) / 2`` HR pixels from the centre and has weight ``∝ L(d / t)``.
    """
    t = _check_factor(factor)
    n = 4 * t
    d = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    k = lanczos2(d / t)
    k = k / k.sum()
    # Enforce exact symmetry against any last-bit rounding in the sum.
    k = 0.5 * (k + k.flip(0))
    assert math.isclose(float(k.sum()), 1.0, rel_tol=0, abs_tol=1e-12)
    return k


def lanczos2_kernel_2d(factor: int) -> torch.Tensor:
    """The separable 2-D kernel ``outer(k1, k1)``: shape ``(4t, 4t)``, float64, sums to 1."""
    k = lanczos2_kernel_1d(factor)
    return torch.outer(k, k)


def gaussian_kernel_1d(sigma: float, radius: int | None = None) -> torch.Tensor:
    """A normalised 1-D Gaussian of ``2 * radius + 1`` float64 taps (radius ``ceil(3 sigma)``).

    Tap ``k`` at distance ``d`` from the centre is ``exp(-d² / (2 sigma²)) / Σ``.

    Example:
        >>> k = gaussian_kernel_1d(1.0)
        >>> k.numel(), round(float(k.sum()), 6)
        (7, 1.0)
    """
    if not isinstance(sigma, (int, float)) or not 0 < sigma < math.inf:
        raise DeepPriorError(f"sigma must be a positive number, got {sigma}", param="sigma")
    r = max(1, math.ceil(3 * sigma)) if radius is None else radius
    d = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(d**2) / (2 * sigma**2))
    return k / k.sum()


def separable_conv(
    x: torch.Tensor, k: torch.Tensor, pad: int, stride: int = 1, mode: str = "replicate"
) -> torch.Tensor:
    """Depthwise separable filtering of ``x`` (N, C, H, W) by the 1-D kernel ``k``.

    Each axis is padded by ``pad`` (``mode``), then filtered with stride ``stride``: the
    horizontal pass, then the vertical one; each pads only the axis it filters.
    """
    n, c, h, w = x.shape
    taps = k.numel()
    y = x.reshape(n * c, 1, h, w)
    y = F.pad(y, (pad, pad, 0, 0), mode=mode)
    y = F.conv2d(y, k.view(1, 1, 1, taps), stride=(1, stride))
    y = F.pad(y, (0, 0, pad, pad), mode=mode)
    y = F.conv2d(y, k.view(1, 1, taps, 1), stride=(stride, 1))
    return y.reshape(n, c, y.shape[-2], y.shape[-1])


class Lanczos2Decimate(nn.Module):
    """Lanczos-2 decimation by ``factor``: replication padding of ``3t / 2`` px, then the
    separable ``4t``-tap kernel with stride ``t`` (the paper's SR operator and the
    hourglass's ``lanczos`` downsampler)."""

    kernel_1d: torch.Tensor

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor
        # Kept in float64 (at most 32 taps, so the cast costs nothing): float64 inputs get
        # the exact kernel.
        self.register_buffer("kernel_1d", lanczos2_kernel_1d(factor), persistent=False)
        self.pad = (4 * factor - factor) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return separable_conv(x, like(self.kernel_1d, x), self.pad, self.factor)
