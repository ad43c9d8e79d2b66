"""The evaluation protocols of the paper's tables (SPEC §5), one function per table kind.

Each returns a dict of named numbers for one restored image; ``PROTOCOLS`` holds the text
written into the report header.
"""

from __future__ import annotations

import math

import torch

from ..metrics import psnr, ssim

SR_BORDER = 4

PROTOCOLS: dict[str, dict[str, str]] = {
    "sr": {
        "primary": "psnr_y",
        "psnr_y": (
            f"PSNR on the ITU-R BT.601 luminance Y in [16, 235] (Y = 16 + 65.481 R + 128.553 G "
            f"+ 24.966 B, RGB in [0, 1]) with a {SR_BORDER}-px border removed on every side - "
            "the authors' evaluation script. Gray images (Set14 bridge) are taken as R=G=B."
        ),
        "psnr_rgb": f"PSNR over the R, G, B channels with the same {SR_BORDER}-px border removed.",
        "ssim": f"SSIM (Gaussian window, sigma 1.5) on Y with the {SR_BORDER}-px border removed.",
        "input": (
            "HR = the data set's image centre-cropped so that both sides divide by 32 (the "
            "authors' crop to the net's total stride: head 280 -> 256, woman 228x344 -> 224x320; "
            "the PSNR is measured on that crop); "
            "LR = the 8-bit HR resized by 1/factor with PIL Image.LANCZOS (as the authors' "
            "notebook), then quantised to 8 bits. The fit's output has exactly the HR size."
        ),
    },
    "denoise": {
        "primary": "psnr",
        "psnr": "PSNR over the R, G, B channels of the whole image (no border).",
        "ssim": "SSIM (Gaussian window, sigma 1.5) over the RGB channels.",
        "input": "noisy = clip(clean + N(0, (sigma/255)^2) on every channel, 0, 1), seeded.",
    },
    "inpaint": {
        "primary": "psnr",
        "psnr": "PSNR of the whole (grayscale) image, known pixels included.",
        "ssim": "SSIM (Gaussian window, sigma 1.5) of the whole image.",
        "input": "Bernoulli mask keeping 50% of the pixels (seeded per image); grayscale.",
    },
    "text-inpaint": {
        "primary": "psnr",
        "psnr": "PSNR of the whole RGB image against the original, known pixels included.",
        "ssim": "SSIM (Gaussian window, sigma 1.5) of the whole image.",
        "input": "the authors' kate image with their text mask (white = known).",
    },
    "holes": {
        "primary": "psnr_hole",
        "psnr_hole": "PSNR measured only inside the hole (mask = 0) against the original image.",
        "psnr": "PSNR of the whole image.",
        "ssim": "SSIM (Gaussian window, sigma 1.5) of the whole image.",
        "input": "the authors' vase and library images with their hole masks (white = known).",
    },
}


def psnr_y(x: torch.Tensor, ref: torch.Tensor, border: int = SR_BORDER) -> float:
    """The SR tables' PSNR: BT.601 Y in [16, 235], ``border`` px removed; gray = R=G=B."""
    return psnr(x, ref, border=border, y_channel=True)


def psnr_region(x: torch.Tensor, ref: torch.Tensor, region: torch.Tensor) -> float:
    """PSNR over the pixels where ``region`` (1, H, W) is nonzero, all channels."""
    sel = region.bool().expand_as(ref)
    d = (x.clamp(0, 1) - ref.clamp(0, 1))[sel]
    if d.numel() == 0:
        return float("nan")
    mse = float(d.double().square().mean())
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def measure(kind: str, x: torch.Tensor, ref: torch.Tensor, **kw: torch.Tensor) -> dict:
    """The numbers of protocol ``kind`` for the restored ``x`` against the clean ``ref``."""
    x = x.detach().float().cpu()
    ref = ref.detach().float().cpu()
    if x.shape[-3] != ref.shape[-3]:
        x = x.mean(-3, keepdim=True) if ref.shape[-3] == 1 else x.expand(3, -1, -1)
    if kind == "sr":
        return {
            "psnr_y": psnr_y(x, ref),
            "psnr_rgb": psnr(x, ref, border=SR_BORDER),
            "ssim": ssim(x, ref, border=SR_BORDER, y_channel=True),
        }
    out = {"psnr": psnr(x, ref), "ssim": ssim(x, ref)}
    if kind == "holes":
        out["psnr_hole"] = psnr_region(x, ref, 1.0 - kw["mask"])
    return out
