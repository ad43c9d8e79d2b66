"""PSNR and SSIM: formulas, the Y channel of grayscale images, small images."""

from __future__ import annotations

import math

import pytest
import torch

from deepprior.metrics import psnr, rgb_to_y601, ssim


def test_psnr_matches_the_formula():
    x = torch.zeros(3, 8, 8)
    y = torch.full((3, 8, 8), 0.1)
    assert psnr(x, y) == approx(10 * math.log10(1 / 0.01))


def approx(v):
    return pytest.approx(v, abs=1e-6)


def test_gray_y_psnr_equals_the_same_image_as_rgb():
    g = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0))
    h = (g + 0.05 * torch.randn(1, 16, 16, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    gray = psnr(g, h, y_channel=True, border=4)
    rgb = psnr(g.expand(3, -1, -1), h.expand(3, -1, -1), y_channel=True, border=4)
    assert gray == approx(rgb)
    # Y spans 219/255 of the range: 20*log10(255/219) dB above the plain gray PSNR.
    assert gray - psnr(g, h, border=4) == approx(20 * math.log10(255 / 219))
    assert rgb_to_y601(torch.ones(1, 3, 1, 1)).item() == approx(235 / 255)


def test_ssim_of_images_too_small_for_the_window_is_nan():
    x = torch.rand(3, 9, 9)
    assert math.isnan(ssim(x, x))
    assert ssim(torch.rand(3, 16, 16).expand(3, -1, -1), torch.rand(3, 16, 16)) < 0.5


def test_bad_channels_and_borders_are_refused_with_a_reason():
    x = torch.rand(1, 4, 16, 16)
    with pytest.raises(ValueError, match="gray or RGB image, got 4 channels"):
        psnr(x, x, y_channel=True)
    with pytest.raises(ValueError, match="border 8 leaves no pixels"):
        psnr(torch.rand(3, 16, 16), torch.rand(3, 16, 16), border=8)
    with pytest.raises(ValueError, match="border -1"):
        ssim(torch.rand(3, 16, 16), torch.rand(3, 16, 16), border=-1)
    # the largest border that leaves a pixel still measures
    assert math.isfinite(psnr(torch.zeros(3, 9, 9), torch.full((3, 9, 9), 0.5), border=4))
