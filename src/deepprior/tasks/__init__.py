"""Applications: each is a data term, an input and a preset (see :mod:`.presets`)."""

from .base import PRIORS, Problem, Result, solve
from .presets import DEFAULT_PRESET, PRESETS, Preset, get_preset
from .restoration import (
    MASK_KINDS,
    SR_FACTORS,
    as_image,
    denoise,
    enhance,
    flash_no_flash,
    inpaint,
    make_mask,
    remove_jpeg_artifacts,
    restore,
    super_resolve,
)

__all__ = [
    "PRIORS", "Problem", "Result", "solve", "DEFAULT_PRESET", "PRESETS", "Preset", "get_preset",
    "MASK_KINDS", "SR_FACTORS", "as_image", "denoise", "enhance", "flash_no_flash", "inpaint",
    "make_mask", "remove_jpeg_artifacts", "restore", "super_resolve",
]  # fmt: skip
