"""Tests for deepprior.io.decode: formats, bit depths, modes, alpha, EXIF and read errors."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from deepprior.io import SUPPORTED_READ, load_image, save_image

from ._helpers import (
    RNG,
    _chw,
    _png16_info,
    _png_chunk,
    _png_header,
    _raises_one_line,
    _rgb8,
    _unit_to_u16,
)


@pytest.mark.parametrize("n_samples", [2, 4])
def test_png_16bit_alpha_round_trip(tmp_path: Path, n_samples: int) -> None:
    # save_image writes no alpha, so gray+alpha and RGBA files are made with pypng.
    h, w = 23, 17
    smooth = np.linspace(0, 65535, h * w * n_samples).reshape(h, w, n_samples)
    arr = (smooth + RNG.integers(0, 3000, (h, w, n_samples))).clip(0, 65535).astype(np.uint16)
    path = tmp_path / "a16.png"
    writer = png.Writer(w, h, greyscale=n_samples == 2, alpha=True, bitdepth=16)
    with open(path, "wb") as f:
        writer.write(f, arr.reshape(h, -1))
    info = _png16_info(path)
    assert info["bitdepth"] == 16 and info["alpha"] and info["planes"] == n_samples
    img, alpha = load_image(path, return_alpha=True)
    n_colour = n_samples - 1
    assert img.shape == (n_colour, h, w) and alpha.shape == (1, h, w)
    assert np.array_equal(_unit_to_u16(img), arr[..., :n_colour])
    assert np.array_equal(_unit_to_u16(alpha)[..., 0], arr[..., -1])
    # Re-saving the colour with save_image keeps all 16 bits.
    if n_colour == 3:
        out = save_image(img, tmp_path / "rgb16.png", bits=16)
        assert _png16_info(out)["bitdepth"] == 16
        assert np.array_equal(_unit_to_u16(load_image(out)), arr[..., :3])


def test_png16_interlaced(tmp_path: Path) -> None:
    h, w = 13, 11
    arr = RNG.integers(0, 65536, (h, w, 3)).astype(np.uint16)
    path = tmp_path / "interlaced.png"
    with open(path, "wb") as f:
        png.Writer(w, h, greyscale=False, bitdepth=16, interlace=True).write(f, arr.reshape(h, -1))
    assert _png_header(path) == (16, 2) and path.read_bytes()[28] == 1  # Adam7
    assert np.array_equal(np.asarray(Image.open(path)), (arr >> 8).astype(np.uint8))
    img, alpha = load_image(path, return_alpha=True)
    assert img.shape == (3, h, w) and alpha is None
    assert np.array_equal(_unit_to_u16(img), arr)


def test_png16_transparent_colour_key(tmp_path: Path) -> None:
    h, w = 9, 7
    arr = RNG.integers(0, 65536, (h, w, 3)).astype(np.uint16)
    arr[0, 0] = (1, 2, 3)  # the transparent colour key
    path = tmp_path / "key.png"
    writer = png.Writer(w, h, greyscale=False, bitdepth=16, transparent=(1, 2, 3))
    with open(path, "wb") as f:
        writer.write(f, arr.reshape(h, -1))
    img, alpha = load_image(path, return_alpha=True)
    assert np.array_equal(_unit_to_u16(img), arr)
    assert alpha[0, 0, 0] == 0 and alpha.sum() == h * w - 1


def test_png16_exif_orientation(tmp_path: Path) -> None:
    # pypng ignores EXIF; the orientation is still read with Pillow and applied.
    h, w = 5, 8
    arr = RNG.integers(0, 65536, (h, w, 3)).astype(np.uint16)
    path = save_image(_chw(arr), tmp_path / "o16.png", bits=16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = path.read_bytes()
    path.write_bytes(data[:33] + _png_chunk(b"eXIf", exif.tobytes()) + data[33:])
    img = load_image(path)
    assert img.shape == (3, w, h)
    assert np.array_equal(_unit_to_u16(img), np.rot90(arr, k=-1))


def test_tiff_float_and_planar(tmp_path: Path) -> None:
    rgb = RNG.random((10, 12, 3), dtype=np.float32)
    tifffile.imwrite(
        tmp_path / "f.tif", rgb, photometric="rgb"
    )  # Pillow cannot open float RGB TIFF
    assert torch.allclose(load_image(tmp_path / "f.tif"), torch.from_numpy(rgb).permute(2, 0, 1))
    Image.fromarray(rgb[..., 0], mode="F").save(tmp_path / "g.tif")
    assert torch.allclose(load_image(tmp_path / "g.tif")[0], torch.from_numpy(rgb[..., 0]))
    planar = (rgb * 65535).astype(np.uint16)
    tifffile.imwrite(
        tmp_path / "p.tif", np.moveaxis(planar, -1, 0), planarconfig="separate", photometric="rgb"
    )
    assert torch.allclose(load_image(tmp_path / "p.tif"), _chw(planar))
    tifffile.imwrite(tmp_path / "big.tif", rgb * 255, photometric="rgb")
    _raises_one_line(
        r"big\.tif: floating-point image .* not in \[0, 1\]", load_image, tmp_path / "big.tif"
    )
    # A NaN or infinite sample is refused, not silently made black or white.
    rgb[2, 3, 1], rgb[5, 5, 0] = np.nan, np.inf
    tifffile.imwrite(tmp_path / "nan.tif", rgb, photometric="rgb")
    _raises_one_line(
        r"nan\.tif: 2 of 360 samples are NaN or infinite", load_image, tmp_path / "nan.tif"
    )


@pytest.mark.parametrize(
    ("ext", "tol"), [(".jpg", 0.06), (".jpeg", 0.06), (".bmp", 0), (".tif", 0), (".webp", 0)]
)
def test_other_formats_read(tmp_path: Path, ext: str, tol: float) -> None:
    arr = _rgb8()
    path = tmp_path / f"x{ext}"
    Image.fromarray(arr).save(path, **({"lossless": True} if ext == ".webp" else {}))
    img = load_image(path)
    assert img.dtype == torch.float32 and img.shape == (3, 48, 64)
    assert 0 <= img.min() and img.max() <= 1
    assert (img - _chw(arr)).abs().mean() <= tol + 1e-6
    gray = load_image(path, channels=1)
    assert gray.shape == (1, 48, 64)


def test_supported_read() -> None:
    assert SUPPORTED_READ == (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def test_rgba_alpha_dropped_not_composited(tmp_path: Path) -> None:
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # one fully transparent pixel, still red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.shape == (3, 4, 5)
    assert torch.allclose(img[0], torch.full((4, 5), 200 / 255))
    img2, alpha = load_image(tmp_path / "a.png", return_alpha=True)
    assert torch.equal(img2, img)
    assert alpha.shape == (1, 4, 5) and alpha.dtype == torch.float32
    assert alpha[0, 0, 0] == 0 and alpha.sum() == 19
    Image.fromarray(rgba[..., :3]).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png", return_alpha=True)[1] is None


def test_la_and_transparency_key(tmp_path: Path) -> None:
    la = np.stack([np.full((3, 4), 77, np.uint8), np.full((3, 4), 128, np.uint8)], -1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    img, alpha = load_image(tmp_path / "la.png", return_alpha=True)
    assert img.shape == (1, 3, 4) and torch.allclose(img, torch.full_like(img, 77 / 255))
    assert torch.allclose(alpha, torch.full((1, 3, 4), 128 / 255))
    gray = np.array([[0, 10], [20, 30]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "key.png", transparency=10)
    img, alpha = load_image(tmp_path / "key.png", return_alpha=True)
    assert img.shape == (1, 2, 2) and alpha.flatten().tolist() == [1, 0, 1, 1]


def test_palette_images(tmp_path: Path) -> None:
    arr = _rgb8(16, 16)
    pal = Image.fromarray(arr).quantize(8)
    pal.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    img, alpha = load_image(tmp_path / "p.png", return_alpha=True)
    assert img.shape == (3, 16, 16) and alpha is None
    assert torch.allclose(img, _chw(np.asarray(pal.convert("RGB"))))
    # A palette of grays reads as one channel.
    gray = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).convert("P")
    gray.putpalette([v for i in range(256) for v in (i, i, i)])
    gray.save(tmp_path / "pg.png")
    assert load_image(tmp_path / "pg.png").shape == (1, 8, 8)
    # Palette with a transparent entry gives an alpha channel.
    pal.save(tmp_path / "pt.png", transparency=0)
    _, alpha = load_image(tmp_path / "pt.png", return_alpha=True)
    idx = np.asarray(pal)
    assert np.array_equal(alpha[0].numpy() == 0, idx == 0)


def test_other_modes(tmp_path: Path) -> None:
    arr = _rgb8(8, 10)
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    assert load_image(tmp_path / "cmyk.jpg").shape == (3, 8, 10)
    Image.fromarray(arr[..., 0] > 128).save(tmp_path / "bw.png")
    bw = load_image(tmp_path / "bw.png")
    assert bw.shape == (1, 8, 10) and set(bw.unique().tolist()) <= {0.0, 1.0}
    g16 = RNG.integers(0, 65536, (8, 10)).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.tif")
    assert torch.allclose(load_image(tmp_path / "g16.tif"), _chw(g16))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    arr = _rgb8(6, 9)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    Image.fromarray(arr).save(path, exif=exif)
    expect = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert torch.equal(load_image(path), _chw(expect))


def test_exif_orientation_jpeg(tmp_path: Path) -> None:
    arr = _rgb8(30, 50)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=100)
    img = load_image(tmp_path / "r.jpg")
    assert img.shape == (3, 50, 30)
    rotated = _chw(np.ascontiguousarray(np.rot90(arr, k=-1)))
    assert (img - rotated).abs().mean() < 0.02


def test_channel_conversion(tmp_path: Path) -> None:
    arr = _rgb8()
    Image.fromarray(arr).save(tmp_path / "c.png")
    gray = load_image(tmp_path / "c.png", channels=1)
    pil_l = _chw(np.asarray(Image.fromarray(arr).convert("L")))
    assert gray.shape == (1, 48, 64)
    assert (gray - pil_l).abs().max() <= 1 / 255 + 1e-6
    assert load_image(tmp_path / "c.png", channels=3).shape == (3, 48, 64)
    Image.fromarray(arr[..., 1]).save(tmp_path / "g.png")
    rep = load_image(tmp_path / "g.png", channels=3)
    assert rep.shape == (3, 48, 64) and torch.equal(rep[0], rep[2])
    assert torch.equal(rep[1], _chw(arr[..., 1])[0])
    _raises_one_line("channels must be 1, 3 or None", load_image, tmp_path / "g.png", channels=2)


def test_read_errors(tmp_path: Path) -> None:
    _raises_one_line(r"nope\.png: no such file", load_image, tmp_path / "nope.png")
    _raises_one_line("is a directory", load_image, tmp_path)
    (tmp_path / "rand.png").write_bytes(RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _raises_one_line(r"rand\.png: cannot decode the image", load_image, tmp_path / "rand.png")
    (tmp_path / "text.jpg").write_text("this is not a picture\nsecond line\n")
    _raises_one_line(r"text\.jpg: cannot decode", load_image, tmp_path / "text.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    _raises_one_line(r"empty\.png: cannot decode", load_image, tmp_path / "empty.png")


def test_zero_size_png(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 0, 5, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    (tmp_path / "zero.png").write_bytes(png)
    _raises_one_line(r"zero\.png: ", load_image, tmp_path / "zero.png")


@pytest.mark.parametrize("bits", [8, 16])
def test_truncated_png(tmp_path: Path, bits: int) -> None:
    path = save_image(_chw(_rgb8()), tmp_path / "t.png", bits=bits)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _raises_one_line(r"t\.png: cannot decode the image.*truncated", load_image, path)


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = save_image(torch.rand(1, 4, 4), tmp_path / "locked.png")
    path.chmod(0)
    _raises_one_line("permission denied", load_image, path)


def test_unreadable_file_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too: simulate what a chmod 000 file gives an ordinary user.
    path = save_image(torch.rand(1, 4, 4), tmp_path / "locked.png")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", denied)
    _raises_one_line(r"locked\.png: permission denied", load_image, path)


def test_a_multi_frame_file_gives_its_first_frame_with_a_warning(tmp_path: Path) -> None:
    import warnings

    from deepprior.errors import DeepPriorWarning

    frames = [Image.new("RGB", (8, 6), (60 * i, 0, 120)) for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(path)
    assert img.shape == (3, 6, 8) and float(img[0].max()) == 0.0  # the first frame: no red
    msgs = [str(w.message) for w in caught if w.category is DeepPriorWarning]
    assert len(msgs) == 1 and "anim.gif: has 3 frames" in msgs[0] and "\n" not in msgs[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Image.fromarray(_rgb8()).save(tmp_path / "one.png")
        load_image(tmp_path / "one.png")
    assert not [w for w in caught if w.category is DeepPriorWarning]  # one frame: no warning
    mpo = tmp_path / "camera.mpo"  # a camera's JPEG: the photo, then a preview
    frames[0].save(mpo, save_all=True, append_images=frames[1:2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_image(mpo).shape == (3, 6, 8)
    assert not [w for w in caught if w.category is DeepPriorWarning]
