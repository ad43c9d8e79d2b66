"""Empirical Wiener filtering of noisy data in a sliding DCT, with a restored image as pilot.

A denoiser's result is a good estimate of the image's local spectrum but not of its fine
detail: DIP's best output is slightly smooth where the net had not yet fitted texture when
the noise started to come in. The second stage of BM3D (Dabov et al., "Image denoising by
sparse 3-D transform-domain collaborative filtering", IEEE TIP 2007) uses such a pilot to
filter the *noisy* data again: in a transform where images are sparse, each coefficient of
the data is scaled by ``P² / (P² + σ²)``, ``P`` the pilot's coefficient, so what the pilot
shows as signal is taken from the data (detail the pilot smoothed comes back) and what it
shows as flat is shrunk to nothing. :func:`dct_wiener` does this in the 2-D DCT of every
overlapping 8×8 patch (no block matching), on opponent-colour channels for RGB (so white
RGB noise stays white, of the same level), and averages the overlapping patches with
BM3D's weights (a patch whose filter kept less noise counts more).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .color import OPPONENT

#: Patch positions per band of the sliding transform (bounds its memory on large images).
_BAND_POSITIONS = 1 << 16


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II matrix of size ``n`` (rows = basis vectors).

    Example:
        >>> d = dct_matrix(8)
        >>> torch.allclose(d @ d.T, torch.eye(8), atol=1e-6)
        True
    """
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    i = torch.arange(n, dtype=torch.float64).view(1, -1)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)
    return d.float()


def dct_wiener(noisy: torch.Tensor, pilot: torch.Tensor, sigma: float,
               block: int = 8) -> torch.Tensor:  # fmt: skip
    """Filter ``noisy`` with the empirical Wiener shrinkage of its sliding block DCT.

    Args:
        noisy: (C, H, W) data in [0, 1] with white noise of standard deviation ``sigma``;
            C = 3 is filtered in opponent colour, any other C channel by channel.
        pilot: (C, H, W) an estimate of the clean image (a denoiser's result).
        sigma: the noise level in [0, 1] units; 0 returns ``noisy`` (up to rounding).
        block: the patch side (H and W at least this).

    Returns:
        The filtered image, clamped to [0, 1].

    Example:
        >>> clean = torch.linspace(0, 1, 32).view(1, 1, 32).expand(3, 32, 32)
        >>> noisy = (clean + 0.1 * torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
        >>> err = lambda x: float((x - clean).square().mean())
        >>> err(dct_wiener(noisy, clean, 0.1)) < err(noisy) / 5
        True
    """  # noqa: E501
    c, h, w = noisy.shape
    if sigma <= 0:
        return noisy.clamp(0, 1)
    if pilot.shape != noisy.shape:
        raise ValueError(f"pilot {tuple(pilot.shape)} and data {tuple(noisy.shape)} differ")
    if min(h, w) < block:
        raise ValueError(f"the image ({h}x{w}) is smaller than the {block} px patches")
    dev = noisy.device
    mix = (OPPONENT if c == 3 else torch.eye(c)).to(dev)
    y = torch.einsum("ij,jhw->ihw", mix, noisy.float()).unsqueeze(1)  # (C, 1, H, W)
    p = torch.einsum("ij,jhw->ihw", mix, pilot.float()).unsqueeze(1)
    d = dct_matrix(block).to(dev)
    basis = torch.einsum("uy,vx->uvyx", d, d).reshape(block * block, 1, block, block)
    ones = torch.ones(1, 1, block, block, device=dev)
    num = torch.zeros_like(y)
    den = torch.zeros_like(y)
    rows = max(1, _BAND_POSITIONS // max(w - block + 1, 1))  # patch rows per band
    for top in range(0, h - block + 1, rows):
        bottom = min(top + rows, h - block + 1) + block - 1  # the band's last input row + 1
        coef_y = F.conv2d(y[..., top:bottom, :], basis)  # (C, block², rows, positions)
        coef_p = F.conv2d(p[..., top:bottom, :], basis)
        gain = coef_p.square() / (coef_p.square() + sigma**2)
        weight = 1.0 / (gain.square().sum(1, keepdim=True) + 1e-3)  # BM3D's patch weight
        num[..., top:bottom, :] += F.conv_transpose2d(gain * coef_y * weight, basis)
        den[..., top:bottom, :] += F.conv_transpose2d(weight, ones)
    out = (num / den).squeeze(1)
    return torch.einsum("ji,jhw->ihw", mix, out).clamp(0, 1).to(noisy.dtype)
