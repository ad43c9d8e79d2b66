"""Tests for deepprior.io: reading, writing, masks and output-path checks."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageOps
from skimage import data as skdata

from deepprior import io as dio
from deepprior.errors import DeepPriorError
from deepprior.io import (
    SUPPORTED_READ,
    atomic_write_text,
    check_mask,
    check_output_path,
    load_image,
    load_mask,
    read_icc_profile,
    save_image,
    to_uint8,
)

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


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


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


def _png16_info(path: Path) -> dict:
    """pypng's view of a PNG: checks the file is valid and gives its bit depth and planes."""
    _, _, rows, info = png.Reader(bytes=path.read_bytes()).read()
    list(rows)  # decode everything
    return info


def _unit_to_u16(t: torch.Tensor) -> np.ndarray:
    """float (C, H, W) in [0, 1] -> exact uint16-valued float64 (H, W, C)."""
    return np.round(t.permute(1, 2, 0).numpy().astype(np.float64) * 65535)


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


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".tif", ".webp"])
def test_save_other_formats(tmp_path: Path, ext: str) -> None:
    img = _chw(_rgb8())
    path = save_image(img, tmp_path / f"out{ext}")
    back = load_image(path)
    assert back.shape == img.shape
    assert (back - img).abs().mean() < (0.03 if ext == ".jpg" else 1e-6)


def test_supported_read() -> None:
    assert SUPPORTED_READ == (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


# --------------------------------------------------------------------------------------------
# Modes, alpha, palette, EXIF, channel conversion
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Read errors
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Output paths
# --------------------------------------------------------------------------------------------


def test_check_output_path_ok(tmp_path: Path) -> None:
    inp = save_image(torch.rand(3, 4, 4), tmp_path / "in.png")
    out = check_output_path(str(tmp_path / "out.png"), [inp, None])
    assert out == tmp_path / "out.png" and isinstance(out, Path)
    assert check_output_path(inp, [tmp_path / "other.png"]) == inp  # overwriting is allowed
    _raises_one_line("already exists", check_output_path, inp, (), overwrite=False)


def test_check_output_path_refuses_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    inp = save_image(torch.rand(3, 4, 4), tmp_path / "in.png")
    _raises_one_line(
        "refusing to overwrite the input .*choose another output path",
        check_output_path,
        inp,
        [inp],
    )
    monkeypatch.chdir(tmp_path)
    _raises_one_line("refusing to overwrite the input", check_output_path, "sub/../in.png", [inp])
    _raises_one_line("refusing to overwrite the input", check_output_path, "./in.png", ["in.png"])
    (tmp_path / "link.png").symlink_to(inp)
    _raises_one_line("refusing to overwrite the input", check_output_path, "link.png", [inp])
    os.link(inp, tmp_path / "hard.png")
    _raises_one_line("refusing to overwrite the input", check_output_path, "hard.png", [inp])
    # An input that does not exist yet is compared by resolved path.
    _raises_one_line(
        "refusing to overwrite the input",
        check_output_path,
        "sub/../new.png",
        [tmp_path / "new.png"],
    )


def test_check_output_path_errors(tmp_path: Path) -> None:
    _raises_one_line(
        r"directory .*missing does not exist", check_output_path, tmp_path / "missing" / "x.png"
    )
    (tmp_path / "afile.txt").write_text("x")
    _raises_one_line(
        r"afile\.txt is not a directory", check_output_path, tmp_path / "afile.txt" / "out.png"
    )
    _raises_one_line(
        r"unsupported extension '\.gif'; use one of \.png, \.jpg",
        check_output_path,
        tmp_path / "x.gif",
    )
    _raises_one_line(r"unsupported extension \(none\)", check_output_path, tmp_path / "x")
    _raises_one_line("it is a directory", check_output_path, tmp_path)
    assert check_output_path(tmp_path / "UPPER.PNG") == tmp_path / "UPPER.PNG"


def test_check_output_path_unwritable_dir(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _raises_one_line("is not writable", check_output_path, ro / "x.png")
        _raises_one_line("is not writable", save_image, torch.rand(1, 2, 2), ro / "x.png")
    finally:
        ro.chmod(0o700)


def test_unwritable_dir_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too: os.access is what decides.
    monkeypatch.setattr(dio.os, "access", lambda path, mode: False)
    msg = _raises_one_line(r"directory .* is not writable", check_output_path, tmp_path / "x.png")
    out = tmp_path / "x.png"
    assert (
        msg
        == f"cannot write {out}: directory {tmp_path} is not writable; choose another output path"
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("failure", [OSError("disk full"), RuntimeError("encoder bug")])
def test_save_image_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"original content")

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise failure

    monkeypatch.setattr(Image.Image, "save", broken_save)
    expected = DeepPriorError if isinstance(failure, OSError) else RuntimeError
    with pytest.raises(expected) as info:
        save_image(torch.rand(3, 8, 8), target)
    if expected is DeepPriorError:
        assert "cannot write" in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"original content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_save_image_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_image(torch.rand(1, 4, 4), tmp_path / "new.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    save_image(torch.rand(1, 4, 4), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["new.png"]


def test_atomic_write_text(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    atomic_write_text(path, '{"psnr": 30.5, "name": "caf\u00e9"}\n')
    atomic_write_text(path, '{"psnr": 31.0}\n')
    assert path.read_text(encoding="utf-8") == '{"psnr": 31.0}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    _raises_one_line("does not exist", atomic_write_text, tmp_path / "no" / "r.json", "{}")


# --- colour profiles --------------------------------------------------------------------------


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
