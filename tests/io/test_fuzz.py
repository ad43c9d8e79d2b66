"""Fuzzing the loaders: damaged PNG, JPEG, TIFF, GIF, WebP and BMP files, images and masks.

Valid files made here are mutated (bytes flipped or set to 0x00/0xFF, truncated, ranges
deleted, duplicated or spliced in from another file; PNG chunks' CRCs sometimes recomputed so
that the damage reaches the decoder) and read through :func:`deepprior.io.load_image` and
:func:`deepprior.io.load_mask`. Every outcome must be a valid image (float32, finite, in
[0, 1], the right shape) or a one-line :class:`~deepprior.errors.DeepPriorError`; any other
exception fails the test, naming the case so that it can be replayed.

The normal run tries a few hundred cases (seconds). The long run::

    DEEPPRIOR_FUZZ_EXAMPLES=20000 nice -n 5 python -m pytest -q -s tests/io/test_fuzz.py

prints how many cases it tried and how they ended. ``DEEPPRIOR_FUZZ_SEED`` changes the cases.
"""

from __future__ import annotations

import io
import os
import random
import struct
import time
import warnings
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from deepprior.errors import DeepPriorError
from deepprior.io import load_image, load_mask, save_image

EXAMPLES = int(os.environ.get("DEEPPRIOR_FUZZ_EXAMPLES", "600"))
SEED = int(os.environ.get("DEEPPRIOR_FUZZ_SEED", "0"))
# Header damage can claim a huge size; a lower bomb limit keeps each case fast (what happens
# above it is the same one-line error). 2 M px: far above every valid file here (40x24 px).
PIXEL_LIMIT = 2_000_000
SIZE = (24, 40)  # (H, W) of the files made here


def _pattern(channels: int, dtype: type = np.uint8) -> np.ndarray:
    h, w = SIZE
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(1)
    base = np.stack([x / w, y / h, (x + y) / (h + w)], axis=-1)[..., :channels]
    arr = (base + rng.uniform(0, 0.1, base.shape)).clip(0, 1)
    if dtype is np.float32:
        return arr.astype(np.float32)
    top = np.iinfo(dtype).max
    return np.round(arr * top).astype(dtype)


def _pil_bytes(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _tiff_bytes(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def _seed_files(tmp: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (extension, bytes) of the valid files every case starts from."""
    rgb, gray = _pattern(3), _pattern(1)[..., 0]
    rgba = np.concatenate([rgb, _pattern(1)], axis=-1)
    pal = Image.fromarray(rgb).quantize(16)
    mask = np.full(SIZE, 255, np.uint8)
    mask[5:15, 10:30] = 0
    seeds = {
        "png_rgb": (".png", _pil_bytes(Image.fromarray(rgb), "PNG")),
        "png_rgba_interlaced": (".png", _pil_bytes(Image.fromarray(rgba), "PNG", interlace=1)),
        "png_palette": (".png", _pil_bytes(pal, "PNG")),
        "png_1bit": (".png", _pil_bytes(Image.fromarray(gray > 128), "PNG")),
        "png16_rgb": (".png", save_image(torch.rand(3, *SIZE), tmp / "p16.png", bits=16)),
        "jpeg": (".jpg", _pil_bytes(Image.fromarray(rgb), "JPEG", quality=80)),
        "jpeg_progressive": (
            ".jpg",
            _pil_bytes(Image.fromarray(gray), "JPEG", progressive=True, quality=70),
        ),
        "tiff_rgb8": (".tif", _tiff_bytes(rgb)),
        "tiff_rgb16_zlib": (".tif", _tiff_bytes(_pattern(3, np.uint16), compression="zlib")),
        "tiff_float": (".tif", _tiff_bytes(_pattern(1, np.float32)[..., 0])),
        "gif": (".gif", _pil_bytes(pal, "GIF")),
        "webp_lossy": (".webp", _pil_bytes(Image.fromarray(rgb), "WEBP", quality=60)),
        "webp_lossless": (".webp", _pil_bytes(Image.fromarray(rgba), "WEBP", lossless=True)),
        "bmp": (".bmp", _pil_bytes(Image.fromarray(rgb), "BMP")),
        "mask_png": (".png", _pil_bytes(Image.fromarray(mask), "PNG")),
        "mask_gif": (".gif", _pil_bytes(Image.fromarray(mask), "GIF")),
    }
    return {k: (ext, v.read_bytes() if isinstance(v, Path) else v) for k, (ext, v) in seeds.items()}


def _fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk's CRC, so that damage inside a chunk reaches the decoder."""
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        if pos + 12 + n > len(data):
            break
        kind_body = data[pos + 4 : pos + 8 + n]
        out += data[pos : pos + 4] + kind_body + struct.pack(">I", zlib.crc32(kind_body))
        pos += 12 + n
    return bytes(out + data[pos:])


def mutate(rng: random.Random, data: bytes, donors: list[bytes]) -> tuple[bytes, list[str]]:
    """Apply one to three random mutations; return the bytes and their description."""
    buf = bytearray(data)
    done: list[str] = []
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["flip", "flip", "extreme", "truncate", "delete", "duplicate", "splice"])
        n = len(buf)
        if n == 0:
            break
        i = rng.randrange(n)
        j = min(n, i + rng.randint(1, 64))
        if op == "flip":
            for k in rng.sample(range(n), min(n, rng.randint(1, 8))):
                buf[k] ^= rng.randint(1, 255)
        elif op == "extreme":
            buf[i:j] = bytes([rng.choice((0x00, 0xFF, 0x7F, 0x80))]) * (j - i)
        elif op == "truncate":
            del buf[i:]
        elif op == "delete":
            del buf[i:j]
        elif op == "duplicate":
            buf[i:i] = buf[i:j]
        else:
            donor = rng.choice(donors)
            k = rng.randrange(len(donor))
            buf[i:j] = donor[k : k + rng.randint(1, 256)]
        done.append(f"{op}@{i}")
    if data.startswith(b"\x89PNG") and rng.random() < 0.5:
        buf = bytearray(_fix_png_crcs(bytes(buf)))
        done.append("fix-crc")
    return bytes(buf), done


def check_outcome(path: Path, as_mask: bool) -> str:
    """Load ``path``; return ``"image"`` (a valid result) or ``"error"`` (DeepPriorError).

    Anything else (another exception, a NaN, a value outside [0, 1], a wrong shape) fails.
    """
    try:
        out = load_mask(path, SIZE) if as_mask else load_image(path)
    except DeepPriorError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"not one line: {msg!r}"
        return "error"
    assert out.dtype == torch.float32 and out.ndim == 3, (out.dtype, out.shape)
    assert out.shape[0] in (1, 3) and out.shape[1] > 0 and out.shape[2] > 0, out.shape
    assert bool(torch.isfinite(out).all()), "non-finite values"
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0, "values outside [0, 1]"
    if as_mask:
        assert out.shape == (1, *SIZE) and set(out.unique().tolist()) <= {0.0, 1.0}
    return "image"


@pytest.fixture
def small_bomb_limit(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PIXEL_LIMIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # large-image notes and decoders' own warnings
        yield


def test_seed_files_load(tmp_path: Path, small_bomb_limit: None) -> None:
    """The unmutated files are valid: every mutation starts from a readable file."""
    for name, (ext, data) in _seed_files(tmp_path).items():
        path = tmp_path / f"{name}{ext}"
        path.write_bytes(data)
        assert check_outcome(path, name.startswith("mask")) == "image", name


def test_mutated_files_load_or_fail_cleanly(tmp_path: Path, small_bomb_limit: None) -> None:
    seeds = _seed_files(tmp_path)
    names, donors = sorted(seeds), [data for _, data in seeds.values()]
    tally: Counter[tuple[str, str]] = Counter()
    start = time.perf_counter()
    for case in range(EXAMPLES):
        rng = random.Random(f"{SEED}-{case}")
        name = rng.choice(names)
        ext, data = seeds[name]
        mutated, how = mutate(rng, data, donors)
        path = tmp_path / f"case{ext}"
        path.write_bytes(mutated)
        try:
            tally[name, check_outcome(path, name.startswith("mask"))] += 1
        except BaseException as exc:
            (tmp_path / f"failing_case_{case}{ext}").write_bytes(mutated)
            raise AssertionError(
                f"case {case} (seed {SEED}, {name}, {' '.join(how)}): {type(exc).__name__}: {exc}"
            ) from exc
    seconds = time.perf_counter() - start
    images = sum(v for (_, outcome), v in tally.items() if outcome == "image")
    print(
        f"\nfuzz: {EXAMPLES} cases in {seconds:.1f} s: {images} loaded as valid images, "
        f"{EXAMPLES - images} refused with a DeepPriorError, 0 other outcomes"
    )
    for name in names:
        print(f"  {name}: {tally[name, 'image']} images, {tally[name, 'error']} errors")
    assert sum(tally.values()) == EXAMPLES


@settings(
    max_examples=max(50, EXAMPLES // 10),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.binary(max_size=2048),
    ext=st.sampled_from([".png", ".jpg", ".tif", ".gif", ".webp", ".bmp"]),
    header=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*",
                            b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM"]),
)  # fmt: skip
def test_arbitrary_bytes_load_or_fail_cleanly(
    tmp_path: Path, small_bomb_limit: None, data: bytes, ext: str, header: bytes
) -> None:
    """Random bytes behind each format's signature (Hypothesis, deterministic)."""
    path = tmp_path / f"any{ext}"
    path.write_bytes(header + data)
    check_outcome(path, as_mask=False)
