"""Encoding images to files: quantization to 8 or 16 bits, formats and ICC profiles.

Every write goes through :func:`deepprior.io.files._atomic_write`, so a failed save never
leaves a half-written file behind.
"""

from __future__ import annotations

import io
import warnings
import zlib
from pathlib import Path

import numpy as np
import png
import torch
from PIL import Image

from deepprior.errors import DeepPriorError

from ._common import PathLike, _format_list
from .files import _WRITE_FORMATS, _atomic_write, _check_extension, _check_target

__all__ = ["read_icc_profile", "save_image", "to_uint8"]

_WRITE_16BIT = (".png", ".tif", ".tiff")
# Extra encoder options: outputs of a restoration should not lose much on the way out.
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 95},
    "WEBP": {"lossless": True},
}


def _to_hwc(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """Turn a (C, H, W) or (1, C, H, W) image into a float64 (H, W, C) array in [0, 1]."""
    if isinstance(img, torch.Tensor):
        arr = img.detach().to("cpu", torch.float64).numpy()
    else:
        arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] not in (1, 3) or 0 in arr.shape:
        raise DeepPriorError(
            f"cannot save an image of shape {tuple(img.shape)}; "
            "expected (C, H, W) or (1, C, H, W) with C = 1 or 3"
        )
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    return arr.transpose(1, 2, 0)


def _quantize(img: torch.Tensor | np.ndarray, bits: int) -> np.ndarray:
    """Round to uint8/uint16; (H, W, 3) for colour, (H, W) for gray."""
    arr = _to_hwc(img)
    top, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    out = np.round(arr * top).astype(dtype)
    return out[..., 0] if out.shape[-1] == 1 else out


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """Convert an image in [0, 1] to uint8 for display or saving.

    Args:
        img: (C, H, W) or (1, C, H, W) with C = 1 or 3; values are clamped to [0, 1] and NaN
            becomes 0.

    Returns:
        A uint8 array (H, W, 3), or (H, W) for one channel.
    """
    return _quantize(img, 8)


def read_icc_profile(path: PathLike) -> bytes | None:
    """The ICC colour profile embedded in an image file, or None (no profile, unreadable).

    Restorations keep the input's colour space, so the outputs should carry its profile: a
    Display P3 or Adobe RGB photo written without it looks washed out.
    """
    try:
        with warnings.catch_warnings():  # the image's size was already said when it was read
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(Path(path)) as im:
                icc = im.info.get("icc_profile")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return icc if isinstance(icc, bytes) and len(icc) >= 20 else None


def _icc_fits(icc: bytes | None, channels: int) -> bool:
    """Whether an ICC profile describes images of ``channels`` channels (header bytes 16-19)."""
    if not icc or len(icc) < 20:
        return False
    space = icc[16:20]
    return space == (b"GRAY" if channels == 1 else b"RGB ")


def _png_with_icc(raw: bytes, icc: bytes) -> bytes:
    """Insert an iCCP chunk into a PNG written by pypng (before its first IDAT)."""
    chunks = list(png.Reader(bytes=raw).chunks())
    iccp = b"ICC profile\0\0" + zlib.compress(icc)
    first_idat = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    chunks.insert(first_idat, (b"iCCP", iccp))
    out = io.BytesIO()
    png.write_chunks(out, chunks)
    return out.getvalue()


def save_image(
    img: torch.Tensor, path: PathLike, *, bits: int = 8, icc_profile: bytes | None = None
) -> Path:
    """Write an image atomically (temporary file in the same directory, then rename).

    The format follows the extension: PNG, JPEG (quality 95), TIFF, BMP or WebP (lossless).
    16-bit output is possible for PNG and TIFF; 16-bit RGB PNG is written with pypng because
    Pillow cannot write it. Parent directories are not created.

    Args:
        img: (C, H, W) or (1, C, H, W) with C = 1 or 3, values in [0, 1] (clamped; NaN -> 0).
        path: Output file.
        bits: 8 or 16 bits per sample.
        icc_profile: an ICC colour profile to embed (e.g. the input's, from
            :func:`read_icc_profile`); left out when it does not fit the image's channels
            or the format has no place for it (BMP).

    Returns:
        The path written.

    Raises:
        DeepPriorError: Bad extension or ``bits``, missing or read-only directory, the path
            is a directory, or the write fails.
    """
    p = Path(path)
    if bits not in (8, 16):
        raise DeepPriorError(f"cannot write {p}: bits must be 8 or 16, not {bits!r}")
    ext = _check_extension(p)
    if bits == 16 and ext not in _WRITE_16BIT:
        raise DeepPriorError(
            f"cannot write {p}: 16-bit output needs {_format_list(_WRITE_16BIT)}; "
            "change the extension or write 8 bits"
        )
    _check_target(p)
    data = _quantize(img, bits)
    fmt = _WRITE_FORMATS[ext]
    icc = icc_profile if _icc_fits(icc_profile, 3 if data.ndim == 3 else 1) else None

    _atomic_write(p, lambda tmp: _encode(tmp, data, fmt, bits, icc), ext)
    return p


def _encode(tmp: Path, data: np.ndarray, fmt: str, bits: int, icc: bytes | None) -> None:
    """Write quantized ``data`` to ``tmp`` in Pillow format ``fmt``, embedding ``icc``."""
    if bits == 16 and fmt == "TIFF":
        import tifffile  # installed with scikit-image

        photometric = "rgb" if data.ndim == 3 else "minisblack"
        tifffile.imwrite(tmp, data, photometric=photometric, iccprofile=icc)
    elif bits == 16 and data.ndim == 3:  # RGB; Pillow cannot write it at 16 bits
        tmp.write_bytes(_png16_rgb(data, icc))
    else:
        opts = dict(_SAVE_OPTIONS.get(fmt, {}))
        if icc is not None and fmt != "BMP":
            opts["icc_profile"] = icc
        Image.fromarray(data).save(tmp, format=fmt, **opts)


def _png16_rgb(data: np.ndarray, icc: bytes | None) -> bytes:
    """Encode a uint16 (H, W, 3) array as a 16-bit RGB PNG with pypng (and an iCCP chunk)."""
    height, width = data.shape[:2]
    writer = png.Writer(width, height, greyscale=False, bitdepth=16)
    rows = np.ascontiguousarray(data, ">u2").reshape(height, -1)
    buf = io.BytesIO()
    writer.write_packed(buf, (row.tobytes() for row in rows))
    return buf.getvalue() if icc is None else _png_with_icc(buf.getvalue(), icc)
