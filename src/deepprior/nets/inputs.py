"""The fixed input z of the generator: noise, a meshgrid, or a guide image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import DeepPriorError

INPUT_KINDS = ("noise", "meshgrid", "guide")


def noise_input(
    channels: int,
    size: tuple[int, int],
    *,
    scale: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Uniform noise in ``[0, scale)`` of shape (1, channels, H, W): the paper's default z."""
    return torch.rand(1, channels, *size, generator=generator) * scale


def meshgrid_input(size: tuple[int, int]) -> torch.Tensor:
    """Two channels holding the x and y coordinates in [0, 1]: an extra smoothness prior."""
    h, w = size
    ys = torch.linspace(0, 1, h).view(h, 1).expand(h, w)
    xs = torch.linspace(0, 1, w).view(1, w).expand(h, w)
    return torch.stack([xs, ys]).unsqueeze(0).contiguous()


def guide_input(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A guide image (C, h, w) reflection-padded to the canvas ``size`` (flash/no-flash's z)."""
    img = image.reshape(1, -1, *image.shape[-2:]).float()
    ph, pw = size[0] - img.shape[-2], size[1] - img.shape[-1]
    if ph < 0 or pw < 0:
        raise DeepPriorError(f"guide image {tuple(img.shape[-2:])} is larger than canvas {size}")
    top, left = ph // 2, pw // 2
    pad = (left, pw - left, top, ph - top)
    # Reflection needs the pad to be smaller than the side; fall back to replication.
    mode = "reflect" if max(pad) < min(img.shape[-2:]) else "replicate"
    return F.pad(img, pad, mode=mode)


def make_input(
    kind: str,
    channels: int,
    size: tuple[int, int],
    *,
    guide: torch.Tensor | None = None,
    scale: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Build z of ``kind`` (``noise``, ``meshgrid`` or ``guide``) on a canvas of ``size``."""
    if kind == "noise":
        return noise_input(channels, size, scale=scale, generator=generator)
    if kind == "meshgrid":
        return meshgrid_input(size)
    if kind == "guide":
        if guide is None:
            raise DeepPriorError("input kind 'guide' needs a guide image")
        return guide_input(guide, size)
    raise DeepPriorError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
