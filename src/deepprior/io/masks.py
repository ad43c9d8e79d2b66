"""Inpainting masks: reading them from files and checking that they make sense.

A mask is a float32 (1, H, W) tensor holding 1 for known pixels and 0 for pixels to fill.
"""

from __future__ import annotations

from pathlib import Path

import torch

from deepprior.errors import DeepPriorError

from ._common import PathLike
from .decode import load_image

__all__ = ["check_mask", "load_mask"]


def load_mask(path: PathLike, size: tuple[int, int]) -> torch.Tensor:
    """Read an inpainting mask: white (gray value > 0.5) = known pixel, black = pixel to fill.

    The file is converted to gray and thresholded at 0.5. A file whose colour is uniform
    but which has an alpha channel is read from its alpha instead (transparent = to fill).
    EXIF orientation is applied as for images.

    Args:
        path: The mask file (any format :func:`load_image` reads).
        size: (H, W) of the image the mask belongs to.

    Returns:
        A float32 tensor (1, H, W) of 0.0 (unknown, to fill) and 1.0 (known).

    Raises:
        DeepPriorError: The file cannot be read, its size differs from ``size``, or it has no
            known or no unknown pixels.
    """
    p = Path(path)
    gray, alpha = load_image(p, channels=1, return_alpha=True)
    if alpha is not None and float(gray.min()) == float(gray.max()):
        gray = alpha
    h, w = gray.shape[-2:]
    if (h, w) != (int(size[0]), int(size[1])):
        raise DeepPriorError(
            f"{p} is {w}x{h} px but the image is {size[1]}x{size[0]} px; "
            "give a mask of the image's size"
        )
    mask = (gray > 0.5).to(torch.float32)
    check_mask(mask, str(p))
    return mask


def check_mask(mask: torch.Tensor, name: str = "mask") -> None:
    """Check that a 0/1 mask (1 = known) has both known pixels and pixels to fill.

    Args:
        mask: Mask tensor of any shape; values > 0.5 count as known.
        name: How the mask is called in the error message (a path or a description).

    Raises:
        DeepPriorError: The mask has no known pixels or no unknown pixels.
    """
    known = int((mask > 0.5).sum())
    total = mask.numel()
    if total == 0:
        raise DeepPriorError(f"{name} is empty; give a mask of the image's size")
    if known == 0:
        raise DeepPriorError(
            f"{name} has no known pixels (it is all black): white marks the pixels to keep and "
            "black the pixels to fill; invert the mask if it is the other way round"
        )
    if known == total:
        raise DeepPriorError(
            f"{name} has no unknown pixels (it is all white), so there is nothing to fill; "
            "paint the pixels to fill black"
        )
