"""Inpainting and restoration from a fraction of the pixels: the mask operator
``A(x) = x ⊙ m`` (1 = known), ``E(x) = ||x ⊙ m - x0 ⊙ m||²``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..errors import DeepPriorError
from ..ops import DataTerm, Mask, bernoulli_mask, box_mask, text_mask
from .base import Problem, Result
from .common import ImageLike, as_image, fit_task
from .options import FitOptions, fit_options
from .presets import AUTO_BACKTRACK_KEEP_DB, AUTO_NET, AUTO_TILE, FAST_NET, HOLDOUT, Preset
from .registry import INPUT, PRIOR, Option, Task, get_task, register_task

if TYPE_CHECKING:
    from typing_extensions import Unpack

MASK_KINDS = ("bernoulli", "text", "box")
INVERT_MASK = Option(
    "invert_mask", "The --mask file is white = fill, black = keep (the OpenCV/LaMa convention).",
    type=bool, default=False,
)  # fmt: skip

#: The restoration auto preset's step cap. Its 32-filter net takes about 1/9 of the paper
#: net's step time at 256² and 1/6 at 512² (superlinear) on a CPU: 12000 steps take at most
#: 0.12 and 0.18 of the paper's 11000 steps' time. One such fit of a 256² scikit-image photo
#: from 50 % of its pixels was still improving at 6000 steps (astronaut: 30.49 dB at 4000,
#: 31.00 at 6000, known pixels included; benchmarks/results/auto_design/restore.md). Its
#: held-out loss (the error on unknown pixels) was lowest at step 5160: the later gain is the
#: known pixels' fit, which the preset does not need since it returns the known pixels as
#: observed (``keep_observed``). An image larger than 192 px is restored in tiles of at most
#: 160 px (:data:`~deepprior.tasks.presets.AUTO_TILE`), each with this cap and its own stop: on
#: four 256² images, 0.09-0.64 dB better than one fit of the whole image in 0.85-1.57 of its
#: time, and no tile reached the cap where the whole fit of a smooth image did
#: (benchmarks/results/auto_design/restore_tiles.md).
AUTO_RESTORE_STEPS = 12000


class _MaskedTask(Task):
    """What inpaint and restore share: a mask operator, pixel by pixel, so a mask file can be
    cut into tiles alongside the image."""

    pointwise = True

    def tile_footprint(self, *, mask: Any = None, **_: Any) -> tuple[int, int] | None:
        """Tiles need a mask file: a generated mask simulates damage on a whole clean image."""
        if mask is None:
            raise DeepPriorError(
                f"--tile needs a mask file for {self.name}; a generated mask (--mask-kind, "
                "--keep) simulates damage on a small clean image: run that without --tile",
                param="tile",
            )  # fmt: skip
        return 1, 0


@register_task
class Inpaint(_MaskedTask):
    name = "inpaint"
    summary = "Inpainting of INPUT's unknown pixels given by --mask (or a generated --mask-kind)."
    presets = {
        "auto": Preset(
            "auto", "SR-default net, at most 6000 steps; stops by itself (held-out known "
            "pixels), output = best EMA with the known pixels kept", iters=6000, output="best",
            stop="holdout", stop_kwargs={**HOLDOUT, "patience": 300}, keep_observed=True,
            backtrack_keep_db=AUTO_BACKTRACK_KEEP_DB,
        ),
        "text": Preset(
            "text", "Fig. 11: SR-default net, 6000 steps (text and thin masks)", iters=6000,
            ema=None,
        ),
        "holes": Preset(
            "holes", "Fig. 10: no-skip hourglass, meshgrid z, 5000 steps (large holes)",
            net="hourglass", input="meshgrid", iters=5000, ema=None,
        ),
        "depth": Preset(
            "depth", "Fig. 13: 6-level no-skip net, k_u=5, nearest, LR 0.1, sigma_p=0",
            net="inpaint-depth", iters=5000, lr=0.1, input_noise=0.0, ema=None,
        ),
        "fast": Preset(
            "fast", "64-filter net, 2000 steps", net_kwargs=FAST_NET, iters=2000, ema=None,
        ),
    }  # fmt: skip
    default_preset = "auto"
    inputs = (INPUT, Option("mask", "Mask file: white (non-zero) = known, black = fill.",
                            kind="mask"))  # fmt: skip
    options = (
        Option("mask_kind", "Damage the clean INPUT with a generated mask instead (INPUT is "
               "then the reference).", choices=MASK_KINDS),
        Option("p_known", "Bernoulli: kept share.", type=float, default=0.5, flag="--keep"),
        INVERT_MASK,
        PRIOR,
    )  # fmt: skip
    extras = ("masked", "mask")

    def extras_for(self, *, mask_kind: str | None = None, **_: Any) -> tuple[str, ...]:
        """A generated mask writes the masked input and the mask."""
        return self.extras if mask_kind is not None else ()

    def preset(self, name: str | None = None, *, mask_kind: str | None = None, **_: Any) -> Preset:
        """A generated box mask defaults to the ``holes`` preset (as :func:`inpaint` does)."""
        return super().preset("holes" if name is None and mask_kind == "box" else name)

    def run(self, image: ImageLike, mask: ImageLike | None = None, **kw: Any) -> Result:
        return _inpaint(image, mask, **kw)


@register_task
class Restore(_MaskedTask):
    name = "restore"
    default_preset = "auto"
    summary = (
        "Restoration of INPUT from a fraction of its pixels (--mask, or --keep 0.5 to simulate)."
    )
    presets = {
        "auto": Preset(
            "auto", "32-filter net in tiles of at most 160 px, LR 0.01, at most 12000 steps, "
            "each stopping by itself (held-out known pixels), output = best EMA with the known "
            "pixels kept",
            net_kwargs=AUTO_NET, iters=AUTO_RESTORE_STEPS, output="best", stop="holdout",
            stop_kwargs={**HOLDOUT, "patience": 500}, keep_observed=True,
            backtrack_keep_db=AUTO_BACKTRACK_KEEP_DB, tile=AUTO_TILE,
        ),
        "paper": Preset(
            "paper", "Table 3: SR-default net, 11000 steps, LR 0.001 (50% random pixels)",
            iters=11000, lr=0.001, ema=None,
        ),
        "fast": Preset(
            "fast", "SR-default net, 3000 steps, LR 0.01", iters=3000, lr=0.01, ema=None,
        ),
    }  # fmt: skip
    inputs = (INPUT, Option("mask", "Mask file: white (non-zero) = known pixel.", kind="mask"))
    options = (
        Option("p_known", "Keep this share of INPUT's pixels.", type=float, flag="--keep"),
        INVERT_MASK,
        PRIOR,
    )
    extras = ("masked", "mask")

    def extras_for(self, *, p_known: float | None = None, **_: Any) -> tuple[str, ...]:
        """A simulated mask (``p_known``) writes the masked input and the mask."""
        return self.extras if p_known is not None else ()

    def run(self, image: ImageLike, mask: ImageLike | None = None, **kw: Any) -> Result:
        return _restore(image, mask, **kw)


def make_mask(kind: str, size: tuple[int, int], *, p_known: float = 0.5, seed: int = 0):
    """A generated mask (1 = known) of ``kind``: ``bernoulli``, ``text`` or ``box``."""
    if kind == "bernoulli":
        return bernoulli_mask(size, p_known, seed=seed)
    if kind == "text":
        return text_mask(size, seed=seed)
    if kind == "box":
        return box_mask(size)
    raise DeepPriorError(
        f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}", param="mask_kind"
    )


def _binary_mask(mask: Any, size: tuple[int, int]) -> torch.Tensor:
    """``mask`` as a (1, H, W) float 0/1 tensor, checked against the image ``size``."""
    from ..io import check_mask

    m = mask if isinstance(mask, torch.Tensor) else as_image(mask, "mask")
    m = m.float()
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.shape[0] != 1:
        m = m.mean(0, keepdim=True)
    if tuple(m.shape[-2:]) != tuple(size):
        raise DeepPriorError(
            f"the mask is {m.shape[-1]}x{m.shape[-2]} px but the image is "
            f"{size[1]}x{size[0]} px; give a mask of the image's size", param="mask",
        )  # fmt: skip
    m = (m > 0.5).float()
    check_mask(m)
    return m


def masked_problem(
    task: str, image: ImageLike, mask: Any, apply_mask: bool, invert: bool = False
) -> Problem:
    """The problem ``||x ⊙ m - x0 ⊙ m||²``; ``apply_mask``: ``image`` is the clean reference
    and the masked copy is the input (kept in ``extras`` with the mask); ``invert``: ``mask``
    is 1 where to fill (the OpenCV/LaMa convention)."""
    x = as_image(image)
    m = _binary_mask(mask, tuple(x.shape[-2:]))
    if invert:
        m = 1 - m  # (_binary_mask checked that both kinds of pixel are present)
    degraded = x * m if apply_mask else x
    init = degraded * m + 0.5 * (1 - m)
    extras = {"masked": degraded, "mask": m} if apply_mask else {}
    return Problem(
        task, DataTerm(x * m, Mask(m)), tuple(x.shape[-2:]), x.shape[0], init=init,
        degraded=degraded, extras=extras, info={"known_fraction": round(float(m.mean()), 4)},
    )  # fmt: skip


def _simulated(kw: dict[str, Any], x: torch.Tensor) -> None:
    """A generated mask damages the clean ``x``: it is then the ground truth."""
    if kw.get("gt") is None:
        kw["gt"] = x


@fit_options
def inpaint(
    image: ImageLike,
    mask: ImageLike | None = None,
    *,
    mask_kind: str | None = None,
    p_known: float = 0.5,
    preset: str | None = None,
    invert_mask: bool = False,
    tile: int | str | None = None,
    overlap: int | None = None,
    **kw: Unpack[FitOptions],
) -> Result:
    """Inpainting: fit ``||(x - x0) * m||^2`` where ``m`` is 1 on known pixels.

    Give ``mask`` (1 / white = known, 0 / black = fill in; with ``invert_mask``, the
    OpenCV/LaMa convention: white = fill in) for a real damaged photo. Or give
    ``mask_kind`` (``bernoulli``, ``text``, ``box``) to damage a clean ``image`` with a
    generated mask: then the clean image is the ground truth, and ``extras`` holds the
    ``masked`` input and the ``mask``. The default preset follows the mask: ``holes`` for
    a box, ``auto`` (the ``text`` recipe that stops by itself) otherwise.

    As the CLI, with a mask: ``tile`` inpaints the image in tiles of that many px
    (``"auto"``: the largest that fit in memory; ``"off"``: one fit of the whole image), the
    mask cut alongside; ``overlap``: px shared by neighbours.

    Example:
        >>> import deepprior, torch
        >>> m = torch.ones(1, 48, 48); m[:, 20:28, 20:28] = 0
        >>> res = deepprior.inpaint(torch.rand(1, 48, 48), m, tile=32, overlap=8, iters=2,
        ...                         progress=False, net_kwargs={"n_d": [8, 8], "n_s": 2})
        >>> res.image.shape, len(res.report["tiles"]["fits"])
        (torch.Size([1, 48, 48]), 4)
    """
    return get_task("inpaint").solve(image, mask, tile=tile, overlap=overlap, preset=preset,
                                     mask_kind=mask_kind, p_known=p_known,
                                     invert_mask=invert_mask, **kw)  # fmt: skip


def _inpaint(
    image: ImageLike,
    mask: ImageLike | None = None,
    *,
    mask_kind: str | None = None,
    p_known: float = 0.5,
    preset: str | None = None,
    invert_mask: bool = False,
    **kw: Any,
) -> Result:
    """:func:`inpaint` on the whole image (or on one tile of it)."""
    if (mask is None) == (mask_kind is None):
        raise DeepPriorError("give either a mask or a mask_kind (exactly one)", param="mask")
    x = as_image(image)
    if mask_kind is not None:
        mask = make_mask(mask_kind, tuple(x.shape[-2:]), p_known=p_known, seed=kw.get("seed", 0))
        _simulated(kw, x)
        if preset is None and mask_kind == "box":
            preset = "holes"
    if invert_mask and mask_kind is not None:
        raise DeepPriorError("invert_mask applies to a mask file, not to a mask_kind",
                             param="invert_mask")  # fmt: skip
    problem = masked_problem("inpaint", x, mask, apply_mask=mask_kind is not None,
                             invert=invert_mask)  # fmt: skip
    return fit_task(problem, preset, **kw)


@fit_options
def restore(
    image: ImageLike,
    mask: ImageLike | None = None,
    *,
    p_known: float | None = None,
    preset: str | None = None,
    invert_mask: bool = False,
    tile: int | str | None = None,
    overlap: int | None = None,
    **kw: Unpack[FitOptions],
) -> Result:
    """Restoration from a fraction of random pixels (Table 3): inpainting with its own preset.

    Give ``mask`` for an image whose missing pixels are known (1 / white = known; with
    ``invert_mask``, white = missing), or ``p_known`` to keep that fraction of a clean
    ``image``'s pixels at random (seeded) and restore the rest.

    As the CLI, with a mask: ``tile`` restores the image in tiles of that many px (``"auto"``:
    the largest that fit in memory; ``"off"``: one fit of the whole image, whatever the
    preset says), the mask cut alongside; ``overlap``: px shared by neighbours.

    Example:
        >>> import deepprior, torch
        >>> res = deepprior.restore(torch.rand(1, 48, 48), p_known=0.5, iters=2,
        ...                         progress=False, net_kwargs={"n_d": [8, 8], "n_s": 2})
        >>> res.image.shape, sorted(res.extras)
        (torch.Size([1, 48, 48]), ['mask', 'masked'])
    """
    return get_task("restore").solve(image, mask, tile=tile, overlap=overlap, preset=preset,
                                     p_known=p_known, invert_mask=invert_mask, **kw)  # fmt: skip


def _restore(
    image: ImageLike,
    mask: ImageLike | None = None,
    *,
    p_known: float | None = None,
    preset: str | None = None,
    invert_mask: bool = False,
    **kw: Any,
) -> Result:
    """:func:`restore` on the whole image (or on one tile of it)."""
    if (mask is None) == (p_known is None):
        raise DeepPriorError("give either a mask or p_known (exactly one)", param="mask")
    x = as_image(image)
    if p_known is not None:
        mask = bernoulli_mask(tuple(x.shape[-2:]), p_known, seed=kw.get("seed", 0))
        _simulated(kw, x)
    if invert_mask and p_known is not None:
        raise DeepPriorError("invert_mask applies to a mask file, not to p_known",
                             param="invert_mask")  # fmt: skip
    problem = masked_problem("restore", x, mask, apply_mask=p_known is not None,
                             invert=invert_mask)  # fmt: skip
    return fit_task(problem, preset, **kw)
