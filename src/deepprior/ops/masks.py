"""Inpainting masks (SPEC §3): float32 tensors of shape ``(1, H, W)``, 1 = known pixel."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from deepprior.errors import DeepPriorError

__all__ = ["bernoulli_mask", "box_mask", "text_mask", "DEFAULT_MASK_TEXT"]

#: The text :func:`text_mask` writes when none is given.
DEFAULT_MASK_TEXT = (
    "Deep Image Prior restores an image with an untrained network. "
    "The structure of a generator network is sufficient to capture a great deal "
    "of low-level image statistics prior to any learning. "
)


_TEXT_TARGET_UNKNOWN = 0.12


def _check_size(size: tuple[int, int], who: str) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise DeepPriorError(
            f"{who}: size must be a pair (H, W) of integers, got {size!r}."
        ) from None
    if h < 1 or w < 1:
        raise DeepPriorError(f"{who}: size must be positive, got {h}x{w} (HxW).")
    return h, w


def _generator(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


def bernoulli_mask(
    size: tuple[int, int], p_known: float = 0.5, *, seed: int | None = 0
) -> torch.Tensor:
    """Each pixel is known (1) with probability ``p_known``, independently; else 0.

    The paper's "restoration from 50% random pixels" uses ``p_known = 0.5``. ``seed``
    makes it reproducible; ``None`` uses torch's global generator.
    """
    h, w = _check_size(size, "bernoulli_mask")
    p = float(p_known)
    if not 0.0 < p < 1.0:
        raise DeepPriorError(
            f"p_known is the probability that a pixel is kept and must be strictly between "
            f"0 and 1, got {p_known!r}; e.g. 0.5 keeps half of the pixels.",
            param="p_known",
        )
    u = torch.rand((1, h, w), generator=_generator(seed), dtype=torch.float64)
    return (u < p).to(torch.float32)


def text_mask(
    size: tuple[int, int],
    *,
    text: str | None = None,
    seed: int = 0,
    font_size: int | None = None,
) -> torch.Tensor:
    """Lines of text written over the image (the paper's text-inpainting mask, Fig. 11).

    The text (default :data:`DEFAULT_MASK_TEXT`, repeated as needed) is drawn in black on
    white with Pillow's default font at ``font_size`` px (default ``≈ H / 16``, at least 8)
    with a stroke of ``max(1, font_size / 32)`` px, in evenly spaced rows across the whole
    image; the row spacing is chosen so that about 12 % of the pixels are covered (more
    when the font is so large that rows would overlap). ``seed`` picks where in the text
    each row starts. Text pixels are unknown (0).
    """
    h, w = _check_size(size, "text_mask")
    if font_size is None:
        font_size = max(8, round(h / 16))
    if isinstance(font_size, bool) or not isinstance(font_size, int) or font_size < 1:
        raise DeepPriorError(f"text_mask: font_size must be a positive integer, got {font_size!r}.")
    words = " ".join((DEFAULT_MASK_TEXT if text is None else str(text)).split())
    if not words:
        raise DeepPriorError("text_mask: text is empty; give some text or leave it out.")
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font.
        font = ImageFont.load_default()
    stroke = max(1, round(font_size / 32))
    rng = np.random.default_rng(seed)
    line = words + " "

    def draw_line(draw: ImageDraw.ImageDraw, x: int, y: int, width: int) -> None:
        reps = math.ceil((width - x) / line_w) + 1
        draw.text((x, y), line * reps, fill=0, font=font, stroke_width=stroke, stroke_fill=0)

    # Measure how many pixels one row of text covers per column, then space the rows so
    # that about TARGET of the image is covered.
    probe = Image.new("L", (1, 1), 255)
    line_w = max(1.0, ImageDraw.Draw(probe).textlength(line, font=font))
    left, top, right, bottom = ImageDraw.Draw(probe).textbbox(
        (0, 0), line, font=font, stroke_width=stroke
    )
    line_h = max(1, bottom - top)
    strip = Image.new("L", (int(math.ceil(line_w)), line_h), 255)
    draw_line(ImageDraw.Draw(strip), 0, -top, strip.width)
    ink_per_col = float((np.asarray(strip) < 128).sum()) / strip.width
    spacing = max(line_h + 1, ink_per_col / _TEXT_TARGET_UNKNOWN)
    rows = max(1, round(h / spacing))
    pitch = h / rows

    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    for r in range(rows):
        y = round((r + 0.5) * pitch - line_h / 2) - top
        # Start each row at a random point of the text; repeat it past the right edge.
        draw_line(draw, -int(rng.integers(0, int(line_w))), y, w)
    m = np.asarray(img, dtype=np.uint8) >= 128
    return torch.from_numpy(m.astype(np.float32))[None]


def box_mask(size: tuple[int, int], *, frac: float = 0.25, seed: int | None = None) -> torch.Tensor:
    """One rectangular hole (0) covering about ``frac`` of the image, 1 elsewhere.

    The hole has the image's aspect ratio (sides ``≈ sqrt(frac)`` times the image's). It
    is centred, or placed at a random position drawn from ``seed`` when one is given.
    """
    h, w = _check_size(size, "box_mask")
    f = float(frac)
    if not 0.0 < f < 1.0:
        raise DeepPriorError(
            f"box_mask: frac is the fraction of the image to hide and must be strictly "
            f"between 0 and 1, got {frac!r}."
        )
    s = math.sqrt(f)
    # Same parity as the image's sides, so a centred hole is exactly centred.
    bh = min(h, max(1, h - 2 * round(h * (1 - s) / 2)))
    bw = min(w, max(1, w - 2 * round(w * (1 - s) / 2)))
    if seed is None:
        top, left = (h - bh) // 2, (w - bw) // 2
    else:
        g = _generator(seed)
        top = int(torch.randint(0, h - bh + 1, (1,), generator=g))
        left = int(torch.randint(0, w - bw + 1, (1,), generator=g))
    m = torch.ones((1, h, w), dtype=torch.float32)
    m[:, top : top + bh, left : left + bw] = 0.0
    return m
