"""Tests for deepprior.io.encode: writing each format and bit depth, clamping and ICC profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from skimage import data as skdata

from deepprior.io import load_image, read_icc_profile, save_image, to_uint8

from ._helpers import _chw, _png16_info, _png_header, _raises_one_line, _rgb8, _unit_to_u16


def test_png_8bit_rgb_round_trip(tmp_path: Path) -> None:
    astro = skdata.astronaut()
    img = _chw(astro)
    out = save_image(img, tmp_path / "astro.png")
    assert out == tmp_path / "astro.png"
    assert _png_header(out) == (8, 2)
    back = load_image(out)
    assert back.dtype == torch.float32 and back.shape == (3, 512, 512)
    assert torch.allclose(back, img, atol=1 / 255)
    assert np.array_equal(np.asarray(Image.open(out)), astro)


def test_png_8bit_gray_round_trip(tmp_path: Path) -> None:
    cam = skdata.camera()[::4, ::4]
    img = _chw(cam)
    save_image(img, tmp_path / "cam.png")
    assert Image.open(tmp_path / "cam.png").mode == "L"
    back = load_image(tmp_path / "cam.png")
    assert back.shape == (1, 128, 128)
    assert torch.allclose(back, img, atol=1 / 255)


def test_png_16bit_gray_round_trip(tmp_path: Path) -> None:
    img = torch.rand(1, 40, 50)
    path = save_image(img, tmp_path / "g16.png", bits=16)
    assert _png_header(path) == (16, 0)
    assert Image.open(path).mode.startswith("I;16")
    back = load_image(path)
    assert back.shape == (1, 40, 50)
    assert torch.allclose(back, img, atol=2 / 65535)


def test_png_16bit_rgb_round_trip(tmp_path: Path) -> None:
    img = torch.rand(3, 40, 50)
    path = save_image(img[None], tmp_path / "c16.png", bits=16)
    assert _png_header(path) == (16, 2)
    info = _png16_info(path)
    assert info["bitdepth"] == 16 and info["planes"] == 3 and not info["alpha"]
    back = load_image(path)
    assert back.shape == (3, 40, 50)
    assert torch.allclose(back, img, atol=2 / 65535)
    # More precision than 8 bits really survived.
    assert (back - torch.round(back * 255) / 255).abs().max() > 1 / 1024
    # Pillow (which reads only the high byte) agrees with what was written.
    expect = np.round(img.permute(1, 2, 0).numpy().astype(np.float64) * 65535).astype(np.uint16)
    assert np.array_equal(np.asarray(Image.open(path)), (expect >> 8).astype(np.uint8))
    assert np.array_equal(_unit_to_u16(back), expect)


def test_tiff_16bit_round_trip(tmp_path: Path) -> None:
    rgb = torch.rand(3, 20, 30)
    path = save_image(rgb, tmp_path / "c16.tif", bits=16)
    raw = tifffile.imread(path)
    assert raw.dtype == np.uint16 and raw.shape == (20, 30, 3)
    assert torch.allclose(load_image(path), rgb, atol=2 / 65535)
    gray = torch.rand(1, 20, 30)
    path = save_image(gray, tmp_path / "g16.tiff", bits=16)
    assert tifffile.imread(path).dtype == np.uint16
    assert torch.allclose(load_image(path), gray, atol=2 / 65535)


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".tif", ".webp"])
def test_save_other_formats(tmp_path: Path, ext: str) -> None:
    img = _chw(_rgb8())
    path = save_image(img, tmp_path / f"out{ext}")
    back = load_image(path)
    assert back.shape == img.shape
    assert (back - img).abs().mean() < (0.03 if ext == ".jpg" else 1e-6)


def test_save_image_errors(tmp_path: Path) -> None:
    img = torch.rand(3, 4, 4)
    _raises_one_line("bits must be 8 or 16", save_image, img, tmp_path / "x.png", bits=12)
    _raises_one_line("unsupported extension", save_image, img, tmp_path / "x.gif")
    _raises_one_line("16-bit output needs", save_image, img, tmp_path / "x.jpg", bits=16)
    _raises_one_line("does not exist", save_image, img, tmp_path / "no" / "x.png")
    (tmp_path / "f.txt").write_text("x")
    _raises_one_line("is not a directory", save_image, img, tmp_path / "f.txt" / "y.png")
    _raises_one_line("expected .*C = 1 or 3", save_image, torch.rand(2, 4, 4), tmp_path / "x.png")
    (tmp_path / "d.png").mkdir()
    _raises_one_line("it is a directory", save_image, img, tmp_path / "d.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "f.txt"]


def test_save_image_clamps_and_nan(tmp_path: Path) -> None:
    img = torch.tensor([[[float("nan"), -1.0, 0.5, 2.0]]])
    save_image(img[None], tmp_path / "n.png")
    assert np.asarray(Image.open(tmp_path / "n.png")).tolist() == [[0, 0, 128, 255]]
    assert to_uint8(img).tolist() == [[0, 0, 128, 255]]
    rgb = to_uint8(torch.rand(1, 3, 5, 6))
    assert rgb.dtype == np.uint8 and rgb.shape == (5, 6, 3)


def _icc(space: str) -> bytes:
    from PIL import ImageCms

    prof = ImageCms.createProfile("sRGB") if space == "RGB" else ImageCms.createProfile("LAB")
    data = ImageCms.ImageCmsProfile(prof).tobytes()
    return data if space == "RGB" else data[:16] + b"GRAY" + data[20:]


@pytest.mark.parametrize(
    ("name", "bits"),
    [("o.png", 8), ("o.png", 16), ("o.jpg", 8), ("o.tif", 8), ("o.tif", 16), ("o.webp", 8)],
)
def test_the_icc_profile_is_embedded(tmp_path, name, bits):
    icc = _icc("RGB")
    img = torch.rand(3, 12, 20)
    p = save_image(img, tmp_path / name, bits=bits, icc_profile=icc)
    assert read_icc_profile(p) == icc
    if name != "o.jpg":  # lossless: the pixels are unchanged by the extra chunk / tag
        assert torch.allclose(load_image(p), img, atol=0.5 / (2**bits - 1) + 1e-6)


def test_an_icc_profile_of_another_colour_space_is_left_out(tmp_path):
    rgb, gray = _icc("RGB"), _icc("GRAY")
    assert read_icc_profile(save_image(torch.rand(1, 8, 8), tmp_path / "g1.png",
                                       icc_profile=gray)) == gray  # fmt: skip
    assert read_icc_profile(save_image(torch.rand(3, 8, 8), tmp_path / "c1.png",
                                       icc_profile=gray)) is None  # fmt: skip
    assert read_icc_profile(save_image(torch.rand(1, 8, 8), tmp_path / "g.png",
                                       icc_profile=rgb)) is None  # fmt: skip
    assert read_icc_profile(save_image(torch.rand(3, 8, 8), tmp_path / "c.bmp",
                                       icc_profile=rgb)) is None  # fmt: skip
    assert read_icc_profile(tmp_path / "missing.png") is None
    (tmp_path / "t.png").write_text("not an image")
    assert read_icc_profile(tmp_path / "t.png") is None


def test_jpeg_compress_quantizes_like_save_image() -> None:
    # ops.jpeg_compress encodes through io.to_uint8: clamped, NaN -> 0, rounded half to even.
    from deepprior.ops import jpeg_compress

    values = [float("nan"), -1.0, 0.5, 2.0, 100.4 / 255]
    for v in values:
        flat = torch.full((1, 8, 8), v)
        expect = to_uint8(flat)[0, 0] / 255.0
        out = jpeg_compress(flat, 100)  # a flat block survives JPEG at quality 100 exactly
        assert torch.allclose(out, torch.full_like(out, float(expect)), atol=1e-6), v
    assert to_uint8(torch.full((1, 1, 1), 100.4 / 255))[0, 0] == 100
