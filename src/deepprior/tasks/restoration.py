"""The restoration tasks of the paper, each a data term + a preset handed to :func:`solve`.

Every function takes the degraded image as a (C, H, W) tensor in [0, 1], a numpy array, a
PIL image or a path, and returns a :class:`~deepprior.tasks.base.Result`. Common keyword
arguments (see :func:`~deepprior.tasks.base.solve`): ``preset``, ``iters``, ``lr``,
``input_noise``, ``net``, ``net_kwargs`` (merged into the preset's net settings), ``seed``,
``device``, ``precision``, ``gt``, ``progress``, ``callbacks``, ``snapshot_dir``,
``snapshot_every``, ``memory_check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DeepPriorError
from ..ops import DataTerm, Downsample, bernoulli_mask, box_mask, text_mask, upscale
from .base import Problem, Result, solve
from .presets import get_preset

ImageLike = Any  # torch.Tensor | np.ndarray | PIL.Image.Image | str | Path

SR_FACTORS = (2, 4, 8)
MASK_KINDS = ("bernoulli", "text", "box")


def as_image(x: ImageLike, name: str = "image") -> torch.Tensor:
    """Convert a tensor, array, PIL image or path to a float (C, H, W) tensor in [0, 1]."""
    if isinstance(x, (str, Path)):
        from ..io import load_image

        return load_image(x)
    if isinstance(x, torch.Tensor):
        t = x.detach().float().cpu()
    else:
        try:
            from PIL import Image

            if isinstance(x, Image.Image):
                x = np.asarray(x)
        except ImportError:  # pragma: no cover - Pillow is a dependency
            pass
        arr = np.asarray(x)
        scale = 255.0 if arr.dtype == np.uint8 else 65535.0 if arr.dtype == np.uint16 else 1.0
        t = torch.from_numpy(arr.astype(np.float32) / scale)
        t = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3, 4):
        raise DeepPriorError(
            f"{name} must be (C, H, W) with 1 or 3 channels, got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 4:
        t = t[:3]
    if not torch.isfinite(t).all():
        raise DeepPriorError(f"{name} contains NaN or infinite values")
    return t.clamp(0, 1).contiguous()


_SOLVE_KEYS = {
    "seed", "device", "precision", "gt", "progress", "callbacks", "snapshot_dir",
    "snapshot_every", "metrics_every", "memory_check", "prior", "tv_weight", "restarts",
    "state_file", "state_every", "state_seconds", "resume",
}  # fmt: skip
_PRESET_KEYS = {"iters", "lr", "input_noise", "net", "ema", "output", "input", "backtrack_db"}


def _run(problem: Problem, preset: str | None, factor: int | None = None, **kw: Any) -> Result:
    unknown = set(kw) - _SOLVE_KEYS - _PRESET_KEYS - {"net_kwargs"}
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    p = get_preset(problem.task, preset, factor=factor)
    overrides = {k: kw.pop(k) for k in list(kw) if k in _PRESET_KEYS}
    net_kwargs = kw.pop("net_kwargs", None) or {}
    if overrides.get("net") is not None and overrides["net"] != p.net:
        overrides["net_kwargs"] = dict(net_kwargs)  # another net: drop the preset's settings
    else:
        overrides["net_kwargs"] = {**p.net_kwargs, **net_kwargs}
    p = p.with_overrides(**overrides)
    if "gt" in kw and kw["gt"] is not None:
        kw["gt"] = as_image(kw["gt"], "ground truth")
    return solve(problem, p, **kw)


def denoise(image: ImageLike, *, preset: str | None = None, **kw: Any) -> Result:
    """Blind denoising: fit ``||x - x0||^2`` and stop early; the EMA output by default.

    Example:
        >>> import deepprior, torch
        >>> noisy = torch.rand(3, 64, 64)
        >>> res = deepprior.denoise(noisy, iters=2, progress=False,
        ...                         net_kwargs={"n_d": [8, 8], "n_s": 2, "depth": 2})
        >>> res.image.shape
        torch.Size([3, 64, 64])
    """
    y = as_image(image)
    problem = Problem("denoise", DataTerm(y), tuple(y.shape[-2:]), y.shape[0], degraded=y)
    return _run(problem, preset, **kw)


def remove_jpeg_artifacts(image: ImageLike, *, preset: str | None = None, **kw: Any) -> Result:
    """JPEG-artefact removal: the denoising data term with the paper's JPEG net (Fig. 6)."""
    y = as_image(image)
    problem = Problem("jpeg", DataTerm(y), tuple(y.shape[-2:]), y.shape[0], degraded=y)
    return _run(problem, preset, **kw)


def super_resolve(
    image: ImageLike, factor: int = 4, *, preset: str | None = None, **kw: Any
) -> Result:
    """×``factor`` super-resolution: fit ``||d(x) - x0||^2`` with ``d`` the Lanczos2 decimator.

    The result is exactly ``factor`` times the input's size. ``extras['bicubic']`` holds the
    bicubic upsampling, the usual baseline.
    """
    if factor not in SR_FACTORS:
        raise DeepPriorError(
            f"unsupported SR factor {factor}; choose one of {', '.join(map(str, SR_FACTORS))}"
        )
    y = as_image(image)
    h, w = y.shape[-2:]
    bicubic = upscale(y, factor, "bicubic")
    problem = Problem(
        "sr", DataTerm(y, Downsample(factor)), (h * factor, w * factor), y.shape[0],
        init=bicubic, extras={"bicubic": bicubic}, info={"factor": factor},
    )  # fmt: skip
    return _run(problem, preset, factor=factor, **kw)


def make_mask(kind: str, size: tuple[int, int], *, p_known: float = 0.5, seed: int = 0):
    """A generated mask (1 = known) of ``kind``: ``bernoulli``, ``text`` or ``box``."""
    if kind == "bernoulli":
        return bernoulli_mask(size, p_known, seed=seed)
    if kind == "text":
        return text_mask(size, seed=seed)
    if kind == "box":
        return box_mask(size)
    raise DeepPriorError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}")


def _masked_problem(task: str, image: ImageLike, mask: Any, apply_mask: bool) -> Problem:
    from ..io import check_mask

    x = as_image(image)
    m = mask if isinstance(mask, torch.Tensor) else as_image(mask, "mask")
    m = m.float()
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.shape[0] != 1:
        m = m.mean(0, keepdim=True)
    if tuple(m.shape[-2:]) != tuple(x.shape[-2:]):
        raise DeepPriorError(
            f"the mask is {m.shape[-1]}x{m.shape[-2]} px but the image is "
            f"{x.shape[-1]}x{x.shape[-2]} px; give a mask of the image's size"
        )
    m = (m > 0.5).float()
    check_mask(m)
    degraded = x * m if apply_mask else x
    init = degraded * m + 0.5 * (1 - m)
    extras = {"masked": degraded, "mask": m} if apply_mask else {}
    return Problem(
        task, DataTerm(x, weight=m), tuple(x.shape[-2:]), x.shape[0], init=init,
        degraded=degraded, extras=extras, info={"known_fraction": round(float(m.mean()), 4)},
    )  # fmt: skip


def inpaint(
    image: ImageLike,
    mask: ImageLike | None = None,
    *,
    mask_kind: str | None = None,
    p_known: float = 0.5,
    preset: str | None = None,
    **kw: Any,
) -> Result:
    """Inpainting: fit ``||(x - x0) * m||^2`` where ``m`` is 1 on known pixels.

    Give ``mask`` (1 / white = known, 0 / black = fill in) for a real damaged photo. Or give
    ``mask_kind`` (``bernoulli``, ``text``, ``box``) to damage a clean ``image`` with a
    generated mask: then the clean image is the ground truth, and ``extras`` holds the
    ``masked`` input and the ``mask``. The default preset follows the mask: ``holes`` for
    a box, ``text`` otherwise.
    """
    if (mask is None) == (mask_kind is None):
        raise DeepPriorError("give either a mask (--mask FILE) or a mask kind (--mask-kind)")
    x = as_image(image)
    if mask_kind is not None:
        mask = make_mask(mask_kind, tuple(x.shape[-2:]), p_known=p_known, seed=kw.get("seed", 0))
        if kw.get("gt") is None:
            kw["gt"] = x
        if preset is None and mask_kind == "box":
            preset = "holes"
    problem = _masked_problem("inpaint", x, mask, apply_mask=mask_kind is not None)
    return _run(problem, preset, **kw)


def restore(
    image: ImageLike,
    mask: ImageLike | None = None,
    *,
    p_known: float | None = None,
    preset: str | None = None,
    **kw: Any,
) -> Result:
    """Restoration from a fraction of random pixels (Table 3): inpainting with its own preset.

    Give ``mask`` for an image whose missing pixels are known, or ``p_known`` to keep that
    fraction of a clean ``image``'s pixels at random (seeded) and restore the rest.
    """
    if (mask is None) == (p_known is None):
        raise DeepPriorError("give either a mask (--mask FILE) or a kept fraction (--keep P)")
    x = as_image(image)
    if p_known is not None:
        mask = bernoulli_mask(tuple(x.shape[-2:]), p_known, seed=kw.get("seed", 0))
        if kw.get("gt") is None:
            kw["gt"] = x
    problem = _masked_problem("restore", x, mask, apply_mask=p_known is not None)
    return _run(problem, preset, **kw)


def enhance(image: ImageLike, *, preset: str | None = None, **kw: Any) -> Result:
    """Detail enhancement (Fig. 18): an early-stopped fit gives the coarse image ``x_c``;
    the result is ``x0 + (x0 - x_c)``. ``extras['coarse']`` holds ``x_c``."""
    x0 = as_image(image)
    problem = Problem("enhance", DataTerm(x0), tuple(x0.shape[-2:]), x0.shape[0], degraded=x0)
    res = _run(problem, preset, **kw)
    coarse = res.image
    res.extras["coarse"] = coarse
    res.image = (2 * x0 - coarse).clamp(0, 1)
    return res


def flash_no_flash(
    flash: ImageLike, no_flash: ImageLike, *, preset: str | None = None, **kw: Any
) -> Result:
    """Flash/no-flash (Fig. 19): fit the no-flash photo with the flash photo as ``z``; the
    result has the no-flash lighting with the flash photo's low noise and detail."""
    f = as_image(flash, "flash image")
    n = as_image(no_flash, "no-flash image")
    if f.shape[-2:] != n.shape[-2:]:
        raise DeepPriorError(
            f"the flash image is {f.shape[-1]}x{f.shape[-2]} px but the no-flash image is "
            f"{n.shape[-1]}x{n.shape[-2]} px; give a registered pair of the same size"
        )
    problem = Problem("flash", DataTerm(n), tuple(n.shape[-2:]), n.shape[0], guide=f, degraded=n)
    return _run(problem, preset, **kw)
