"""Building blocks shared by the generators: conv blocks, activations, resampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DeepPriorError

ACTIVATIONS = ("leaky_relu", "relu", "elu", "silu", "none")
PADDINGS = ("reflection", "zero")
UPSAMPLING = ("bilinear", "nearest")
DOWNSAMPLING = ("stride", "avg", "max", "lanczos")


def activation(name: str) -> nn.Module:
    """Return the activation module called ``name`` (LeakyReLU uses slope 0.2, as in the paper)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "elu":
        return nn.ELU(inplace=True)
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "none":
        return nn.Identity()
    raise DeepPriorError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def conv(
    cin: int, cout: int, k: int, *, stride: int = 1, pad: str = "reflection", bias: bool = True
) -> nn.Conv2d:
    """A ``k``x``k`` convolution with 'same' padding folded into the conv (reflection or zero)."""
    if pad not in PADDINGS:
        raise DeepPriorError(f"unknown padding {pad!r}; choose one of {', '.join(PADDINGS)}")
    mode = "reflect" if pad == "reflection" else "zeros"
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, padding_mode=mode, bias=bias)


class ConvBlock(nn.Sequential):
    """conv -> [downsample] -> BatchNorm -> activation: the unit every level of the hourglass uses.

    ``down`` picks how a stride-2 block downsamples: a strided conv (``"stride"``, the paper's
    default), or a stride-1 conv followed by average/max pooling or a Lanczos2 filter.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        *,
        stride: int = 1,
        down: str = "stride",
        pad: str = "reflection",
        act: str = "leaky_relu",
        bn: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if stride == 1 or down == "stride":
            layers.append(conv(cin, cout, k, stride=stride, pad=pad, bias=not bn))
        else:
            layers.append(conv(cin, cout, k, pad=pad, bias=not bn))
            layers.append(downsampler(down, stride))
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(activation(act))
        super().__init__(*layers)


def downsampler(mode: str, factor: int) -> nn.Module:
    """A fixed (parameter-free) ×``factor`` downsampler for the hourglass's down path."""
    if mode == "avg":
        return nn.AvgPool2d(factor)
    if mode == "max":
        return nn.MaxPool2d(factor)
    if mode == "lanczos":
        from ..ops.operators import Downsample

        return Downsample(factor, kernel="lanczos2")
    raise DeepPriorError(f"unknown downsampling {mode!r}; choose one of {', '.join(DOWNSAMPLING)}")


class Upsample(nn.Module):
    """×2 upsampling, bilinear (align_corners=False) or nearest."""

    def __init__(self, mode: str = "bilinear") -> None:
        super().__init__()
        if mode not in UPSAMPLING:
            raise DeepPriorError(
                f"unknown upsampling {mode!r}; choose one of {', '.join(UPSAMPLING)}"
            )
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
