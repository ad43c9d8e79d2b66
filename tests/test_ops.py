"""Tests for deepprior.ops: the Lanczos2 kernel, operators, degradations, masks, TV."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from deepprior.errors import DeepPriorError
from deepprior.ops import (
    Downsample,
    Identity,
    Mask,
    add_gaussian_noise,
    bernoulli_mask,
    box_mask,
    crop_to_multiple,
    downscale,
    jpeg_compress,
    lanczos2_kernel_1d,
    lanczos2_kernel_2d,
    text_mask,
    total_variation,
    upscale,
)

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 10 * math.log10(1.0 / mse)


def to_chw(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(img.astype(np.float32) / 255.0)
    return x.permute(2, 0, 1).contiguous() if x.dim() == 3 else x[None]


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return to_chw(skimage.data.astronaut())  # (3, 512, 512)


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    return to_chw(skimage.data.camera())  # (1, 512, 512)


# ---------------------------------------------------------------- Lanczos2 kernel


def lanczos2_formula(u: float) -> float:
    """L(u) = sinc(u) sinc(u/2), |u| < 2, written out independently of the package."""
    if abs(u) >= 2:
        return 0.0
    if u == 0:
        return 1.0
    return (math.sin(math.pi * u) / (math.pi * u)) * (math.sin(math.pi * u / 2) / (math.pi * u / 2))


@pytest.mark.parametrize("t", [1, 2, 3, 4, 8])
def test_lanczos_1d_formula(t: int) -> None:
    k = lanczos2_kernel_1d(t)
    assert k.dtype == torch.float64
    assert k.shape == (4 * t,)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(k, k.flip(0))
    distances = [-(2 * t - 0.5) + i for i in range(4 * t)]  # -2t+0.5 ... 2t-0.5
    raw = [lanczos2_formula(d / t) for d in distances]
    expected = torch.tensor(raw, dtype=torch.float64) / sum(raw)
    torch.testing.assert_close(k, expected, rtol=0, atol=1e-14)
    # The two middle taps are the largest; the kernel has negative lobes.
    assert int(k.argmax()) in (2 * t - 1, 2 * t)
    assert float(k.min()) < 0


@pytest.mark.parametrize("t", [2, 4, 8])
def test_lanczos_2d_is_outer_product(t: int) -> None:
    k2 = lanczos2_kernel_2d(t)
    k1 = lanczos2_kernel_1d(t)
    assert k2.shape == (4 * t, 4 * t)
    torch.testing.assert_close(k2, k1[:, None] * k1[None, :], rtol=0, atol=0)
    assert float(k2.sum()) == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(k2, k2.T)


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason="shared/reference not available")
@pytest.mark.parametrize("t", [2, 4, 8])
def test_lanczos_2d_matches_reference(t: int) -> None:
    path = REFERENCE_DIR / f"lanczos2_x{t}.txt"
    ref = np.loadtxt(path, comments="#")
    assert ref.shape == (4 * t, 4 * t)
    np.testing.assert_allclose(lanczos2_kernel_2d(t).numpy(), ref, rtol=0, atol=1e-8)


def test_lanczos_bad_factor() -> None:
    with pytest.raises(DeepPriorError):
        lanczos2_kernel_1d(0)
    with pytest.raises(DeepPriorError):
        lanczos2_kernel_1d(2.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- operators


def test_identity() -> None:
    x = torch.rand(2, 3, 5, 7)
    assert torch.equal(Identity()(x), x)


@pytest.mark.parametrize("kernel", ["lanczos2", "bicubic", "box"])
@pytest.mark.parametrize("t", [2, 4, 8])
@pytest.mark.parametrize("c", [1, 3])
def test_downsample_shape_and_constant(kernel: str, t: int, c: int) -> None:
    op = Downsample(t, kernel)
    h, w = 5, 7
    x = torch.rand(2, c, t * h, t * w)
    assert op(x).shape == (2, c, h, w)
    const = torch.full((1, c, t * h, t * w), 0.37)
    torch.testing.assert_close(op(const), torch.full((1, c, h, w), 0.37), rtol=0, atol=1e-6)


def test_downsample_channels_independent() -> None:
    op = Downsample(4)
    x = torch.rand(1, 3, 32, 48)
    y = op(x)
    for ch in range(3):
        torch.testing.assert_close(y[:, ch : ch + 1], op(x[:, ch : ch + 1]))


def test_downsample_gradient_and_dtypes() -> None:
    op = Downsample(4)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss = op(x).square().sum()
    loss.backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert float(x.grad.abs().sum()) > 0
    # float64 input works (buffer cast on the fly) and agrees with float32.
    x64 = x.detach().double()
    y64 = op(x64)
    assert y64.dtype == torch.float64
    torch.testing.assert_close(y64.float(), op(x.detach()), rtol=0, atol=1e-6)


def test_downsample_is_linear_and_matches_direct_2d_conv() -> None:
    t = 2
    op = Downsample(t)
    x = torch.rand(1, 1, 16, 24, dtype=torch.float64)
    p = 3 * t // 2
    ref = F.conv2d(
        F.pad(x, (p, p, p, p), mode="replicate"), lanczos2_kernel_2d(t)[None, None], stride=t
    )
    torch.testing.assert_close(op(x), ref, rtol=0, atol=1e-12)


def _half_pixel_shifted_lanczos(x: torch.Tensor, t: int) -> torch.Tensor:
    """The notebooks' bug: a (4t+1)-tap kernel centred on a pixel, trimmed to 4t taps."""
    n = 4 * t + 1
    d = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    k = torch.tensor([lanczos2_formula(float(v) / t) for v in d], dtype=torch.float64)[:-1]
    k = (k / k.sum()).float()
    p = 3 * t // 2
    w = torch.outer(k, k)[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (p, p, p, p), mode="replicate"), w, stride=t, groups=x.shape[1])


@pytest.mark.parametrize(("t", "min_psnr"), [(2, 42.0), (4, 40.0), (8, 37.0)])
def test_downsample_aligned_with_pil_lanczos(
    astronaut: torch.Tensor, t: int, min_psnr: float
) -> None:
    ours = Downsample(t)(astronaut[None])[0]
    pil = downscale(astronaut, t, "lanczos")  # PIL Lanczos-3, the authors' LR protocol
    good = psnr(ours, pil)
    assert good > min_psnr
    # Control: a half-pixel shift (asymmetric kernel) is clearly worse.
    shifted = _half_pixel_shifted_lanczos(astronaut[None], t)[0]
    assert psnr(shifted, pil) < good - 3.0


def test_downsample_errors() -> None:
    with pytest.raises(DeepPriorError, match="2, 4, 8"):
        Downsample(3)
    with pytest.raises(DeepPriorError):
        Downsample(1, "bicubic")
    with pytest.raises(DeepPriorError):
        Downsample(2, "gaussian")
    Downsample(3, "bicubic")  # any integer factor >= 2 with bicubic
    with pytest.raises(DeepPriorError, match="divisible"):
        Downsample(4)(torch.rand(1, 3, 30, 32))
    with pytest.raises(DeepPriorError):
        Downsample(2)(torch.rand(3, 32, 32))  # not a batch


# ---------------------------------------------------------------- mask operator


@pytest.mark.parametrize("shape", [(6, 8), (1, 6, 8), (1, 1, 6, 8)])
def test_mask_operator(shape: tuple[int, ...]) -> None:
    m2 = (torch.arange(48).reshape(6, 8) % 3 != 0).float()
    op = Mask(m2.reshape(shape))
    x = torch.rand(2, 3, 6, 8) + 0.1
    y = op(x)
    assert y.shape == x.shape
    unknown = m2 == 0
    assert torch.all(y[:, :, unknown] == 0)
    torch.testing.assert_close(y[:, :, ~unknown], x[:, :, ~unknown])
    assert op(x.double()).dtype == torch.float64
    xg = x.clone().requires_grad_(True)
    op(xg).sum().backward()
    assert xg.grad is not None
    torch.testing.assert_close(xg.grad, m2.expand_as(x))


def test_mask_operator_errors() -> None:
    op = Mask(torch.ones(1, 6, 8))
    with pytest.raises(DeepPriorError):
        op(torch.rand(1, 3, 6, 9))
    with pytest.raises(DeepPriorError):
        Mask(torch.ones(2, 1, 6, 8))


# ---------------------------------------------------------------- degradations


def test_gaussian_noise() -> None:
    img = torch.full((3, 128, 128), 0.5)
    sigma = 25 / 255
    a = add_gaussian_noise(img, sigma, seed=3)
    b = add_gaussian_noise(img, sigma, seed=3)
    c = add_gaussian_noise(img, sigma, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == img.shape and a.dtype == img.dtype
    assert float((a - img).std()) == pytest.approx(sigma, rel=0.03)
    assert float((a - img).mean()) == pytest.approx(0.0, abs=3e-3)
    # Clipping on a bright image; no clipping when asked.
    bright = torch.full((1, 64, 64), 0.95)
    clipped = add_gaussian_noise(bright, 0.2, seed=0)
    assert float(clipped.max()) <= 1.0 and float(clipped.min()) >= 0.0
    assert float(add_gaussian_noise(bright, 0.2, seed=0, clip=False).max()) > 1.0
    with pytest.raises(DeepPriorError):
        add_gaussian_noise(img, 25)


def test_jpeg(astronaut: torch.Tensor, camera: torch.Tensor) -> None:
    for img in (astronaut, camera):
        out = jpeg_compress(img, 50)
        assert out.shape == img.shape and out.dtype == img.dtype
        assert not torch.equal(out, img)
        assert 25.0 < psnr(out, img) < 45.0
    assert psnr(jpeg_compress(camera, 10), camera) < psnr(jpeg_compress(camera, 90), camera)
    for q in (0, 101, 50.5):
        with pytest.raises(DeepPriorError):
            jpeg_compress(camera, q)  # type: ignore[arg-type]


def test_downscale_upscale(astronaut: torch.Tensor) -> None:
    lr = downscale(astronaut, 4)
    assert lr.shape == (3, 128, 128)
    assert float(lr.min()) >= 0.0 and float(lr.max()) <= 1.0
    assert downscale(astronaut, 2, "bicubic").shape == (3, 256, 256)
    sr = upscale(lr, 4)
    assert sr.shape == astronaut.shape
    assert float(sr.min()) >= 0.0 and float(sr.max()) <= 1.0
    assert psnr(sr, astronaut) > 20.0
    assert upscale(lr, 4, "lanczos").shape == astronaut.shape
    # Float-mode resize: no 8-bit quantisation of the result.
    vals = (lr * 255).flatten()
    assert float((vals - vals.round()).abs().max()) > 1e-3
    with pytest.raises(DeepPriorError, match="crop"):
        downscale(astronaut[:, :510, :], 4)
    with pytest.raises(DeepPriorError):
        downscale(astronaut, 4, "spline")


def test_crop_to_multiple() -> None:
    img = torch.rand(3, 37, 50)
    out = crop_to_multiple(img, 8)
    assert out.shape == (3, 32, 48)
    assert torch.equal(out, img[:, :32, :48])
    assert crop_to_multiple(img[:, :32, :48], 8).shape == (3, 32, 48)


# ---------------------------------------------------------------- masks


def test_bernoulli_mask() -> None:
    m = bernoulli_mask((256, 256), 0.5, seed=1)
    assert m.shape == (1, 256, 256) and m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    assert float(m.mean()) == pytest.approx(0.5, abs=0.02)
    assert float(bernoulli_mask((256, 256), 0.2, seed=1).mean()) == pytest.approx(0.2, abs=0.02)
    assert torch.equal(m, bernoulli_mask((256, 256), 0.5, seed=1))
    assert not torch.equal(m, bernoulli_mask((256, 256), 0.5, seed=2))
    for p in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(DeepPriorError):
            bernoulli_mask((8, 8), p)


@pytest.mark.parametrize("size", [(64, 64), (256, 256), (512, 384)])
def test_text_mask(size: tuple[int, int]) -> None:
    m = text_mask(size, seed=0)
    assert m.shape == (1, *size) and m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
    unknown = 1.0 - float(m.mean())
    assert 0.03 < unknown < 0.25
    assert torch.equal(m, text_mask(size, seed=0))
    # The text is spread over the image, not in one corner.
    h = size[0]
    assert float(m[:, : h // 2].mean()) < 1.0 and float(m[:, h // 2 :].mean()) < 1.0


def test_text_mask_custom_text() -> None:
    m = text_mask((128, 128), text="Hello world", font_size=12, seed=5)
    assert 0.03 < 1.0 - float(m.mean()) < 0.25


@pytest.mark.parametrize("frac", [0.1, 0.25, 0.5])
def test_box_mask(frac: float) -> None:
    m = box_mask((200, 300), frac=frac)
    assert m.shape == (1, 200, 300)
    assert 1.0 - float(m.mean()) == pytest.approx(frac, abs=0.01)
    # Centred: the hole contains the centre, and is symmetric.
    assert float(m[0, 100, 150]) == 0.0
    assert torch.equal(m, m.flip(-1)) and torch.equal(m, m.flip(-2))
    r = box_mask((200, 300), frac=frac, seed=7)
    assert 1.0 - float(r.mean()) == pytest.approx(frac, abs=0.01)
    assert torch.equal(r, box_mask((200, 300), frac=frac, seed=7))
    with pytest.raises(DeepPriorError):
        box_mask((10, 10), frac=1.0)


# ---------------------------------------------------------------- TV


def test_total_variation(camera: torch.Tensor) -> None:
    const = torch.full((2, 3, 32, 32), 0.4)
    assert float(total_variation(const)) == 0.0
    smooth = camera[None]
    noise = torch.rand_like(smooth, generator=torch.Generator().manual_seed(0))
    assert float(total_variation(noise)) > 3 * float(total_variation(smooth))
    # Known value: a vertical step of height 1 in a 4x4 image: 4 jumps / 16 px.
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 1.0
    assert float(total_variation(step)) == pytest.approx(4 / 16)
    x = noise.clone().requires_grad_(True)
    total_variation(x).backward()
    assert x.grad is not None


# --- colour post-filter ------------------------------------------------------------------


def _opponent(x: torch.Tensor) -> torch.Tensor:
    from deepprior.ops.color import OPPONENT

    return torch.einsum("ij,jhw->ihw", OPPONENT, x)


def test_chroma_guided_averages_chroma_noise_and_keeps_the_luma():
    from deepprior.ops import chroma_guided
    from deepprior.ops.color import OPPONENT

    flat = torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1).expand(3, 64, 64)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(2, 64, 64, generator=g) * 0.03  # chroma only: luma is left exact
    noisy = flat + torch.einsum("ji,jhw->ihw", OPPONENT[1:], noise)
    out = chroma_guided(noisy)
    assert torch.allclose(_opponent(out)[0], _opponent(noisy)[0], atol=1e-5)
    err_in = (_opponent(noisy)[1:] - _opponent(flat)[1:]).pow(2).mean()
    err_out = (_opponent(out)[1:] - _opponent(flat)[1:]).pow(2).mean()
    assert err_out < err_in / 4  # 3x3 windows average about 9 noisy samples


def test_chroma_guided_keeps_chroma_that_follows_the_luma():
    # A colour ramp: the chroma is an affine function of the luma, the guided filter's model.
    from deepprior.ops import chroma_guided

    ramp = torch.linspace(0.1, 0.9, 48).view(1, 1, 48).expand(1, 48, 48)
    img = torch.cat([ramp, 0.8 * ramp + 0.05, 0.3 * ramp + 0.2])
    assert torch.allclose(chroma_guided(img, eps=1e-6), img, atol=2e-3)


# --- Wiener post-filter --------------------------------------------------------------------


def test_dct_wiener_of_one_patch_is_the_shrinkage_formula():
    """An 8×8 image is one patch: each opponent channel's DCT coefficients are scaled by
    P² / (P² + σ²), P the pilot's, and transformed back."""
    from deepprior.ops import dct_wiener
    from deepprior.ops.color import OPPONENT
    from deepprior.ops.wiener import dct_matrix

    g = torch.Generator().manual_seed(0)
    noisy, pilot = torch.rand(3, 8, 8, generator=g), torch.rand(3, 8, 8, generator=g) * 0.8
    sigma = 0.2
    d = dct_matrix(8)
    y = d @ _opponent(noisy) @ d.T
    p = d @ _opponent(pilot) @ d.T
    expected = d.T @ (p.square() / (p.square() + sigma**2) * y) @ d
    expected = torch.einsum("ji,jhw->ihw", OPPONENT, expected).clamp(0, 1)
    assert torch.allclose(dct_wiener(noisy, pilot, sigma), expected, atol=1e-5)


def test_dct_wiener_without_noise_returns_the_data_and_bands_do_not_show():
    from deepprior.ops import dct_wiener
    from deepprior.ops import wiener as wiener_mod

    g = torch.Generator().manual_seed(1)
    data = torch.rand(3, 40, 56, generator=g)
    pilot = torch.rand(3, 40, 56, generator=g)
    # Every coefficient kept: the overlapping patches put the data back together exactly.
    assert torch.allclose(dct_wiener(data, pilot, 1e-8), data, atol=1e-4)
    whole = dct_wiener(data, pilot, 0.1)
    old = wiener_mod._BAND_POSITIONS
    wiener_mod._BAND_POSITIONS = 49 * 3  # three patch rows per band
    try:
        assert torch.allclose(dct_wiener(data, pilot, 0.1), whole, atol=1e-5)
    finally:
        wiener_mod._BAND_POSITIONS = old


def test_dct_wiener_brings_back_the_detail_a_smooth_pilot_lost():
    from deepprior.ops import add_gaussian_noise, dct_wiener

    clean = torch.from_numpy(skimage.data.astronaut()[100:196, 180:276].copy())
    clean = clean.permute(2, 0, 1).float() / 255
    noisy = add_gaussian_noise(clean, 25 / 255, seed=3)
    smooth = F.avg_pool2d(F.pad(clean[None], (1, 1, 1, 1), mode="reflect"), 3, stride=1)[0]
    out = dct_wiener(noisy, smooth, 25 / 255)
    assert psnr(out, clean) > psnr(smooth, clean) + 0.4  # 29.5 -> 30.2 dB
    with pytest.raises(ValueError, match="smaller than the 8 px patches"):
        dct_wiener(noisy[:, :6, :6], smooth[:, :6, :6], 0.1)
