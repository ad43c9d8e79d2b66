"""The Lanczos-2 decimation kernel used by the super-resolution data term (SPEC §3, §6).

For a factor ``t`` the kernel has ``4t`` taps per axis. Tap ``k`` sits at a distance
``d = ±0.5, ±1.5, …, ±(2t - 0.5)`` HR pixels from the kernel centre (the centre of the
untrimmed ``4t + 1``-tap kernel falls between the two middle taps), so the kernel is
symmetric and an output pixel is centred on its ``t × t`` block of HR pixels. The value of
a tap is ``L(d / t)`` with ``L(u) = sinc(u) · sinc(u / 2)`` for ``|u| < 2`` (normalised
sinc, ``sin(πu) / (πu)``); the taps are normalised to sum to 1. The 2-D kernel is the
outer product of the 1-D kernel with itself.
"""

from __future__ import annotations

import math

import torch

from deepprior.errors import DeepPriorError

__all__ = ["lanczos2", "lanczos2_kernel_1d", "lanczos2_kernel_2d"]


def lanczos2(u: torch.Tensor) -> torch.Tensor:
    """The Lanczos-2 window ``sinc(u) · sinc(u/2)`` for ``|u| < 2``, 0 elsewhere."""
    value = torch.sinc(u) * torch.sinc(u / 2)
    return torch.where(u.abs() < 2, value, torch.zeros_like(value))


def _check_factor(factor: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise DeepPriorError(
            f"Lanczos2 kernel factor must be a positive integer, got {factor!r}; "
            "use e.g. 2, 4 or 8."
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
