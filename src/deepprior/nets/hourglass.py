"""The encoder-decoder ("hourglass") generator of the paper's Fig. 20, with optional skips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch
from torch import nn

from ..errors import DeepPriorError
from .layers import ConvBlock, Upsample, activation, check_ints, conv

T = TypeVar("T")


def per_level(value: T | Sequence[T], depth: int, name: str) -> list[T]:
    """Broadcast a scalar setting to ``depth`` levels, or check a per-level list's length."""
    if isinstance(value, (list, tuple)):
        if len(value) != depth:
            raise DeepPriorError(
                f"{name} has {len(value)} entries but the net has {depth} levels; "
                f"give one value or {depth}"
            )
        return list(value)
    return [value] * depth  # type: ignore[list-item]


def _ints(
    value: int | Sequence[int], depth: int, name: str, *, least: int, odd: bool = False
) -> list[int]:
    """:func:`per_level` for filter counts and kernel sizes, with a clear error for bad values."""
    check_ints(value, name, least=least, odd=odd)
    return per_level(value, depth, name)


class _Level(nn.Module):
    """One level: down block, the deeper levels, ×2 upsampling, [skip concat], up block."""

    def __init__(
        self,
        cin: int,
        n_d: int,
        n_u: int,
        n_s: int,
        k_d: int,
        k_u: int,
        k_s: int,
        deeper: nn.Module | None,
        deeper_out: int,
        *,
        up: str,
        down: str,
        pad: str,
        act: str,
        need1x1_up: bool,
    ) -> None:
        super().__init__()
        self.skip = ConvBlock(cin, n_s, k_s, pad=pad, act=act) if n_s > 0 else None
        self.down = nn.Sequential(
            ConvBlock(cin, n_d, k_d, stride=2, down=down, pad=pad, act=act),
            ConvBlock(n_d, n_d, k_d, pad=pad, act=act),
        )
        self.deeper = deeper
        self.up = Upsample(up)
        self.bn = nn.BatchNorm2d(n_s + deeper_out)
        up_layers: list[nn.Module] = [ConvBlock(n_s + deeper_out, n_u, k_u, pad=pad, act=act)]
        if need1x1_up:
            up_layers.append(ConvBlock(n_u, n_u, 1, pad=pad, act=act))
        self.up_conv = nn.Sequential(*up_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        if self.deeper is not None:
            y = self.deeper(y)
        y = self.up(y)
        if self.skip is not None:
            y = torch.cat([self.skip(x), y], dim=1)
        return self.up_conv(self.bn(y))


class Hourglass(nn.Module):
    """Hourglass generator with per-level widths, kernels, skips and resampling (Fig. 20).

    Level ``i`` has ``n_d[i]``/``k_d[i]`` filters/kernel on the down path, ``n_u[i]``/``k_u[i]``
    on the up path and ``n_s[i]``/``k_s[i]`` on the skip path (``n_s[i] == 0``: no skip).
    Every list setting also accepts a single value for all levels. The input's sides must be
    multiples of :attr:`stride` (``2**depth``); :func:`deepprior.nets.canvas_size` gives the
    padded size to use for an image of any size.

    Args:
        in_channels: channels of the input ``z``.
        out_channels: channels of the image (1 or 3).
        n_d, n_u, n_s: filters per level on the down, up and skip paths.
        k_d, k_u, k_s: kernel sizes per level.
        upsample: ``"bilinear"`` or ``"nearest"`` (per level or one for all).
        downsample: ``"stride"``, ``"avg"``, ``"max"`` or ``"lanczos"`` (per level or one).
        pad: ``"reflection"`` or ``"zero"`` (per level or one).
        act: activation name (``"leaky_relu"`` by default).
        need1x1_up: add the 1x1 conv block at the end of each up block.
        sigmoid: end with a sigmoid so the output lies in [0, 1].
        checkpoint: gradient checkpointing per conv block: the backward pass recomputes
            each block from its input instead of keeping its activations (less memory for
            large images, at about a third more compute).

    Example:
        >>> net = Hourglass(32, 3)  # the paper's SR/denoising default
        >>> net(torch.rand(1, 32, 64, 64)).shape
        torch.Size([1, 3, 64, 64])
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        n_d: int | Sequence[int] = 128,
        n_u: int | Sequence[int] | None = None,
        n_s: int | Sequence[int] = 4,
        k_d: int | Sequence[int] = 3,
        k_u: int | Sequence[int] = 3,
        k_s: int | Sequence[int] = 1,
        upsample: str | Sequence[str] = "bilinear",
        downsample: str | Sequence[str] = "stride",
        pad: str | Sequence[str] = "reflection",
        act: str = "leaky_relu",
        need1x1_up: bool = True,
        sigmoid: bool = True,
        depth: int | None = None,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if depth is None:
            depth = len(n_d) if isinstance(n_d, (list, tuple)) else 5
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise DeepPriorError(f"the hourglass needs at least one level, got depth={depth}")
        nd = _ints(n_d, depth, "n_d", least=1)
        nu = _ints(n_d if n_u is None else n_u, depth, "n_u", least=1)
        ns = _ints(n_s, depth, "n_s", least=0)
        kd = _ints(k_d, depth, "k_d", least=1, odd=True)
        ku = _ints(k_u, depth, "k_u", least=1, odd=True)
        ks = _ints(k_s, depth, "k_s", least=1, odd=True)
        ups = per_level(upsample, depth, "upsample")
        downs = per_level(downsample, depth, "downsample")
        pads = per_level(pad, depth, "pad")
        activation(act)  # validate early
        self.depth = depth
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = 2**depth

        deeper: nn.Module | None = None
        for i in reversed(range(depth)):
            cin = in_channels if i == 0 else nd[i - 1]
            deeper_out = nd[i] if i == depth - 1 else nu[i + 1]
            deeper = _Level(
                cin, nd[i], nu[i], ns[i], kd[i], ku[i], ks[i], deeper, deeper_out,
                up=ups[i], down=downs[i], pad=pads[i], act=act, need1x1_up=need1x1_up,
            )  # fmt: skip
        self.body = deeper
        self.head = conv(nu[0], out_channels, 1, pad=pads[0])
        self.out_act = nn.Sigmoid() if sigmoid else nn.Identity()
        self.checkpoint = bool(checkpoint)
        for m in self.modules():
            if isinstance(m, ConvBlock):
                m.checkpoint = self.checkpoint

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out_act(self.head(self.body(z)))
