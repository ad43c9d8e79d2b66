"""Classical baselines of the paper's tables: interpolation (SR), NL-means / TV / BM3D
(denoising), Telea / Navier-Stokes / biharmonic (inpainting).

Images are (C, H, W) float tensors in [0, 1]. Optional packages (``bm3d``: non-commercial
licence; ``opencv-python-headless``) are imported lazily: when one is missing its baseline is
skipped and :func:`missing` says why. Parameters are fixed (not tuned per image) and recorded
in :data:`PARAMS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

import numpy as np
import torch

from ..ops import upscale

#: The fixed settings of every baseline, written into each record.
PARAMS: dict[str, str] = {
    "bicubic": "PIL BICUBIC upsampling of the LR input",
    "lanczos": "PIL LANCZOS upsampling of the LR input",
    "nlm": "skimage denoise_nl_means, patch 5, distance 6, h = 0.6 sigma, sigma given, fast",
    "tv_chambolle": "skimage denoise_tv_chambolle, weight 0.08",
    "bm3d": "bm3d package (bm3d_rgb / bm3d), sigma_psd = sigma",
    "telea": "OpenCV cv2.inpaint INPAINT_TELEA, radius 3, on 8-bit images",
    "navier_stokes": "OpenCV cv2.inpaint INPAINT_NS, radius 3, on 8-bit images",
    "biharmonic": "skimage inpaint_biharmonic",
    "zs_n2n": "Zero-Shot Noise2Noise (Mansour and Heckel 2023): 2000 Adam steps, LR 1e-3 "
    "halved at 1000, 48-channel 3-layer net, seed 0, fp32",
}

#: Optional package per baseline, and the pip name to install it with.
OPTIONAL = {
    "bm3d": ("bm3d", "bm3d"),
    "telea": ("cv2", "opencv-python-headless"),
    "navier_stokes": ("cv2", "opencv-python-headless"),
}


def missing(method: str) -> str | None:
    """Why ``method`` cannot run here (its optional package is absent), or None."""
    if method not in OPTIONAL:
        return None
    mod, pip_name = OPTIONAL[method]
    try:
        found = importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):  # e.g. a module blocked with sys.modules[name] = None
        found = False
    return None if found else f"not installed: pip install {pip_name}"


def _hwc(x: torch.Tensor) -> np.ndarray:
    a = x.detach().float().cpu().clamp(0, 1).numpy().astype(np.float64)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def _chw(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return (t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)).clamp(0, 1).contiguous()


# SR ----------------------------------------------------------------------------------------


def sr_bicubic(lr: torch.Tensor, factor: int) -> torch.Tensor:
    return upscale(lr, factor, "bicubic")


def sr_lanczos(lr: torch.Tensor, factor: int) -> torch.Tensor:
    return upscale(lr, factor, "lanczos")


# Denoising ----------------------------------------------------------------------------------


def denoise_nlm(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    from skimage.restoration import denoise_nl_means

    a = _hwc(noisy)
    axis = -1 if a.ndim == 3 else None
    out = denoise_nl_means(
        a, h=0.6 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True,
        channel_axis=axis,
    )  # fmt: skip
    return _chw(out)


def denoise_tv(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    from skimage.restoration import denoise_tv_chambolle

    a = _hwc(noisy)
    return _chw(denoise_tv_chambolle(a, weight=0.08, channel_axis=-1 if a.ndim == 3 else None))


def denoise_bm3d(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    bm3d = importlib.import_module("bm3d")  # non-commercial licence: never imported eagerly
    a = _hwc(noisy)
    out = bm3d.bm3d_rgb(a, sigma_psd=sigma) if a.ndim == 3 else bm3d.bm3d(a, sigma_psd=sigma)
    return _chw(np.asarray(out))


# Inpainting --------------------------------------------------------------------------------


def _cv2_inpaint(masked: torch.Tensor, mask: torch.Tensor, flag_name: str) -> torch.Tensor:
    cv2 = importlib.import_module("cv2")
    img = (_hwc(masked) * 255.0).round().astype(np.uint8)
    hole = (mask[0].cpu().numpy() < 0.5).astype(np.uint8) * 255  # nonzero = to fill
    out = cv2.inpaint(np.ascontiguousarray(img), hole, 3, getattr(cv2, flag_name))
    return _chw(out.astype(np.float32) / 255.0)


def inpaint_telea(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _cv2_inpaint(masked, mask, "INPAINT_TELEA")


def inpaint_ns(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _cv2_inpaint(masked, mask, "INPAINT_NS")


def inpaint_biharmonic(masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    from skimage.restoration import inpaint_biharmonic as biharmonic

    a = _hwc(masked)
    hole = mask[0].cpu().numpy() < 0.5
    out = biharmonic(a, hole, channel_axis=-1 if a.ndim == 3 else None)
    return _chw(out)


SR_BASELINES: dict[str, Callable] = {"bicubic": sr_bicubic, "lanczos": sr_lanczos}
DENOISE_BASELINES: dict[str, Callable] = {
    "nlm": denoise_nlm, "tv_chambolle": denoise_tv, "bm3d": denoise_bm3d,
}  # fmt: skip
INPAINT_BASELINES: dict[str, Callable] = {
    "telea": inpaint_telea, "navier_stokes": inpaint_ns, "biharmonic": inpaint_biharmonic,
}  # fmt: skip
