"""Damaged PNG data is refused, not decoded to wrong pixels; very large images warn in one line."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from deepprior.errors import DeepPriorWarning
from deepprior.io import load_image, load_mask, save_image

from .._inproc import run_main
from ._helpers import _chw, _raises_one_line, _rgb8


def _chunks(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """A PNG's chunks as (type, body, stored CRC)."""
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        out.append((kind, body, data[pos + 8 + n : pos + 12 + n]))
        pos += 12 + n
    return out


def _damaged_idat(data: bytes) -> bytes:
    """The PNG with one pixel value changed inside a well-formed zlib stream (its Adler-32
    recomputed) but the IDAT chunk's CRC left as it was: damage only the CRC can reveal."""
    chunks = _chunks(data)
    idat = b"".join(body for kind, body, _ in chunks if kind == b"IDAT")
    raw = bytearray(zlib.decompress(idat))
    raw[-1] ^= 0x40  # the last sample of the last row (not a filter-type byte)
    stale_crc = next(crc for kind, _, crc in chunks if kind == b"IDAT")
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body, crc in chunks:
        if kind != b"IDAT":
            out += struct.pack(">I", len(body)) + kind + body + crc
        elif stale_crc is not None:  # all the data in one IDAT, with the first one's CRC
            new = zlib.compress(bytes(raw))
            out += struct.pack(">I", len(new)) + b"IDAT" + new + stale_crc
            stale_crc = None
    return out


@pytest.mark.parametrize("bits", [8, 16])
def test_png_with_bad_idat_crc_is_refused(tmp_path: Path, bits: int) -> None:
    good = save_image(_chw(_rgb8(17, 16)), tmp_path / "good.png", bits=bits)
    bad = tmp_path / "bad.png"
    bad.write_bytes(_damaged_idat(good.read_bytes()))
    # Without the CRC check the damaged file decodes, to pixels that differ from the original.
    with Image.open(bad) as im:
        im.load()
    _raises_one_line(r"bad\.png: cannot decode the image, the file is corrupt", load_image, bad)


def test_png_with_flipped_crc_byte_is_refused(tmp_path: Path) -> None:
    data = bytearray(save_image(torch.rand(1, 8, 8), tmp_path / "m.png").read_bytes())
    end = data.index(b"IEND") - 4  # the last IDAT chunk's CRC ends here
    data[end - 1] ^= 0x01
    (tmp_path / "crc.png").write_bytes(bytes(data))
    _raises_one_line(r"crc\.png: cannot decode", load_image, tmp_path / "crc.png")


def test_mask_with_bad_crc_is_refused(tmp_path: Path) -> None:
    mask = torch.ones(1, 16, 16)
    mask[:, 4:12, 4:12] = 0
    good = save_image(mask, tmp_path / "mask.png")
    bad = tmp_path / "bad_mask.png"
    bad.write_bytes(_damaged_idat(good.read_bytes()))
    _raises_one_line(r"bad_mask\.png: cannot decode", load_mask, bad, (16, 16))


def test_cli_gt_with_bad_crc_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inp = save_image(torch.rand(3, 16, 16), tmp_path / "in.png")
    gt = save_image(torch.rand(3, 16, 16), tmp_path / "gt.png")
    gt.write_bytes(_damaged_idat(gt.read_bytes()))
    out = tmp_path / "o.png"
    code, lines = run_main(capsys, "denoise", str(inp), "-o", str(out), "--gt", str(gt), "-q")
    assert code == 2 and len(lines) == 1, lines
    assert "gt.png: cannot decode the image, the file is corrupt" in lines[0]
    assert not out.exists()


def _png(tmp_path: Path, side: int) -> Path:
    return save_image(torch.rand(1, side, side), tmp_path / f"big{side}.png")


def test_large_image_warns_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # warn above 100 px, refuse above 200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(_png(tmp_path, 12))
    assert img.shape == (1, 12, 12)
    assert [w.category for w in caught] == [DeepPriorWarning]
    msg = str(caught[0].message)
    assert "\n" not in msg and "big12.png: a very large image (12x12" in msg
    _raises_one_line(r"big15\.png: the image is too large to read safely", load_image,
                     _png(tmp_path, 15))  # fmt: skip


def test_cli_prints_large_image_warning_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    src, out = _png(tmp_path, 12), tmp_path / "d.png"
    code, lines = run_main(capsys, "degrade", str(src), "-o", str(out), "--noise", "10")
    assert code == 0, lines
    assert lines[0].startswith("deepprior: warning: ") and "a very large image" in lines[0]
    assert lines[1].startswith("wrote ") and len(lines) == 2, lines


def test_tiff_read_by_tifffile_obeys_the_pixel_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Float RGB TIFFs bypass Pillow (which cannot open them), not its bomb limit."""
    path = tmp_path / "f.tif"
    rgb = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    tifffile.imwrite(path, rgb, photometric="rgb")
    assert load_image(path).shape == (3, 8, 8)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)  # refuse above 40 px
    _raises_one_line(r"f\.tif: the image is too large to read safely \(64 px", load_image, path)


def test_tifffile_failures_become_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tifffile raises e.g. TypeError on some damaged headers (found by tests/io/test_fuzz.py)."""
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.float32), photometric="rgb")

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand type(s) for //: 'tuple' and 'int'")

    monkeypatch.setattr(tifffile, "TiffFile", broken)
    _raises_one_line(r"f\.tif: cannot decode the image.*\(TypeError: unsupported", load_image, path)
