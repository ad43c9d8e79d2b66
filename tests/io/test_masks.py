"""Tests for deepprior.io.masks: reading and checking inpainting masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepprior.io import check_mask, load_mask

from ._helpers import _raises_one_line


def test_load_mask(tmp_path: Path) -> None:
    m = np.full((10, 12), 255, np.uint8)
    m[2:5, 3:8] = 0
    m[0, 0] = 120  # below the 0.5 threshold: unknown
    m[9, 11] = 140  # above: known
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", (10, 12))
    assert mask.shape == (1, 10, 12) and mask.dtype == torch.float32
    assert torch.equal(mask[0], torch.from_numpy(m > 127).float())
    # RGB masks are read through their gray value.
    Image.fromarray(np.repeat(m[..., None], 3, -1)).save(tmp_path / "rgb.png")
    assert torch.equal(load_mask(tmp_path / "rgb.png", (10, 12)), mask)


def test_mask_from_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[1:3, 1:3, 3] = 0  # transparent hole
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    mask = load_mask(tmp_path / "a.png", (6, 6))
    assert mask.sum() == 32 and mask[0, 1:3, 1:3].sum() == 0


def test_mask_errors(tmp_path: Path) -> None:
    Image.fromarray(np.full((80, 100), 255, np.uint8)).save(tmp_path / "mask.png")
    msg = _raises_one_line(
        r"mask\.png is 100x80 px but the image is 128x128 px; give a mask of the image's size",
        load_mask,
        tmp_path / "mask.png",
        (128, 128),
    )
    assert msg.startswith(str(tmp_path / "mask.png"))
    _raises_one_line("no unknown pixels .*all white", load_mask, tmp_path / "mask.png", (80, 100))
    Image.fromarray(np.zeros((80, 100), np.uint8)).save(tmp_path / "black.png")
    _raises_one_line(
        "no known pixels .*all black.*invert", load_mask, tmp_path / "black.png", (80, 100)
    )
    _raises_one_line(r"nope\.png: no such file", load_mask, tmp_path / "nope.png", (8, 8))


def test_check_mask() -> None:
    ok = torch.ones(1, 4, 4)
    ok[0, 0, 0] = 0
    check_mask(ok)
    _raises_one_line(
        "^generated mask has no known pixels", check_mask, torch.zeros(1, 4, 4), "generated mask"
    )
    _raises_one_line("^mask has no unknown pixels", check_mask, torch.ones(1, 4, 4))
