"""The paper's restoration tasks (former home; each task now has its own module)."""

from .common import ImageLike, as_image
from .denoise import denoise, remove_jpeg_artifacts
from .enhance import enhance
from .flash import flash_no_flash
from .masked import MASK_KINDS, inpaint, make_mask, restore
from .sr import SR_FACTORS, super_resolve

__all__ = [
    "ImageLike", "MASK_KINDS", "SR_FACTORS", "as_image", "denoise", "enhance", "flash_no_flash",
    "inpaint", "make_mask", "remove_jpeg_artifacts", "restore", "super_resolve",
]  # fmt: skip
