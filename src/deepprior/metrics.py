"""Image quality metrics: PSNR (RGB or BT.601 luminance, with a border) and SSIM."""

from __future__ import annotations

import numpy as np
import torch


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().float()
    return x.unsqueeze(0) if x.dim() == 3 else x


def rgb_to_y601(x: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma in [16, 235] / 255 from RGB in [0, 1]: the SR papers' Y channel."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _luma(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] not in (1, 3):
        raise ValueError(f"y_channel needs a gray or RGB image, got {x.shape[1]} channels")
    return rgb_to_y601(x) if x.shape[1] == 3 else rgb_to_y601(x.expand(-1, 3, -1, -1))


def _crop(a: torch.Tensor, b: torch.Tensor, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove ``border`` px from every side of both images; refuse to leave nothing."""
    if border < 0 or 2 * border >= min(a.shape[-2:]):
        raise ValueError(f"border {border} leaves no pixels of a {tuple(a.shape[-2:])} image")
    if border == 0:
        return a, b
    return (
        a[..., border:-border, border:-border],
        b[..., border:-border, border:-border],
    )


def psnr(x: torch.Tensor, y: torch.Tensor, *, border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB between images in [0, 1] ((C,H,W) or (N,C,H,W)); values are clipped first.

    Args:
        x, y: the images; same shape.
        border: pixels removed from each side before measuring.
        y_channel: measure on the BT.601 luminance in [16, 235] / 255; a grayscale image
            counts as R = G = B, so its PSNR is comparable with a colour image's.
    """
    a, b = _as_batch(x).clamp(0, 1), _as_batch(y).clamp(0, 1).to(x.device)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if y_channel:
        a, b = _luma(a), _luma(b)
    a, b = _crop(a, b, border)
    mse = float((a - b).square().mean())
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))


def ssim(x: torch.Tensor, y: torch.Tensor, *, border: int = 0, y_channel: bool = False) -> float:
    """SSIM (scikit-image, Gaussian window as in Wang et al.) between images in [0, 1]."""
    from skimage.metrics import structural_similarity

    a, b = _as_batch(x).clamp(0, 1), _as_batch(y).clamp(0, 1)
    if y_channel:
        a, b = _luma(a), _luma(b)
    a, b = _crop(a, b, border)
    an = a[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)
    bn = b[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)
    if min(an.shape[:2]) < 11:  # the Gaussian window (sigma 1.5) spans 11 px
        return float("nan")
    return float(
        structural_similarity(
            an, bn, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
    )  # fmt: skip
