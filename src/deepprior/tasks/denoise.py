"""Denoising and JPEG-artefact removal: the identity operator, ``E(x) = ||x - x0||²``."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..ops import DataTerm, Identity
from .base import Problem, Result
from .common import ImageLike, as_image, fit_task
from .options import FitOptions, fit_options
from .presets import (
    AUTO_BACKTRACK_KEEP_DB,
    AUTO_NET,
    AUTO_TILE,
    FAST_NET,
    HOLDOUT,
    TV_PER_SIGMA,
    Preset,
)
from .registry import Task, get_task, register_task

if TYPE_CHECKING:
    from typing_extensions import Unpack


def identity_problem(task: str, image: ImageLike) -> Problem:
    """The problem ``||x - x0||²`` for a task whose operator is the identity."""
    y = as_image(image)
    return Problem(task, DataTerm(y, Identity()), tuple(y.shape[-2:]), y.shape[0], degraded=y)


#: The default denoiser; ``auto-tv`` is it with a TV term. Its result goes through two
#: post-filters, each kept where the held-out pixels say it helps: an empirical Wiener filter
#: of the noisy data with the result as pilot (benchmarks/results/auto_design/wiener_post.md),
#: then the chroma filter (0.04-0.15 dB on seven CBM3D9 images and 0.02-0.20 dB on six
#: held-out photos, benchmarks/results/auto_design/chroma_post.md). Neither adds steps.
# Warm tiles: on CBM3D9 0.68 of the cold steps for -0.03 dB (results/auto_design/warm_tiles.md).
_AUTO = Preset(
    "auto", "32-filter net in tiles of at most 160 px, each stopping by itself "
    "(held-out pixels) and starting from its left neighbour's end weights, output = best "
    "EMA, then a Wiener filter of the data and a chroma filter, each where the held-out "
    "pixels agree",
    net_kwargs=AUTO_NET, iters=3000, output="best", stop="holdout", stop_kwargs=HOLDOUT,
    tile=AUTO_TILE, backtrack_keep_db=AUTO_BACKTRACK_KEEP_DB, post="wiener+chroma",
    tile_warm=True,
)  # fmt: skip


@register_task
class Denoise(Task):
    name = "denoise"
    pointwise = True
    default_preset = "auto"
    summary = "Blind denoising of INPUT (Gaussian or real noise)."
    presets = {
        "auto": _AUTO,
        "auto-tv": replace(
            _AUTO, name="auto-tv", tv_per_sigma=TV_PER_SIGMA, tile_warm=False,
            description="auto with a TV term in the loss (DIP-TV), weighted by the estimated "
            "noise, and cold-started tiles (as its table was measured): slower, often better",
        ),
        "paper": Preset(
            "paper", "SR-default net, 1800 steps, sigma_p=1/30, output = EMA (gamma 0.99)",
            iters=1800, output="ema",
        ),
        "fast": Preset(
            "fast", "64-filter net, 900 steps, output = EMA: ~5x cheaper than paper",
            net_kwargs=FAST_NET, iters=900, output="ema",
        ),
    }  # fmt: skip

    def run(self, image: ImageLike, *, preset: str | None = None, **kw: Any) -> Result:
        return fit_task(identity_problem("denoise", image), preset, **kw)


@register_task
class Jpeg(Task):
    name = "jpeg"
    pointwise = True
    default_preset = "auto"
    summary = "JPEG-artefact removal of INPUT."
    presets = {
        "auto": Preset(
            "auto", "the paper's JPEG net; stops by itself (held-out pixels), output = best EMA",
            net="jpeg", input_channels=3, iters=2400, output="best", stop="holdout",
            stop_kwargs=HOLDOUT, backtrack_keep_db=AUTO_BACKTRACK_KEEP_DB,
        ),
        "paper": Preset(
            "paper", "Fig. 6 net (8..128 filters, skips on levels 4-5), 3-ch z, 2400 steps, EMA",
            net="jpeg", input_channels=3, iters=2400, output="ema",
        ),
        "fast": Preset(
            "fast", "the paper's JPEG net, 1200 steps, EMA",
            net="jpeg", input_channels=3, iters=1200, output="ema",
        ),
    }  # fmt: skip

    def run(self, image: ImageLike, **kw: Any) -> Result:
        return remove_jpeg_artifacts(image, **kw)


@fit_options
def denoise(
    image: ImageLike, *, preset: str | None = None, tile: int | str | None = None,
    overlap: int | None = None, **kw: Unpack[FitOptions],
) -> Result:  # fmt: skip
    """Blind denoising: fit ``||x - x0||^2`` and stop early; the EMA output by default.

    As the CLI: the ``auto`` preset restores an image larger than 192 px in tiles of at most
    160 px, each fitted and stopped on its own (``report['tiles']`` then holds the plan and
    each tile's fit). ``tile``: a tile side in px, ``"auto"`` (the largest that fits in
    memory) or ``"off"`` (one fit of the whole image); ``overlap``: px shared by neighbours.
    With ``state_file``, finished tiles are kept in ``STEM.tiles/`` next to it (to resume).

    Example:
        >>> import deepprior, torch
        >>> noisy = torch.rand(3, 64, 64)
        >>> res = deepprior.denoise(noisy, iters=2, progress=False,
        ...                         net_kwargs={"n_d": [8, 8], "n_s": 2, "depth": 2})
        >>> res.image.shape
        torch.Size([3, 64, 64])
    """
    return get_task("denoise").solve(image, tile=tile, overlap=overlap, preset=preset, **kw)


@fit_options
def remove_jpeg_artifacts(
    image: ImageLike, *, preset: str | None = None, **kw: Unpack[FitOptions]
) -> Result:
    """JPEG-artefact removal: the denoising data term with the paper's JPEG net (Fig. 6)."""
    return fit_task(identity_problem("jpeg", image), preset, **kw)
