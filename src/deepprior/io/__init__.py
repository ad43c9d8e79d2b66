"""Reading and writing images, masks and reports.

Images are float32 tensors of shape (C, H, W) with values in [0, 1], where C is 1 (gray)
or 3 (RGB). Masks are float32 tensors of shape (1, H, W) holding 1 for known pixels and
0 for pixels to fill. Every problem the user can fix raises
:class:`~deepprior.errors.DeepPriorError` with a one-line message, and every write is atomic
(a temporary file in the target directory, then :func:`os.replace`).
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import png
import torch
from PIL import Image, UnidentifiedImageError

from deepprior.errors import DeepPriorError

__all__ = [
    "SUPPORTED_READ",
    "atomic_write_text",
    "check_mask",
    "check_output_path",
    "load_image",
    "load_mask",
    "save_image",
    "to_uint8",
]

PathLike = str | os.PathLike

SUPPORTED_READ = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

# Extension -> Pillow format name, for writing.
_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
_WRITE_16BIT = (".png", ".tif", ".tiff")
# Extra encoder options: outputs of a restoration should not lose much on the way out.
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"quality": 95},
    "WEBP": {"lossless": True},
}
_ORIENTATION_TAG = 0x0112


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """Return an exception's message squeezed onto one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_list(items: Iterable[str]) -> str:
    return ", ".join(items)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    zlib.error,
    struct.error,
    IndexError,
    KeyError,
    png.Error,
)


def load_image(
    path: PathLike,
    *,
    channels: int | None = None,
    return_alpha: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
    """Read an image file into a float32 tensor of shape (C, H, W) with values in [0, 1].

    PNG, JPEG, TIFF, BMP and WebP are read (any other format Pillow decodes works too).
    8-bit data is divided by 255 and 16-bit data by 65535; 16-bit RGB(A) PNG and TIFF keep
    their full precision. Floating-point images (TIFF mode 'F') must already lie in [0, 1].
    The EXIF orientation tag is applied, so the tensor is upright as a viewer shows it.
    Palette images become RGB, or gray when every colour in use is gray.

    Alpha is never composited: the colour channels are returned as stored and the alpha
    channel is dropped from the image. With ``return_alpha=True`` it is returned separately.

    Args:
        path: The image file.
        channels: 1 converts colour to gray (ITU-R 601 luma, as Pillow's "L"), 3 repeats a
            gray image to RGB, None keeps what the file has.
        return_alpha: Also return the alpha channel.

    Returns:
        The image tensor (C, H, W); with ``return_alpha`` a tuple ``(image, alpha)`` where
        alpha is a float32 (1, H, W) tensor in [0, 1], or None when the file has no alpha.

    Raises:
        DeepPriorError: The file is missing, a directory, unreadable, not an image, corrupt,
            truncated or empty, or ``channels`` is not 1, 3 or None.
    """
    if channels not in (None, 1, 3):
        raise DeepPriorError(f"channels must be 1, 3 or None, not {channels!r}")
    p = Path(path)
    arr, n_colour = _read_array(p)
    colour = arr[..., :n_colour]
    alpha = arr[..., n_colour] if arr.shape[-1] > n_colour else None

    if channels == 1 and n_colour == 3:
        colour = (
            colour[..., 0:1] * 0.299 + colour[..., 1:2] * 0.587 + colour[..., 2:3] * 0.114
        ).clip(0.0, 1.0)
    elif channels == 3 and n_colour == 1:
        colour = np.repeat(colour, 3, axis=-1)

    image = torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1), dtype=np.float32))
    if not return_alpha:
        return image
    alpha_t = None
    if alpha is not None:
        alpha_t = torch.from_numpy(np.ascontiguousarray(alpha[None], dtype=np.float32))
    return image, alpha_t


def _read_array(p: Path) -> tuple[np.ndarray, int]:
    """Decode ``p`` to a float32 (H, W, C) array in [0, 1] and its number of colour channels.

    Channels after the colour channels (at most one) are alpha.
    """
    if not p.exists():
        raise DeepPriorError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise DeepPriorError(f"{p}: is a directory, not an image file; give the path of an image")
    try:
        raw, n_colour, orientation = _decode_file(p)
    except DeepPriorError:
        raise
    except PermissionError:
        raise DeepPriorError(f"{p}: permission denied; make the file readable") from None
    except Image.DecompressionBombError as exc:
        raise DeepPriorError(
            f"{p}: the image is too large to read safely ({_one_line(exc)}); give a smaller image"
        ) from None
    except _DECODE_ERRORS as exc:
        # Pillow's "cannot identify image file '<path>'" would repeat the path.
        reason = "unknown format" if isinstance(exc, UnidentifiedImageError) else _one_line(exc)
        raise DeepPriorError(
            f"{p}: cannot decode the image, the file is corrupt, truncated or not an image "
            f"({reason}); give a PNG, JPEG, TIFF, BMP or WebP file"
        ) from None
    if raw.ndim == 2:
        raw = raw[..., None]
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DeepPriorError(
            f"{p}: the image is empty ({raw.shape[1]}x{raw.shape[0]} px); give a non-empty image"
        )
    if raw.shape[-1] - n_colour not in (0, 1):
        raise DeepPriorError(
            f"{p}: has {raw.shape[-1]} channels; give a gray or RGB image (optionally with alpha)"
        )
    arr = _to_unit_range(raw, p)
    return _apply_orientation(arr, orientation), n_colour


def _decode_file(p: Path) -> tuple[np.ndarray, int, int]:
    """Decode with Pillow, or with a lossless fallback where Pillow would drop precision.

    Returns the raw (H, W[, C]) array, the number of colour channels and the EXIF orientation.
    """
    try:
        opened = Image.open(p)
    except UnidentifiedImageError:
        if _is_tiff(p):  # e.g. float RGB TIFF, which Pillow cannot open
            return _decode_tiff(p)
        raise
    with opened as im:
        im.load()  # full decode inside the caller's try: truncated/corrupt data fails here
        orientation = _exif_orientation(im)
        if im.format == "PNG" and (deep := _decode_png16(p)) is not None:
            return (*deep, orientation)
        if im.format == "TIFF" and _is_deep_colour_tiff(im):
            raw, n_colour, _ = _decode_tiff(p)
            return raw, n_colour, orientation
        raw, n_colour = _pil_to_array(im)
        return raw, n_colour, orientation


def _pil_to_array(im: Image.Image) -> tuple[np.ndarray, int]:
    """Convert a loaded Pillow image to an (H, W[, C]) array and its colour channel count."""
    mode = im.mode
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
        rgb = arr[..., :3]
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
            return arr[..., [0, 3]] if has_alpha else arr[..., 0], 1
        return arr, 3
    if mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("LA" if mode == "L" else "RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif not (mode in ("L", "LA", "RGB", "RGBA", "I", "F") or mode.startswith("I;16")):
        # CMYK, YCbCr, LAB, HSV, RGBX, ...
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    n_colour = 3 if im.mode in ("RGB", "RGBA") else 1
    return np.asarray(im), n_colour


def _to_unit_range(raw: np.ndarray, p: Path) -> np.ndarray:
    """Scale integer data by its bit depth and check float data; return float32 in [0, 1]."""
    dtype = raw.dtype
    if dtype == np.bool_:
        return raw.astype(np.float32)
    if dtype == np.uint8:
        return raw.astype(np.float32) / 255.0
    if dtype.kind == "u" and dtype.itemsize == 2:
        return raw.astype(np.float32) / 65535.0
    if dtype.kind == "i" and dtype.itemsize == 4:
        # Pillow mode "I": 32-bit integers, in practice 16-bit data.
        return (raw.astype(np.float64) / 65535.0).clip(0.0, 1.0).astype(np.float32)
    if dtype.kind == "u":
        return (raw.astype(np.float64) / np.iinfo(dtype).max).astype(np.float32)
    if dtype.kind == "f":
        arr = np.nan_to_num(raw.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            raise DeepPriorError(
                f"{p}: floating-point image has values in [{lo:.4g}, {hi:.4g}], not in [0, 1]; "
                "rescale it to [0, 1] or save it as an 8- or 16-bit image"
            )
        return arr.clip(0.0, 1.0)
    raise DeepPriorError(
        f"{p}: unsupported sample type {dtype}; give an 8-bit, 16-bit or [0, 1] float image"
    )


def _exif_orientation(im: Image.Image) -> int:
    """Return the EXIF orientation (1-8) of a loaded Pillow image; 1 when absent or invalid."""
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Transform an (H, W, C) array as Pillow's ``ImageOps.exif_transpose`` would."""
    if orientation == 2:  # mirror left-right
        return arr[:, ::-1]
    if orientation == 3:  # rotate 180
        return arr[::-1, ::-1]
    if orientation == 4:  # mirror top-bottom
        return arr[::-1]
    if orientation == 5:  # transpose
        return arr.swapaxes(0, 1)
    if orientation == 6:  # rotate 90 clockwise
        return np.rot90(arr, k=-1)
    if orientation == 7:  # transverse
        return arr.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:  # rotate 90 counter-clockwise
        return np.rot90(arr, k=1)
    return arr


def _is_tiff(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _is_deep_colour_tiff(im: Image.Image) -> bool:
    """True for multi-sample TIFFs with more than 8 bits, which Pillow reduces to 8 bits."""
    tags = getattr(im, "tag_v2", {})
    bits = tags.get(258, 8)
    bits = max(bits) if isinstance(bits, tuple) else bits
    return int(tags.get(277, 1)) > 1 and int(bits) > 8


def _decode_tiff(p: Path) -> tuple[np.ndarray, int, int]:
    """Read the first page of a TIFF with tifffile: (H, W[, C]) array, colour count, orient."""
    import tifffile  # installed with scikit-image; only needed for deep-colour TIFFs

    with tifffile.TiffFile(p) as tif:
        page = tif.pages[0]
        arr = page.asarray()
        axes = page.axes
        photometric = int(page.photometric)
        tag = page.tags.get(274)
        orientation = int(tag.value) if tag is not None else 1
    if arr.ndim == 3 and axes.startswith("S"):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise DeepPriorError(
            f"{p}: unsupported TIFF layout (axes {axes}); give a single gray or RGB image"
        )
    n_colour = 1 if arr.shape[-1] <= 2 else 3
    if photometric != (2 if n_colour == 3 else 1):
        raise DeepPriorError(
            f"{p}: unsupported TIFF colour space (photometric {photometric}); "
            "save it as gray or RGB"
        )
    return arr, n_colour, orientation if 1 <= orientation <= 8 else 1


def _decode_png16(p: Path) -> tuple[np.ndarray, int] | None:
    """Read a 16-bit gray+alpha, RGB or RGBA PNG at full precision with pypng.

    Pillow reduces those to 8 bits. Returns a uint16 (H, W, C) array and the number of colour
    channels, or None for any other PNG (Pillow reads those exactly). A tRNS colour key
    becomes an alpha channel.
    """
    with open(p, "rb") as f:
        reader = png.Reader(file=f)
        reader.preamble()
        if reader.bitdepth != 16 or (reader.greyscale and not reader.alpha):
            return None
        width, height, rows, info = reader.read()
        data = b"".join(rows)  # rows are native-order array('H')
    arr = np.frombuffer(data, np.uint16).reshape(height, width, info["planes"])
    if "transparent" in info:
        key = np.array(info["transparent"], np.uint16)
        alpha = np.where((arr == key).all(axis=-1), 0, 65535).astype(np.uint16)
        arr = np.concatenate([arr, alpha[..., None]], axis=-1)
    return arr, 1 if reader.greyscale else 3


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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

    def write(tmp: Path) -> None:
        if bits == 16 and fmt == "TIFF":
            import tifffile  # installed with scikit-image

            photometric = "rgb" if data.ndim == 3 else "minisblack"
            tifffile.imwrite(tmp, data, photometric=photometric, iccprofile=icc)
        elif bits == 16 and data.ndim == 3:  # RGB; Pillow cannot write it at 16 bits
            height, width = data.shape[:2]
            writer = png.Writer(width, height, greyscale=False, bitdepth=16)
            rows = np.ascontiguousarray(data, ">u2").reshape(height, -1)
            buf = io.BytesIO()
            writer.write_packed(buf, (row.tobytes() for row in rows))
            tmp.write_bytes(buf.getvalue() if icc is None else _png_with_icc(buf.getvalue(), icc))
        else:
            opts = dict(_SAVE_OPTIONS.get(fmt, {}))
            if icc is not None and fmt != "BMP":
                opts["icc_profile"] = icc
            Image.fromarray(data).save(tmp, format=fmt, **opts)

    _atomic_write(p, write, ext)
    return p


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 text atomically (temporary file in the same directory, then rename).

    Args:
        path: Output file; its directory must exist.
        text: The content.

    Raises:
        DeepPriorError: The directory is missing or read-only, or the write fails.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write bytes atomically (temporary file in the same directory, then rename).

    Raises:
        DeepPriorError: The directory is missing or read-only, or the write fails.
    """
    p = Path(path)
    _check_target(p)
    _atomic_write(p, lambda tmp: tmp.write_bytes(data), p.suffix)
    return p


def check_output_path(
    out: PathLike, inputs: Iterable[PathLike | None] = (), *, overwrite: bool = True
) -> Path:
    """Check, before a long run, that ``out`` can be written and would not clobber an input.

    Args:
        out: The planned output image.
        inputs: Input files (image, mask, guide, ...); None entries are ignored.
        overwrite: If False, an existing ``out`` is refused as well.

    Returns:
        ``out`` as a Path.

    Raises:
        DeepPriorError: ``out`` is a directory, has an unsupported extension, is one of the
            inputs (also through another spelling, a symlink or a hard link), already exists
            while ``overwrite`` is False, or its directory is missing or not writable.
    """
    p = Path(out)
    if p.is_dir():
        raise DeepPriorError(
            f"cannot write {p}: it is a directory; give a file name such as {p / 'restored.png'}"
        )
    _check_extension(p)
    for inp in inputs:
        if inp is not None and _same_file(p, Path(inp)):
            raise DeepPriorError(
                f"refusing to overwrite the input {inp}; choose another output path"
            )
    _check_target(p)
    if not overwrite and p.exists():
        raise DeepPriorError(
            f"refusing to overwrite {p}: it already exists; choose another output path "
            "or allow overwriting"
        )
    return p


def _same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name the same file (samefile when both exist, else resolved)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _check_extension(p: Path) -> str:
    ext = p.suffix.lower()
    if ext not in _WRITE_FORMATS:
        shown = f"'{p.suffix}'" if p.suffix else "(none)"
        raise DeepPriorError(
            f"cannot write {p}: unsupported extension {shown}; "
            f"use one of {_format_list(_WRITE_FORMATS)}"
        )
    return ext


def _check_target(p: Path) -> None:
    """Check that ``p`` is not a directory and that its directory exists and is writable."""
    if p.is_dir():
        raise DeepPriorError(f"cannot write {p}: it is a directory; give a file path")
    parent = p.parent
    if not parent.exists():
        raise DeepPriorError(
            f"cannot write {p}: directory {parent} does not exist; create it first"
        )
    if not parent.is_dir():
        raise DeepPriorError(
            f"cannot write {p}: {parent} is not a directory; choose another output path"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DeepPriorError(
            f"cannot write {p}: directory {parent} is not writable; choose another output path"
        )


def _new_file_mode(target: Path) -> int:
    """Permissions for the final file: the old file's, else 0o666 minus the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        pass
    umask = None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        pass
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(target: Path, write: Callable[[Path], None], suffix: str) -> None:
    """Run ``write`` on a temporary file next to ``target``, then rename it onto ``target``.

    The temporary file is removed if anything fails; OS errors become DeepPriorError.
    """
    tmp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=suffix, delete=False
        ) as f:
            tmp = Path(f.name)
        write(tmp)
        os.chmod(tmp, _new_file_mode(target))
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or _one_line(exc)
        raise DeepPriorError(
            f"cannot write {target}: {reason}; check the path and disk space"
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
