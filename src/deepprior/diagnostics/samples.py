"""Samples of the prior (paper Fig. 5): f_theta(z) for random theta, no fitting at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..errors import DeepPriorError
from ..nets import canvas_size, create_net, noise_input

__all__ = ["PriorSamples", "prior_samples"]


@dataclass
class PriorSamples:
    """A grid of prior samples.

    Attributes:
        images: ``images[r][c]``: (3, size, size) in [0, 1]; rows are the architecture
            variants (``row_labels``), columns the depths (``col_labels``).
        row_labels, col_labels: what each row / column shows.
        settings: the net settings of every cell, row by row.
    """

    images: list[list[torch.Tensor]]
    row_labels: list[str]
    col_labels: list[str]
    settings: list[list[dict]] = field(default_factory=list)


def prior_samples(
    size: int = 128,
    *,
    depths: Sequence[int] = (1, 3, 5),
    skips: Sequence[bool] = (False, True),
    upsamples: Sequence[str] = ("bilinear", "nearest"),
    width: int = 128,
    channels: int = 32,
    seed: int = 0,
) -> PriorSamples:
    """Draw f_theta(z) for randomly initialised hourglass nets of several depths and kinds.

    Every cell uses the same ``z`` (uniform in [0, 0.1), ``channels`` channels) and weights
    drawn from ``seed``; the nets stay in train mode (BatchNorm uses the statistics of the
    single image, as while fitting).

    Args:
        size: side of each sample.
        depths: hourglass depths (columns; the paper: 1, 3 and 5).
        skips: without (4-filter 1x1 skips off) and/or with skip connections.
        upsamples: ``bilinear`` and/or ``nearest``.
        width: filters per level.
        channels: channels of ``z``.
        seed: seeds ``z`` and the weights.

    Returns:
        A :class:`PriorSamples` with ``len(skips) * len(upsamples)`` rows.

    Example:
        >>> s = prior_samples(32, depths=(1, 2), width=8)
        >>> len(s.images), len(s.images[0]), tuple(s.images[0][0].shape)
        (4, 2, (3, 32, 32))
    """
    if size < 8:
        raise DeepPriorError(f"--size must be at least 8 px, got {size}")
    if not depths or min(depths) < 1:
        raise DeepPriorError("depths must be positive")
    gen = torch.Generator().manual_seed(seed)
    big = canvas_size((size, size), 2 ** max(depths))
    z_full = noise_input(channels, big, generator=gen)
    rows, labels, settings = [], [], []
    for skip in skips:
        for up in upsamples:
            row, row_set = [], []
            for d in depths:
                torch.manual_seed(seed + d)
                kw = {"depth": d, "width": width, "n_s": 4 if skip else 0, "upsample": up}
                net = create_net("hourglass", channels, 3, **kw)
                canvas = canvas_size((size, size), 2**d)
                top, left = (big[0] - canvas[0]) // 2, (big[1] - canvas[1]) // 2
                z = z_full[..., top : top + canvas[0], left : left + canvas[1]]
                net.train()
                with torch.no_grad():
                    out = net(z)[0]
                t, l_ = (canvas[0] - size) // 2, (canvas[1] - size) // 2
                row.append(out[:, t : t + size, l_ : l_ + size].clamp(0, 1).contiguous())
                row_set.append(kw)
            rows.append(row)
            settings.append(row_set)
            labels.append(f"{'skip' if skip else 'no skip'}, {up}")
    return PriorSamples(rows, labels, [f"depth {d}" for d in depths], settings)
