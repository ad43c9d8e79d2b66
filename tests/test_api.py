"""The Python API as a user of NumPy/PIL meets it: array results, typed keywords, ranges."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import deepprior
from deepprior.errors import DeepPriorError


@pytest.fixture(scope="module")
def result(photo) -> deepprior.Result:
    torch.manual_seed(0)
    return deepprior.denoise(photo, iters=3, progress=False,
                             net_kwargs={"n_d": [8, 8], "n_s": 2, "depth": 2})  # fmt: skip


def test_numpy_is_hwc_float_in_unit_range_and_matches_the_tensor(result):
    arr = result.numpy()
    assert arr.shape == (64, 64, 3) and arr.dtype == np.float32
    assert 0 <= arr.min() and arr.max() <= 1
    np.testing.assert_array_equal(arr, result.image.permute(1, 2, 0).numpy())
    arr[:] = 0  # a copy: the tensor is kept as it was
    assert result.image.abs().sum() > 0


def test_pil_is_the_8_bit_rounding_of_the_image(result):
    img = result.pil()
    assert img.mode == "RGB" and img.size == (64, 64)
    expected = np.round(result.numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(img), expected)


def test_gray_result_gives_an_L_image(gray_photo):
    res = deepprior.Result(image=gray_photo, last=gray_photo, ema=None)
    assert res.pil().mode == "L" and res.numpy().shape == (64, 64, 1)


@pytest.mark.parametrize("kind", ["array HWC", "tensor CHW"])
def test_float_image_in_0_255_is_refused_not_clamped(photo, kind):
    img = photo.permute(1, 2, 0).numpy() * 255 if kind == "array HWC" else photo * 255
    with pytest.raises(DeepPriorError, match=r"up to 2\d\d.*0-255 image: divide it by 255"):
        deepprior.denoise(img, iters=1, progress=False)


def test_uint8_and_slightly_noisy_floats_are_accepted():
    from deepprior.tasks import as_image

    arr = np.full((4, 4, 3), 255, np.uint8)
    assert torch.equal(as_image(arr), torch.ones(3, 4, 4))
    noisy = torch.full((3, 4, 4), 1.3)  # noise overshoots [0, 1]: clamped, as before
    assert float(as_image(noisy).max()) == 1.0


TASKS = [deepprior.denoise, deepprior.jpeg, deepprior.sr, deepprior.inpaint, deepprior.restore,
         deepprior.deblur, deepprior.enhance, deepprior.flash, deepprior.solve]  # fmt: skip


@pytest.mark.parametrize("fn", TASKS, ids=lambda f: f.__name__)
def test_task_functions_have_explicit_typed_keywords(fn):
    params = inspect.signature(fn).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), fn.__name__
    for name in ("iters", "lr", "seed", "device", "precision", "gt", "progress", "callbacks"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].annotation is not inspect.Parameter.empty, name
        assert f"{name}:" in (fn.__doc__ or ""), f"{fn.__name__} does not document {name}"


def test_an_unknown_keyword_is_still_a_type_error(photo):
    with pytest.raises(TypeError, match="itres"):
        deepprior.denoise(photo, itres=3)


def test_the_package_ships_its_type_hints():
    from importlib.resources import files

    assert files("deepprior").joinpath("py.typed").is_file()


def test_a_fit_started_from_another_fits_weights_starts_where_that_one_ended(photo, tiny):
    noisy = deepprior.ops.add_gaussian_noise(photo, 25 / 255, seed=0)
    kw = {**tiny, "preset": "fast", "progress": False}
    done = deepprior.denoise(noisy, iters=80, **kw)
    assert done.weights is not None and all(t.device.type == "cpu" for t in done.weights.values())
    cold = deepprior.denoise(noisy, iters=2, **kw)
    warm = deepprior.denoise(noisy, iters=2, init_weights=done.weights, **kw)
    end, first_cold, first_warm = (done.history["loss"][-1], cold.history["loss"][0],
                                   warm.history["loss"][0])  # fmt: skip
    # same seed, so the same z: the warm fit's first loss is the finished fit's last one
    # (up to the input noise of that step), far below a random net's
    assert first_warm < 1.5 * end and first_cold > 2 * first_warm, (end, first_cold, first_warm)
    other = deepprior.denoise(noisy, iters=2, **{**kw, "net_kwargs": {"n_d": [4, 4], "n_s": 1}})
    with pytest.raises(DeepPriorError, match="init_weights are not those of this fit's") as e:
        deepprior.denoise(noisy, iters=2, init_weights=other.weights, **kw)
    assert e.value.param == "init_weights"
