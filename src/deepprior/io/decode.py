"""Decoding image files into float32 (C, H, W) tensors in [0, 1].

Pillow reads most files; pypng and tifffile take over where Pillow would drop precision
(16-bit RGB(A) PNG, deep-colour and float TIFF). EXIF orientation is applied, alpha is
split off, and every failure becomes a one-line :class:`~deepprior.errors.DeepPriorError`.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import png
import torch
from PIL import Image, UnidentifiedImageError

from deepprior.errors import DeepPriorError, DeepPriorWarning

from ._common import PathLike, _one_line

__all__ = ["SUPPORTED_READ", "load_image"]

SUPPORTED_READ = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_ORIENTATION_TAG = 0x0112
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
        opened = _open_checked(p)
    except UnidentifiedImageError:
        if _is_tiff(p):  # e.g. float RGB TIFF, which Pillow cannot open
            return _decode_tiff(p)
        raise
    with opened as im:
        if im.format == "PNG":
            _verify_png(p)
        im.load()  # full decode inside the caller's try: truncated/corrupt data fails here
        orientation = _exif_orientation(im)
        frames = getattr(im, "n_frames", 1)
        # An animation or a multi-page file: Pillow has decoded the first frame. (A camera's
        # MPO JPEG holds the photo first and previews after it: nothing to say.)
        if frames > 1 and im.format != "MPO":
            warnings.warn(
                DeepPriorWarning(
                    f"{p}: has {frames} frames (an animation or a multi-page file); only the "
                    "first is read: save the frame you want as its own file"
                ),
                stacklevel=3,
            )
        if im.format == "PNG" and (deep := _decode_png16(p)) is not None:
            return (*deep, orientation)
        if im.format == "TIFF" and _is_deep_colour_tiff(im):
            raw, n_colour, _ = _decode_tiff(p)
            return raw, n_colour, orientation
        raw, n_colour = _pil_to_array(im)
        return raw, n_colour, orientation


def _open_checked(p: Path) -> Image.Image:
    """``Image.open``, with Pillow's two-line decompression-bomb warning said in one line.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` (89 M px) and refuses above twice that
    (:class:`~PIL.Image.DecompressionBombError`, which the caller turns into an error). Such
    an image is read, but the user is told what it will cost.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Image.DecompressionBombWarning)
        im = Image.open(p)
    for w in caught:
        if not issubclass(w.category, Image.DecompressionBombWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        n = im.width * im.height
        warnings.warn(
            DeepPriorWarning(
                f"{p}: a very large image ({im.width}x{im.height} = {n / 1e6:.0f} M px); "
                f"reading and restoring it needs much memory and time"
            ),
            stacklevel=2,
        )
    return im


def _verify_png(p: Path) -> None:
    """Check every chunk's CRC (Pillow's ``verify``), which decoding alone does not do.

    Pillow decodes IDAT without checking its CRC, so a file whose image data was damaged
    would decode to wrong pixels. Raises ``SyntaxError`` / ``OSError`` (a corrupt file).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # said by the open
        with Image.open(p) as im:
            im.verify()


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
        arr = raw.astype(np.float32)
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise DeepPriorError(
                f"{p}: {bad} of {arr.size} samples are NaN or infinite; replace them with values "
                "in [0, 1] (to fill them in, mark them in a --mask and run deepprior inpaint)"
            )
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

    try:
        with tifffile.TiffFile(p) as tif:
            page = tif.pages[0]
            _check_pixel_count(p, int(page.imagewidth) * int(page.imagelength))
            arr = page.asarray()
            axes = page.axes
            photometric = int(page.photometric)
            tag = page.tags.get(274)
            orientation = int(tag.value) if tag is not None else 1
    except (DeepPriorError, *_DECODE_ERRORS):
        raise
    except Exception as exc:  # tifffile fails on some damaged files with e.g. a TypeError
        raise ValueError(f"{type(exc).__name__}: {_one_line(exc)}") from None
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


def _check_pixel_count(p: Path, pixels: int) -> None:
    """Refuse, as Pillow does, an image claiming more than twice ``Image.MAX_IMAGE_PIXELS``.

    tifffile has no such limit: a damaged or hostile header could make it allocate any size.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and pixels > 2 * limit:
        raise DeepPriorError(
            f"{p}: the image is too large to read safely ({pixels} px, more than {2 * limit}); "
            "give a smaller image"
        )


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
