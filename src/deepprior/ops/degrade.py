"""Making degraded observations from clean images (SPEC §5).

Plain functions on single images: ``(C, H, W)`` float tensors in [0, 1] (a 2-D
``(H, W)`` tensor is accepted too and the result has the same rank). The result has the
input's dtype and device. These are not differentiable (Pillow does the work).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from deepprior.errors import DeepPriorError
from deepprior.io import to_uint8

__all__ = [
    "add_gaussian_noise",
    "estimate_noise_sigma",
    "crop_to_multiple",
    "downscale",
    "jpeg_compress",
    "upscale",
    "RESAMPLE_METHODS",
]

#: Resampling filters accepted by :func:`downscale` and :func:`upscale`.
RESAMPLE_METHODS: dict[str, Image.Resampling] = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
}


def _as_chw(img: torch.Tensor, who: str) -> tuple[torch.Tensor, bool]:
    """``img`` as (C, H, W), and whether it was 2-D."""
    if not isinstance(img, torch.Tensor):
        raise DeepPriorError(f"{who} expects a torch.Tensor image, got {type(img).__name__}.")
    if img.dim() == 2:
        return img[None], True
    if img.dim() != 3:
        raise DeepPriorError(
            f"{who} expects a single image of shape (C, H, W), got shape {tuple(img.shape)}."
        )
    if not img.is_floating_point():
        raise DeepPriorError(
            f"{who} expects a float image in [0, 1], got dtype {img.dtype}; "
            "convert it with img.float() / 255."
        )
    return img, False


def _restore(out: torch.Tensor, like: torch.Tensor, was_2d: bool) -> torch.Tensor:
    out = out.to(device=like.device, dtype=like.dtype)
    return out[0] if was_2d else out


def _check_factor(factor: int, who: str) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise DeepPriorError(f"{who}: factor must be a positive integer, got {factor!r}.")
    return factor


def _check_method(method: str, who: str) -> Image.Resampling:
    try:
        return RESAMPLE_METHODS[method]
    except (KeyError, TypeError):
        raise DeepPriorError(
            f"{who}: unknown method {method!r}; use one of "
            + ", ".join(repr(m) for m in RESAMPLE_METHODS)
            + "."
        ) from None


def add_gaussian_noise(
    img: torch.Tensor, sigma: float, *, seed: int | None = 0, clip: bool = True
) -> torch.Tensor:
    """``img + N(0, sigma²)`` i.i.d. on every pixel and channel, clipped to [0, 1] by default.

    ``sigma`` is in [0, 1] units (the paper's σ = 25 is ``25 / 255``). ``seed`` makes the
    noise reproducible (a CPU ``torch.Generator``, so the same on every device); ``None``
    draws fresh noise from torch's global generator.
    """
    x, was_2d = _as_chw(img, "add_gaussian_noise")
    sigma = float(sigma)
    if not 0.0 <= sigma <= 1.0:
        raise DeepPriorError(
            f"noise sigma must be in [0, 1] (image units), got {sigma}; "
            f"for sigma = {sigma:g}/255 pass {sigma / 255:.4f}."
        )
    gen = None
    if seed is not None:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32, device="cpu")
    out = x + (sigma * noise).to(device=x.device, dtype=x.dtype)
    if clip:
        out = out.clamp(0.0, 1.0)
    return out[0] if was_2d else out


def estimate_noise_sigma(img: torch.Tensor) -> float:
    """The standard deviation of the image's Gaussian noise, in [0, 1] units, estimated from
    the image alone: scikit-image's wavelet estimate (the median absolute deviation of the
    finest diagonal wavelet band), averaged over the channels.

    It needs no clean image, so a fit can scale a regulariser to an unknown noise level. It
    reads fine texture as noise too, and clipping to [0, 1] hides some of strong noise: on
    144 px crops of photos it gave 21-25 for σ = 25 (/255).

    Example:
        >>> clean = torch.full((3, 64, 64), 0.5)
        >>> round(estimate_noise_sigma(add_gaussian_noise(clean, 0.1)), 1)
        0.1
    """
    from skimage.restoration import estimate_sigma

    x, _ = _as_chw(img, "estimate_noise_sigma")
    a = x.detach().float().cpu().permute(1, 2, 0).numpy()
    return float(np.mean(estimate_sigma(a, channel_axis=-1)))


def jpeg_compress(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode ``img`` as an 8-bit JPEG (Pillow, in memory) at ``quality`` 1..100 and decode it.

    Grayscale (1 channel) and RGB (3 channels) images are supported.
    """
    x, was_2d = _as_chw(img, "jpeg_compress")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise DeepPriorError(f"JPEG quality must be an integer from 1 to 100, got {quality!r}.")
    if not 1 <= int(quality) <= 100:
        raise DeepPriorError(f"JPEG quality must be from 1 to 100, got {quality}.")
    c = x.shape[0]
    if c not in (1, 3):
        raise DeepPriorError(f"JPEG compression needs a 1- or 3-channel image, got {c} channels.")
    pil = Image.fromarray(to_uint8(x))  # (H, W) -> "L", (H, W, 3) -> "RGB"
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as dec:
        a = np.asarray(dec.convert("L" if c == 1 else "RGB"), dtype=np.float32) / 255.0
    out = torch.from_numpy(a[None] if c == 1 else a.transpose(2, 0, 1).copy())
    return _restore(out, x, was_2d)


def _resize_float(x: torch.Tensor, size_hw: tuple[int, int], resample) -> torch.Tensor:
    """Resize each channel of (C, H, W) as a 32-bit float ('F') PIL image; clip to [0, 1]."""
    h, w = size_hw
    a = x.detach().to("cpu", torch.float32).numpy()
    chans = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(ch), mode="F").resize((w, h), resample),
            dtype=np.float32,
        )
        for ch in a
    ]
    return torch.from_numpy(np.stack(chans, axis=0)).clamp_(0.0, 1.0)


def crop_to_multiple(img: torch.Tensor, m: int) -> torch.Tensor:
    """Crop the bottom and right of ``img`` (``(..., H, W)``) so both sides divide by ``m``."""
    m = _check_factor(m, "crop_to_multiple")
    h, w = img.shape[-2:]
    if h < m or w < m:
        raise DeepPriorError(
            f"image of size {h}x{w} (HxW) is smaller than {m} px on a side; "
            "use a larger image or a smaller factor."
        )
    return img[..., : h - h % m, : w - w % m]


def downscale(img: torch.Tensor, factor: int, method: str = "lanczos") -> torch.Tensor:
    """Shrink ``img`` by ``factor`` with PIL (the authors' LR protocol, ``Image.LANCZOS``).

    Done per channel in float mode (no 8-bit rounding); the result is clipped to [0, 1].
    ``method``: ``"lanczos"`` (default), ``"bicubic"``, ``"bilinear"``, ``"box"``,
    ``"nearest"``. Both sides must be divisible by ``factor`` (see :func:`crop_to_multiple`).
    """
    x, was_2d = _as_chw(img, "downscale")
    t = _check_factor(factor, "downscale")
    resample = _check_method(method, "downscale")
    h, w = x.shape[-2:]
    if h % t or w % t:
        raise DeepPriorError(
            f"image size {h}x{w} (HxW) is not divisible by the factor {t}; crop it to "
            f"{h - h % t}x{w - w % t} first (deepprior.ops.crop_to_multiple(img, {t}))."
        )
    return _restore(_resize_float(x, (h // t, w // t), resample), x, was_2d)


def upscale(img: torch.Tensor, factor: int, method: str = "bicubic") -> torch.Tensor:
    """Enlarge ``img`` by ``factor`` with PIL (the bicubic / Lanczos SR baselines).

    Done per channel in float mode; the result is clipped to [0, 1]. ``method``:
    ``"bicubic"`` (default), ``"lanczos"``, ``"bilinear"``, ``"box"``, ``"nearest"``.
    """
    x, was_2d = _as_chw(img, "upscale")
    t = _check_factor(factor, "upscale")
    resample = _check_method(method, "upscale")
    h, w = x.shape[-2:]
    return _restore(_resize_float(x, (h * t, w * t), resample), x, was_2d)
