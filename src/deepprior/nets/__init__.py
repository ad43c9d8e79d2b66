"""Generators f_theta(z), built by name through one registry.

Example:
    >>> from deepprior.nets import create_net
    >>> net = create_net("skip", in_channels=32, out_channels=3)  # the paper's SR default
    >>> sum(p.numel() for p in net.parameters()) > 2_000_000
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import DeepPriorError, ImageTooSmall
from .hourglass import Hourglass
from .inputs import guide_input, make_input, meshgrid_input, noise_input
from .others import Pixels, ResNet, UNet

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_net(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a generator factory to the registry under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = fn
        return fn

    return deco


def list_nets() -> list[str]:
    """Names accepted by :func:`create_net`."""
    return sorted(_REGISTRY)


def create_net(name: str, in_channels: int = 32, out_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build the generator registered as ``name``; ``kwargs`` override its defaults.

    Args:
        name: one of :func:`list_nets` (``skip``, ``hourglass``, ``unet``, ``resnet``, ...).
        in_channels: channels of the input ``z``.
        out_channels: channels of the output image (1 or 3).
        **kwargs: constructor arguments of the underlying class.

    Returns:
        An ``nn.Module`` with attributes ``stride`` (input sides must be multiples of it),
        ``in_channels`` and ``out_channels``.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise DeepPriorError(
            f"unknown net {name!r}; choose one of {', '.join(list_nets())}"
        ) from None
    try:
        return factory(in_channels=in_channels, out_channels=out_channels, **kwargs)
    except TypeError as e:
        raise DeepPriorError(f"bad settings for net {name!r}: {e}") from None


@register_net("skip")
def _skip(**kw: Any) -> nn.Module:
    """The paper's SR/denoising default: 5 levels of 128 filters, 4-filter 1x1 skips (~2.2 M)."""
    return Hourglass(**kw)


@register_net("hourglass")
def _hourglass(depth: int = 5, width: int = 128, **kw: Any) -> nn.Module:
    """The hourglass without skip connections (the paper's depth 2/4/6 comparison)."""
    kw.setdefault("n_d", [width] * depth)
    kw.setdefault("n_s", 0)
    return Hourglass(**kw)


for _d in (2, 4, 6):
    register_net(f"hourglass{_d}")(lambda _d=_d, **kw: _hourglass(depth=_d, **kw))


@register_net("jpeg")
def _jpeg(**kw: Any) -> nn.Module:
    """The JPEG-artefact net of Fig. 6: widths 8..128, skips only on the two deepest levels."""
    kw.setdefault("n_d", [8, 16, 32, 64, 128])
    kw.setdefault("n_s", [0, 0, 0, 4, 4])
    return Hourglass(**kw)


@register_net("inpaint-depth")
def _inpaint_depth(**kw: Any) -> nn.Module:
    """The net of the inpainting depth study (Fig. 13): 6 levels, no skips, k_u=5, nearest."""
    kw.setdefault("n_d", [16, 32, 64, 128, 128, 128])
    kw.setdefault("n_s", 0)
    kw.setdefault("k_u", 5)
    kw.setdefault("upsample", "nearest")
    return Hourglass(**kw)


@register_net("preimage")
def _preimage(**kw: Any) -> nn.Module:
    """The natural pre-image net (Figs. 14, 15): 6 levels, k=[7,7,5,5,3,3], zero padding."""
    kw.setdefault("n_d", [16, 32, 64, 128, 128, 128])
    kw.setdefault("k_d", [7, 7, 5, 5, 3, 3])
    kw.setdefault("k_u", [7, 7, 5, 5, 3, 3])
    kw.setdefault("n_s", [4, 4, 4, 4, 4, 4])
    kw.setdefault("upsample", "nearest")
    kw.setdefault("pad", "zero")
    return Hourglass(**kw)


@register_net("actmax")
def _actmax(**kw: Any) -> nn.Module:
    """The activation-maximisation net (Figs. 16, 17): k=[5,3,5,5,3,5], bilinear, zero padding."""
    kw.setdefault("n_d", [16, 32, 64, 128, 128, 128])
    kw.setdefault("k_d", [5, 3, 5, 5, 3, 5])
    kw.setdefault("k_u", [5, 3, 5, 5, 3, 5])
    kw.setdefault("n_s", [0, 4, 4, 4, 4, 4])
    kw.setdefault("pad", "zero")
    return Hourglass(**kw)


@register_net("unet")
def _unet(**kw: Any) -> nn.Module:
    return UNet(**kw)


@register_net("resnet")
def _resnet(**kw: Any) -> nn.Module:
    return ResNet(**kw)


@register_net("pixels")
def _pixels(**kw: Any) -> nn.Module:
    """No prior: optimise the pixels directly (a baseline of the paper's tables)."""
    return Pixels(**kw)


class Restarts(nn.Module):
    """Independently initialised copies of a generator, fitted together in one pass.

    Restart ``i`` maps ``z[i]`` through its own net; the outputs are stacked along the batch
    dimension, so one data term, one backward pass and one Adam step serve them all. The
    paper's "average of two runs" is the mean over that dimension.

    Example:
        >>> nets = [create_net("skip", 4, 3, n_d=[8, 8], n_s=2, depth=2) for _ in range(2)]
        >>> Restarts(nets)(torch.rand(2, 4, 16, 16)).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        if not nets:
            raise DeepPriorError("Restarts needs at least one net")
        self.nets = nn.ModuleList(nets)
        self.stride = getattr(nets[0], "stride", 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != len(self.nets):
            raise DeepPriorError(f"expected a batch of {len(self.nets)} inputs, got {z.shape[0]}")
        return torch.cat([net(z[i : i + 1]) for i, net in enumerate(self.nets)])


def canvas_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """Smallest size >= ``size`` whose sides are multiples of ``stride`` (and at least 2x it).

    The generator works on this canvas and the output is cropped back to ``size`` exactly, so
    any image size works and nothing of the user's image is cropped away.
    """
    if stride <= 1:
        return size
    return tuple(max(math.ceil(s / stride), 2) * stride for s in size)  # type: ignore[return-value]


def min_image_side(stride: int) -> int:
    """The smallest image side a net of total ``stride`` accepts: half of its smallest canvas."""
    return max(stride // 2, 1)


def too_small(net: str, size: tuple[int, int], min_side: int) -> ImageTooSmall:
    """The error for a ``size`` (H, W) image that ``net`` (``min_side`` px at least) cannot fit.

    A shallower net is suggested only where it would fit and is not the one in use.
    """
    h, w = size
    shallow = "hourglass2"
    fits_shallow = min(h, w) >= min_image_side(create_net(shallow, 1, 1).stride)
    hint = f"a shallower net such as {shallow!r}" if net != shallow and fits_shallow else ""
    return ImageTooSmall(
        f"the image is {w}x{h} px but net {net!r} needs at least {min_side} px per side; "
        f"use a larger image{' or ' + hint if hint else ''}",
        net=net, min_side=min_side, hint=hint,
    )  # fmt: skip


__all__ = [
    "Restarts", "too_small",
    "Hourglass", "UNet", "ResNet", "Pixels", "create_net", "list_nets", "register_net",
    "canvas_size", "min_image_side", "make_input", "noise_input",
    "meshgrid_input", "guide_input",
]  # fmt: skip
