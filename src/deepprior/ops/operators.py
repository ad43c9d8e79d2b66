"""Forward operators ``A`` of the data terms ``E(x; x0) = ||A(x) - x0||²`` (SPEC §3).

Every operator is an :class:`torch.nn.Module` whose ``forward(x)`` maps a batch
``x`` of shape ``(N, C, H, W)`` to ``A(x)``. Operators are differentiable and follow
the dtype and device of ``x``: their buffers are cast in ``forward`` only when they
differ from ``x`` (call ``.to(device, dtype)`` on the module once to avoid the cast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deepprior.errors import DeepPriorError
from deepprior.kernels import lanczos2_kernel_1d, like, separable_conv

__all__ = [
    "Operator", "Downsample", "Identity", "Mask", "LANCZOS2_FACTORS", "DOWNSAMPLE_KERNELS",
]  # fmt: skip

#: Factors the Lanczos2 operator supports: ``(4t - t) / 2`` replication padding must be whole.
LANCZOS2_FACTORS: tuple[int, ...] = (2, 4, 8)
#: Kernels :class:`Downsample` accepts.
DOWNSAMPLE_KERNELS: tuple[str, ...] = ("lanczos2", "bicubic", "box")


def _check_batch(x: torch.Tensor, who: str) -> None:
    if x.dim() != 4:
        raise DeepPriorError(
            f"{who} expects a batch of shape (N, C, H, W), got shape {tuple(x.shape)}; "
            "add a batch dimension with x.unsqueeze(0)."
        )


class Operator(nn.Module):
    """A forward operator ``A``: ``A(x)`` (= ``op(x)`` = ``forward(x)``) maps the image being
    restored, (N, C, H, W), to what was observed.

    Subclasses implement ``forward``; :meth:`input_size` says how large the restored image is
    for an observation of a given size (the same by default). Any differentiable
    :class:`torch.nn.Module` works as an operator; deriving from this class adds ``A`` and
    :meth:`input_size`.
    """

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802 - the usual name of the operator
        """``A(x)``: the same as calling the operator."""
        return self(x)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H, W)`` of an image that this operator maps to ``(height, width)``."""
        return height, width


class Identity(Operator):
    """``A(x) = x`` (denoising, JPEG artefact removal, detail enhancement)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Downsample(Operator):
    """Decimation by an integer ``factor`` t: a ``(tH, tW)`` image maps to ``(H, W)``.

    ``kernel``:

    * ``"lanczos2"`` (default, the paper's SR operator; t in {2, 4, 8}): separable
      depthwise convolution with the symmetric ``4t``-tap Lanczos-2 kernel
      (:func:`~deepprior.ops.lanczos.lanczos2_kernel_1d`), stride t, after replication
      padding of ``3t / 2`` px on every side. Output pixel ``(i, j)`` is centred on its
      ``t × t`` block of input pixels, aligned with PIL's resize.
    * ``"bicubic"`` (any t >= 2): ``F.interpolate(..., mode="bicubic", antialias=True,
      align_corners=False)``.
    * ``"box"`` (any t >= 2): average of each ``t × t`` block.

    Input sides must be divisible by t, otherwise :class:`DeepPriorError` is raised.
    """

    kernel_1d: torch.Tensor

    def __init__(self, factor: int, kernel: str = "lanczos2") -> None:
        super().__init__()
        if kernel not in DOWNSAMPLE_KERNELS:
            raise DeepPriorError(
                f"unknown downsampling kernel {kernel!r}; use one of "
                + ", ".join(repr(k) for k in DOWNSAMPLE_KERNELS)
                + "."
            )
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise DeepPriorError(f"downsampling factor must be an integer, got {factor!r}.")
        if kernel == "lanczos2" and factor not in LANCZOS2_FACTORS:
            raise DeepPriorError(
                f"the lanczos2 downsampling operator does not support factor {factor}; "
                f"supported factors are {', '.join(map(str, LANCZOS2_FACTORS))} "
                "(or use kernel='bicubic' for other integer factors)."
            )
        if factor < 2:
            raise DeepPriorError(
                f"downsampling factor must be an integer >= 2, got {factor}; "
                "for no resampling use the Identity operator."
            )
        self.factor = factor
        self.kernel = kernel
        if kernel == "lanczos2":
            # Kept in float64 (at most 32 taps, so the cast in forward costs nothing) so
            # float64 inputs get the exact kernel.
            k = lanczos2_kernel_1d(factor)
            self.register_buffer("kernel_1d", k, persistent=False)
            self.pad = (4 * factor - factor) // 2
        else:
            self.register_buffer("kernel_1d", torch.empty(0), persistent=False)
            self.pad = 0

    def extra_repr(self) -> str:
        return f"factor={self.factor}, kernel={self.kernel!r}"

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """A ``(height, width)`` observation comes from a ``factor`` times larger image."""
        return height * self.factor, width * self.factor

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H, W)`` this operator produces from a ``(height, width)`` input."""
        self._check_size(height, width)
        return height // self.factor, width // self.factor

    def _check_size(self, height: int, width: int) -> None:
        t = self.factor
        if height % t or width % t:
            raise DeepPriorError(
                f"image size {height}x{width} (HxW) is not divisible by the downsampling "
                f"factor {t}; crop it to {height - height % t}x{width - width % t} first "
                "(see deepprior.ops.crop_to_multiple)."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x, "Downsample")
        n, c, h, w = x.shape
        self._check_size(h, w)
        t = self.factor
        if self.kernel == "box":
            return F.avg_pool2d(x, kernel_size=t, stride=t)
        if self.kernel == "bicubic":
            # Antialiased bicubic has no float16/bfloat16 CPU kernel: compute those in float32.
            low = x.device.type == "cpu" and x.dtype in (torch.float16, torch.bfloat16)
            y = F.interpolate(
                x.float() if low else x,
                size=(h // t, w // t),
                mode="bicubic",
                antialias=True,
                align_corners=False,
            )
            return y.to(x.dtype) if low else y
        return separable_conv(x, like(self.kernel_1d, x), self.pad, t)


class Mask(Operator):
    """``A(x) = x ⊙ m`` for a fixed mask ``m`` (1 = known pixel, 0 = unknown).

    ``mask`` may have shape ``(H, W)``, ``(1, H, W)``, ``(C, H, W)``, ``(1, 1, H, W)`` or
    ``(1, C, H, W)``; a single-channel mask broadcasts over the channels and the batch.
    It is stored as a float32 buffer of shape ``(1, C_m, H, W)``.
    """

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        m = torch.as_tensor(mask)
        shape = tuple(m.shape)
        if m.dim() == 2:
            m = m[None, None]
        elif m.dim() == 3:
            m = m[None]
        elif not (m.dim() == 4 and m.shape[0] == 1):
            raise DeepPriorError(
                f"mask must have shape (H, W), (C, H, W) or (1, C, H, W) with C = 1 usually, "
                f"got {shape}."
            )
        if m.shape[-1] == 0 or m.shape[-2] == 0:
            raise DeepPriorError(f"mask is empty (shape {shape}).")
        self.register_buffer("mask", m.detach().to(torch.float32).contiguous())

    def extra_repr(self) -> str:
        return f"size={tuple(self.mask.shape[-2:])}, known={self.known_fraction():.3f}"

    def known_fraction(self) -> float:
        """The mean of the mask (fraction of known pixels for a binary mask)."""
        return float(self.mask.float().mean())

    def known(self) -> torch.Tensor:
        """``(1, 1, H, W)``: 1 where a pixel is observed in any channel, else 0.

        Example:
            >>> Mask(torch.tensor([[1.0, 0.0]])).known().flatten().tolist()
            [1.0, 0.0]
        """
        return (self.mask > 0).any(1, keepdim=True).float()

    def keep_known(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` with its known pixels replaced by the observed ``y`` (``x ⊙ (1 - m) + y ⊙
        m``): what inpainting tools return, since a known pixel is observed exactly.

        Example:
            >>> op = Mask(torch.tensor([[1.0, 0.0]]))
            >>> op.keep_known(torch.zeros(1, 1, 1, 2), torch.ones(1, 1, 1, 2)).flatten().tolist()
            [1.0, 0.0]
        """
        m, y = like(self.mask, x), like(y, x)
        if x.dim() == 3:  # one image (C, H, W)
            m, y = m[0], y.reshape(y.shape[-3:])
        return x * (1 - m) + y * m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x, "Mask")
        m = like(self.mask, x)
        if x.shape[-2:] != m.shape[-2:]:
            raise DeepPriorError(
                f"mask size {tuple(m.shape[-2:])} does not match image size "
                f"{tuple(x.shape[-2:])} (HxW); make the mask the same size as the image."
            )
        if m.shape[1] not in (1, x.shape[1]):
            raise DeepPriorError(
                f"mask has {m.shape[1]} channels but the image has {x.shape[1]}; "
                "use a single-channel mask or one with as many channels as the image."
            )
        return x * m
