"""Hand-crafted priors used as baselines next to the Deep Image Prior (SPEC §3)."""

from __future__ import annotations

import torch

from deepprior.errors import DeepPriorError

__all__ = ["total_variation"]


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation, averaged over pixels, channels and the batch.

    For one image ``x_n`` of shape ``(C, H, W)``::

        TV(x_n) = ( Σ |x[c, i, j+1] - x[c, i, j]| + Σ |x[c, i+1, j] - x[c, i, j]| ) / (C·H·W)

    i.e. the mean over pixels (and channels) of ``|dx| + |dy|`` with forward differences
    (no difference across the last row/column). The result is the mean of ``TV(x_n)`` over
    the batch: a differentiable scalar tensor. Accepts ``(N, C, H, W)`` or ``(C, H, W)``.
    Unlike ``kornia.losses.total_variation`` (a sum per channel) it does not grow with the
    image size, so its weight in a loss carries over between images.
    """
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise DeepPriorError(
            f"total_variation expects (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}."
        )
    n, c, h, w = x.shape
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3))
    return ((dx + dy) / (c * h * w)).mean()
