"""The other generators the paper compares: U-Net, ResNet, and the "no prior" pixel grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBlock, Upsample, check_ints, conv


class UNet(nn.Module):
    """A U-Net: full-width skip connections (concatenation of the whole encoder features).

    The paper finds its prior too weak: it fits the degraded image, noise included, quickly.

    Args:
        in_channels, out_channels: channels of ``z`` and of the image.
        widths: filters per level (``len(widths)`` levels, ``2**(len(widths)-1)`` total stride).
        upsample, pad, act: as in :class:`~deepprior.nets.Hourglass`.
        sigmoid: end with a sigmoid.
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        widths: tuple[int, ...] = (16, 32, 64, 128, 256),
        upsample: str = "bilinear",
        pad: str = "reflection",
        act: str = "leaky_relu",
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        widths = tuple(check_ints(widths, "widths", form="list"))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride = 2 ** (len(widths) - 1)
        self.enc = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.enc.append(
                nn.Sequential(
                    ConvBlock(c, w, 3, pad=pad, act=act), ConvBlock(w, w, 3, pad=pad, act=act)
                )
            )
            c = w
        self.up = Upsample(upsample)
        self.dec = nn.ModuleList()
        for w_skip in reversed(widths[:-1]):
            self.dec.append(
                nn.Sequential(
                    ConvBlock(c + w_skip, w_skip, 3, pad=pad, act=act),
                    ConvBlock(w_skip, w_skip, 3, pad=pad, act=act),
                )
            )
            c = w_skip
        self.head = conv(c, out_channels, 1, pad=pad)
        self.out_act = nn.Sigmoid() if sigmoid else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        feats = []
        x = z
        for i, block in enumerate(self.enc):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            feats.append(x)
        for block, skip in zip(self.dec, reversed(feats[:-1]), strict=False):
            x = block(torch.cat([skip, self.up(x)], dim=1))
        return self.out_act(self.head(x))


class _ResBlock(nn.Module):
    def __init__(self, c: int, pad: str, act: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(c, c, 3, pad=pad, act=act),
            conv(c, c, 3, pad=pad, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet(nn.Module):
    """A ResNet at full resolution with no down/upsampling (the paper: prior too strong, slow fit).

    Args:
        in_channels, out_channels: channels of ``z`` and of the image.
        width: filters of every block.
        blocks: number of residual blocks.
        pad, act: as in :class:`~deepprior.nets.Hourglass`.
        sigmoid: end with a sigmoid.
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        width: int = 64,
        blocks: int = 8,
        pad: str = "reflection",
        act: str = "leaky_relu",
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        check_ints(width, "width", form="one")
        check_ints(blocks, "blocks", least=0, form="one")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride = 1
        self.inp = ConvBlock(in_channels, width, 3, pad=pad, act=act)
        self.blocks = nn.Sequential(*[_ResBlock(width, pad, act) for _ in range(blocks)])
        self.head = conv(width, out_channels, 3, pad=pad)
        self.out_act = nn.Sigmoid() if sigmoid else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out_act(self.head(self.blocks(self.inp(z))))


class Pixels(nn.Module):
    """ "No prior": the image itself is the parameter; ``z`` only gives the size.

    The pixels are stored as logits behind a sigmoid so the output stays in [0, 1], and start
    from ``init`` (a given image, e.g. the bicubic upsampling) or mid-gray.
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        size: tuple[int, int] = (64, 64),
        init: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride = 1
        if init is None:
            logits = torch.zeros(1, out_channels, *size)
        else:
            img = init.reshape(1, out_channels, *init.shape[-2:]).float()
            logits = torch.logit(img.clamp(1e-3, 1 - 1e-3))
        self.logits = nn.Parameter(logits)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits).expand(z.shape[0], -1, -1, -1)
