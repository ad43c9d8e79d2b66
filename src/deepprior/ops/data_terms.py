"""Data terms E(x; x0): how far the generated image is from the observation."""

from __future__ import annotations

import torch
from torch import nn

from .priors import total_variation


class DataTerm(nn.Module):
    """``E(x) = mean(w * (A(x) - y)^2) + tv_weight * TV(x)``.

    ``A`` is a degradation operator (identity, downsampler, ...), ``w`` an optional per-pixel
    weight such as an inpainting mask (1 = known), and the TV term turns the "no prior"
    parametrisation into the TV-prior baseline.

    Args:
        target: the observation ``y``, (C, h, w) or (1, C, h, w).
        operator: ``A``; identity when ``None``.
        weight: per-pixel weight broadcastable to ``y`` (e.g. a (1, h, w) mask), or ``None``.
        tv_weight: weight of the total-variation term (0 disables it).

    Example:
        >>> y = torch.rand(3, 8, 8)
        >>> float(DataTerm(y)(y.unsqueeze(0)))
        0.0
    """

    def __init__(
        self,
        target: torch.Tensor,
        operator: nn.Module | None = None,
        weight: torch.Tensor | None = None,
        tv_weight: float = 0.0,
    ) -> None:
        super().__init__()
        y = target.float()
        self.register_buffer("target", y.unsqueeze(0) if y.dim() == 3 else y)
        self.operator = operator if operator is not None else nn.Identity()
        if weight is not None:
            w = weight.float()
            while w.dim() < 4:
                w = w.unsqueeze(0)
            self.register_buffer("weight", w)
            self.register_buffer("target_w", self.target * w)
        else:
            self.weight = None
        self.tv_weight = float(tv_weight)

    def observed(self) -> torch.Tensor | None:
        """The pixels the loss compares, 1 = observed: the weight's positive pixels, else a
        masking operator's known ones (its ``known()``, when it keeps the image's size);
        ``None`` when every pixel is.

        Example:
            >>> from deepprior.ops import Mask
            >>> DataTerm(torch.rand(1, 1, 2), Mask(torch.tensor([[0.0, 1.0]]))).observed().flatten()
            tensor([0., 1.])
        """
        if self.weight is not None:
            return (self.weight > 0).float()
        known = getattr(self.operator, "known", None)
        if not callable(known):
            return None
        k = known()
        return k if tuple(k.shape[-2:]) == tuple(self.target.shape[-2:]) else None

    def keep_observed(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the pixels the operator observes exactly set to the observation (a
        :class:`~deepprior.ops.Mask`'s known pixels); ``x`` itself for other operators."""
        keep = getattr(self.operator, "keep_known", None)
        return x if keep is None else keep(x, self.target)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ax = self.operator(x)
        if self.weight is not None:
            loss = (ax * self.weight - self.target_w).square().mean()
        else:
            loss = (ax - self.target).square().mean()
        if self.tv_weight:
            loss = loss + self.tv_weight * total_variation(x)
        return loss
