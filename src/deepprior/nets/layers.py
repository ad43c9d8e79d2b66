"""Building blocks shared by the generators: conv blocks, activations, resampling."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..device import env_flag
from ..errors import DeepPriorError

ACTIVATIONS = ("leaky_relu", "relu", "elu", "silu", "none")
PADDINGS = ("reflection", "zero")
UPSAMPLING = ("bilinear", "nearest")
DOWNSAMPLING = ("stride", "avg", "max", "lanczos")


# DEEPPRIOR_NATIVE_LAYERS=1|0 forces the choice of native_layers (to compare the two on a
# GPU); read once, since the layers ask at every call.
_NATIVE_LAYERS = env_flag("DEEPPRIOR_NATIVE_LAYERS")


def native_layers(x: torch.Tensor) -> bool:
    """Whether reflection padding and bilinear upsampling of ``x`` use ATen's own kernels.

    deepprior's own versions (below) keep a channels-last layout and save copies, which pays
    on a CPU, where a step is bound by arithmetic and memory traffic. They take about ten
    small kernels where ATen takes one or two, and on a GPU a fit step is bound by kernel
    launches (an H200 step of the auto net took ~20 ms at 256² and 512² alike), so a GPU
    uses ATen's. ``DEEPPRIOR_NATIVE_LAYERS=1|0``, set before the program starts, forces the
    choice.
    """
    if _NATIVE_LAYERS is not None:
        return _NATIVE_LAYERS
    return x.device.type != "cpu"


def check_ints(
    value: Any, name: str, *, least: int = 1, odd: bool = False, form: str = "one or per level"
) -> list[int]:
    """The integer setting ``value`` (one or a list) as a list; a clear error when it is not.

    ``form`` says in the message what shape the setting takes (``"one"``, ``"list"``...).

    Example:
        >>> check_ints([3, 5], "k_d", odd=True)
        [3, 5]
    """
    vals = list(value) if isinstance(value, (list, tuple)) else [value]
    ok = bool(vals) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= least and (not odd or v % 2)
        for v in vals
    )
    if form == "one" and isinstance(value, (list, tuple)):
        ok = False
    if not ok:
        one = "an odd integer" if odd else f"an integer >= {least}"
        many = "odd integers" if odd else f"integers >= {least}"
        what = {"one": one, "list": f"a non-empty list of {many}"}.get(
            form, f"{one}, or a list of them, one per level"
        )
        raise DeepPriorError(f"{name} must be {what}; got {value!r}")
    return vals


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


class _ReflectionPad(torch.autograd.Function):
    """Reflection padding that keeps the memory format and writes each pixel once.

    ``F.pad(mode="reflect")`` converts a channels-last tensor to NCHW and back and zero-fills
    a full-size gradient in the backward pass; on a CPU those copies cost as much as the
    convolution behind them. Here the forward is one copy plus thin border strips, and the
    backward one copy of the interior plus the strips folded back in.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: int) -> torch.Tensor:
        n, c, h, w = x.shape
        fmt = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
        out = torch.empty(
            (n, c, h + 2 * p, w + 2 * p), dtype=x.dtype, device=x.device, memory_format=fmt
        )
        out[..., p : p + h, p : p + w] = x
        out[..., :p, p : p + w] = x[..., 1 : p + 1, :].flip(-2)
        out[..., p + h :, p : p + w] = x[..., h - p - 1 : h - 1, :].flip(-2)
        out[..., :p] = out[..., p + 1 : 2 * p + 1].flip(-1)
        out[..., p + w :] = out[..., w - 1 : w + p - 1].flip(-1)
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        p = ctx.p
        h, w = g.shape[-2] - 2 * p, g.shape[-1] - 2 * p
        gi = g[..., p : p + h, p : p + w].clone()

        def fold_columns(strip: torch.Tensor) -> torch.Tensor:
            inner = strip[..., p : p + w].clone()
            inner[..., 1 : p + 1] += strip[..., :p].flip(-1)
            inner[..., w - p - 1 : w - 1] += strip[..., p + w :].flip(-1)
            return inner

        gi[..., 1 : p + 1, :] += fold_columns(g[..., :p, :]).flip(-2)
        gi[..., h - p - 1 : h - 1, :] += fold_columns(g[..., p + h :, :]).flip(-2)
        gi[..., 1 : p + 1] += g[..., p : p + h, :p].flip(-1)
        gi[..., w - p - 1 : w - 1] += g[..., p : p + h, p + w :].flip(-1)
        return gi, None


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def reflection_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad the last two dims of a 4-D tensor by ``p`` px, mirroring (like ``F.pad(reflect)``).

    Args:
        x: (N, C, H, W) tensor, NCHW or channels-last; ``p`` must be smaller than H and W.
        p: pixels added on every side.

    Returns:
        (N, C, H + 2p, W + 2p) tensor in the memory format of ``x``.

    Example:
        >>> reflection_pad(torch.arange(3.0).view(1, 1, 1, 3).expand(1, 1, 2, 3), 1)[0, 0, 0]
        tensor([1., 0., 1., 2., 1.])
    """
    if p == 0:
        return x
    h, w = x.shape[-2:]
    if p >= h or p >= w:
        raise DeepPriorError(
            f"reflection padding of {p} px needs a feature map larger than {p} px, got "
            f"{w}x{h}; use a larger image or a shallower net"
        )
    if native_layers(x):
        return F.pad(x, (p, p, p, p), mode="reflect")
    return _ReflectionPad.apply(x, p)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose reflection padding runs through :func:`reflection_pad`.

    The parameters and state-dict keys are those of ``nn.Conv2d``.
    """

    def __init__(self, *args: Any, reflect: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reflect = reflect

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(reflection_pad(x, self.reflect))

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", reflect={self.reflect}" if self.reflect else "")


def conv(
    cin: int, cout: int, k: int, *, stride: int = 1, pad: str = "reflection", bias: bool = True
) -> nn.Conv2d:
    """A ``k``x``k`` convolution with 'same' padding (reflection or zero).

    Zero padding is the convolution's own; reflection padding of ``k // 2`` px is done by
    :func:`reflection_pad` just before it (a 1x1 convolution pads nothing).
    """
    if pad not in PADDINGS:
        raise DeepPriorError(f"unknown padding {pad!r}; choose one of {', '.join(PADDINGS)}")
    if pad == "reflection":
        return Conv2d(cin, cout, k, stride=stride, padding=0, bias=bias, reflect=k // 2)
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


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
        self.checkpoint = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.checkpoint and torch.is_grad_enabled():
            # Keep only the block's input; recompute conv, norm and activation when the
            # backward pass needs them (about a third more compute, far less memory).
            from torch.utils.checkpoint import checkpoint

            return checkpoint(super().forward, x, use_reentrant=False)
        return super().forward(x)


def downsampler(mode: str, factor: int) -> nn.Module:
    """A fixed (parameter-free) ×``factor`` downsampler for the hourglass's down path."""
    if mode == "avg":
        return nn.AvgPool2d(factor)
    if mode == "max":
        return nn.MaxPool2d(factor)
    if mode == "lanczos":
        from ..kernels import Lanczos2Decimate

        return Lanczos2Decimate(factor)
    raise DeepPriorError(f"unknown downsampling {mode!r}; choose one of {', '.join(DOWNSAMPLING)}")


def _up1d(x: torch.Tensor, dim: int, fmt: torch.memory_format) -> torch.Tensor:
    """Bilinear x2 along ``dim`` (align_corners=False): y[2i] = .75 x[i] + .25 x[i-1], ..."""
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = 2 * n
    y = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    pairs = y.unflatten(dim, (n, 2))
    even, odd = pairs.select(dim + 1, 0), pairs.select(dim + 1, 1)
    even.narrow(dim, 0, 1).copy_(x.narrow(dim, 0, 1))
    odd.narrow(dim, n - 1, 1).copy_(x.narrow(dim, n - 1, 1))
    if n > 1:
        torch.lerp(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), 0.25,
                   out=even.narrow(dim, 1, n - 1))  # fmt: skip
        torch.lerp(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1), 0.25,
                   out=odd.narrow(dim, 0, n - 1))  # fmt: skip
    return y


def _up1d_adjoint(g: torch.Tensor, dim: int) -> torch.Tensor:
    """The transpose of :func:`_up1d`: fold a gradient of size 2n back onto n samples."""
    n = g.shape[dim] // 2
    pairs = g.unflatten(dim, (n, 2))
    even, odd = pairs.select(dim + 1, 0), pairs.select(dim + 1, 1)
    gx = torch.add(even, odd).mul_(0.75)
    gx.narrow(dim, 0, 1).add_(even.narrow(dim, 0, 1), alpha=0.25)
    gx.narrow(dim, n - 1, 1).add_(odd.narrow(dim, n - 1, 1), alpha=0.25)
    if n > 1:
        gx.narrow(dim, 0, n - 1).add_(even.narrow(dim, 1, n - 1), alpha=0.25)
        gx.narrow(dim, 1, n - 1).add_(odd.narrow(dim, 0, n - 1), alpha=0.25)
    return gx


class _Bilinear2x(torch.autograd.Function):
    """Bilinear x2 upsampling (``align_corners=False``) as two separable passes.

    Same values as ``F.interpolate``, but it keeps a channels-last layout in the backward
    pass, where ATen's kernel first copies the gradient to NCHW.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        fmt = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
        ctx.fmt = fmt
        return _up1d(_up1d(x, 3, fmt), 2, fmt)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return _up1d_adjoint(_up1d_adjoint(g, 2), 3)


def upsample_bilinear2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling of a 4-D tensor, equal to ``F.interpolate(..., "bilinear")``.

    Args:
        x: (N, C, H, W), NCHW or channels-last.

    Returns:
        (N, C, 2H, 2W) in the memory format of ``x``.

    Example:
        >>> upsample_bilinear2x(torch.tensor([[[[0.0, 1.0]]]]))[0, 0, 0]
        tensor([0.0000, 0.2500, 0.7500, 1.0000])
    """
    if native_layers(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return _Bilinear2x.apply(x)


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
        return upsample_bilinear2x(x)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
