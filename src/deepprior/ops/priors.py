"""Hand-crafted priors used as baselines next to the Deep Image Prior (SPEC §3)."""

from __future__ import annotations

import torch
from torch import nn

from deepprior.errors import DeepPriorError

__all__ = ["TVPenalty", "total_variation", "with_tv"]


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


class TVPenalty(nn.Module):
    """``term(x) + weight * TV(x)``: a loss with the total-variation prior added."""

    def __init__(self, term: nn.Module, weight: float) -> None:
        super().__init__()
        self.term, self.weight = term, float(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.term(x) + self.weight * total_variation(x)


def with_tv(term: nn.Module, weight: float) -> nn.Module:
    """``term`` with ``weight * TV(x)`` added: the one place the TV prior joins a loss.

    A term with its own ``tv_weight`` (:class:`~deepprior.ops.DataTerm`) gets it set, so rules
    that inspect the data term still see one; any other loss is wrapped in
    :class:`TVPenalty`. A zero weight returns ``term`` unchanged.

    Example:
        >>> from deepprior.ops import DataTerm
        >>> with_tv(DataTerm(torch.rand(3, 8, 8)), 0.1).tv_weight
        0.1
    """
    if hasattr(term, "tv_weight"):
        term.tv_weight = float(weight)
        return term
    return TVPenalty(term, weight) if weight else term
