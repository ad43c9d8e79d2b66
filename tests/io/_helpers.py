"""Helpers shared by the io tests: test patterns, PNG chunks and error checks."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
import torch

from deepprior.errors import DeepPriorError

RNG = np.random.default_rng(0)


def _rgb8(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth-ish RGB test pattern (compresses like a photo)."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w)], axis=-1)
    return (base + RNG.integers(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)


def _chw(arr: np.ndarray) -> torch.Tensor:
    """uint8/uint16 (H, W[, C]) -> float (C, H, W) in [0, 1]."""
    top = 255.0 if arr.dtype == np.uint8 else 65535.0
    t = torch.from_numpy(arr.astype(np.float32) / top)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png_header(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG's IHDR."""
    head = path.read_bytes()[:26]
    assert head[12:16] == b"IHDR"
    return head[24], head[25]


def _raises_one_line(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(DeepPriorError, match=match) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


def _png16_info(path: Path) -> dict:
    """pypng's view of a PNG: checks the file is valid and gives its bit depth and planes."""
    _, _, rows, info = png.Reader(bytes=path.read_bytes()).read()
    list(rows)  # decode everything
    return info


def _unit_to_u16(t: torch.Tensor) -> np.ndarray:
    """float (C, H, W) in [0, 1] -> exact uint16-valued float64 (H, W, C)."""
    return np.round(t.permute(1, 2, 0).numpy().astype(np.float64) * 65535)
