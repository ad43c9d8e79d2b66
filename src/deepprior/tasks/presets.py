"""A :class:`Preset`: the named settings of one fit (net, input, schedule, output rule).

Each task holds its own presets (see :mod:`deepprior.tasks.registry`); this module knows no
task. Every field can be overridden per run (``--iters``, ``--lr``, ``--net`` ...); the
report records the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from ..errors import DeepPriorError
from ..finite import check_finite
from ..fit import Schedule

OUTPUTS = ("last", "ema", "best")
#: The lighter generator of the ``fast`` presets: 64 filters per level, 4 skip channels.
FAST_NET: dict[str, Any] = {"n_d": [64, 64, 64, 64, 64], "n_s": 4}
#: The generator of the ``auto`` denoisers: 32 filters per level. As good as 64 or 128
#: filters at the best iterate on the crops measured (benchmarks/results/auto_design), at a
#: fraction of the time.
AUTO_NET: dict[str, Any] = {"n_d": [32, 32, 32, 32, 32], "n_s": 4}
#: The tile side (px) of the ``auto`` denoiser: a larger image is restored in overlapping
#: tiles of about 144-155 px, each fitted and stopped on its own. A fit's steps to its best
#: iterate grow with the content it must reproduce: tiles bound them (680-2090 steps each on
#: the images measured), so the time grows with the pixel count, where one 32-filter fit of a
#: smooth or textured 256 px image was still improving at 3000 steps
#: (benchmarks/results/auto_tiles.md).
AUTO_TILE = 160
#: The DIP-TV weight per unit of estimated noise of the ``auto-tv`` denoiser: 0.01 at
#: sigma = 25/255, where on six held-out photos' 144 px crops it gained 0.0-0.66 dB over the
#: plain loss at 0.95-1.63 times its steps (benchmarks/results/auto_design/nlm_gap.md).
TV_PER_SIGMA = 0.1
#: The stopping rule of the ``auto`` presets: 5 % of the observed pixels held out of the fit;
#: stop 200 steps after their loss (on the EMA) last reached a new minimum, keep that EMA.
HOLDOUT: dict[str, Any] = {"fraction": 0.05, "patience": 200, "every": 10, "min_steps": 200}
#: The ``auto`` presets' backtracking returns to the last step whose loss was within 0.5 dB of
#: the state kept before it (:attr:`deepprior.fit.Schedule.backtrack_keep_db`), so that a loss
#: that climbs 5 dB in many small steps sends the fit back to before the climb: such a climb
#: (Set14 ppt3, 9.5 dB over 48 steps, none above 2.3 dB) wrecked a fit the per-step 5 dB rule
#: let through. A normal fit's loss stays within 0.8 dB of its last-50-step low (ppt3's steps
#: 300-1400), so it never backtracks for it.
AUTO_BACKTRACK_KEEP_DB = 0.5
#: Fields excluded from :meth:`Preset.to_dict` (bookkeeping, not settings).
_BOOKKEEPING = ("overrides",)
#: Settings added later, left out of :meth:`Preset.to_dict` at their value that turns them
#: off: a preset that does not use them keeps the settings (and the saved-state fingerprint)
#: it had before they existed.
_OFF_BY_DEFAULT: dict[str, Any] = {"tv_per_sigma": 0.0, "post": None, "tile_warm": False}


@dataclass(frozen=True)
class Preset:
    """A complete recipe for one fit.

    Attributes:
        name: the preset's name within its task.
        description: one line for ``--help`` and the README.
        net: registry name of the generator (see :func:`deepprior.nets.list_nets`).
        net_kwargs: constructor overrides for the generator.
        input: ``noise`` (uniform [0, 0.1)), ``meshgrid`` or ``guide``.
        input_channels: channels of a noise ``z``.
        iters, lr, input_noise, ema, backtrack_db, backtrack_keep_db: see
            :class:`deepprior.fit.Schedule`.
        output: which image the task returns: ``last`` (the final iterate), ``ema`` or
            ``best`` (the stopping rule's best image; else the EMA, else the last iterate).
        lr_schedule: ``constant`` or ``cosine`` (see :class:`deepprior.fit.Schedule`).
        stop, stop_kwargs: a stopping rule (:func:`deepprior.stopping.make_stopper`) and
            its settings; ``None``: run all ``iters`` steps.
        keep_observed: return the observed pixels where the operator sees them exactly (a
            mask's known pixels) instead of the fit's approximation of them, as inpainting
            tools do (:meth:`deepprior.ops.DataTerm.keep_observed`); the PSNR curve and the
            best step are measured on that image too.
        tv_per_sigma: DIP-TV (Liu et al., 2019): add ``w * TV(x)`` to the loss, with
            ``w = tv_per_sigma * sigma``, ``sigma`` the observation's noise level estimated
            from it (:func:`deepprior.ops.estimate_noise_sigma`), so the weight follows the
            noise; 0: the paper's loss. A user's ``tv_weight`` wins.
        tile: restore a larger image in overlapping tiles of at most this many input px a
            side, each fitted (and stopped) on its own (:mod:`deepprior.tiling`); ``None``:
            one fit of the whole image unless it does not fit in memory.
        tile_warm: start each tile's net from the weights its left neighbour's fit ended
            with (:mod:`deepprior.tiling`), not from a random draw: such a fit reaches its
            stop in fewer steps (benchmarks/results/auto_design/warm_tiles.md).
        post: post-filters of the result, joined by ``+`` and applied in order
            (``"wiener"``: :func:`deepprior.ops.dct_wiener` of the data with the result as
            pilot, for an identity operator; ``"chroma"``: :func:`deepprior.ops.chroma_guided`
            on a colour image), each kept only where it lowers the error on the stopping
            rule's held-out pixels; they do not change the fit, so they are not in a saved
            state's fingerprint.
        overrides: the fields a user set (so that a user's ``lr`` always wins).
    """

    name: str
    description: str
    net: str = "skip"
    net_kwargs: dict[str, Any] = field(default_factory=dict)
    input: str = "noise"
    input_channels: int = 32
    iters: int = 2000
    lr: float = 0.01
    input_noise: float = 1 / 30
    ema: float | None = 0.99
    backtrack_db: float | None = 5.0
    backtrack_keep_db: float | None = None
    output: str = "last"
    stop: str | None = None
    stop_kwargs: dict[str, Any] = field(default_factory=dict)
    lr_schedule: str = "constant"
    keep_observed: bool = False
    tv_per_sigma: float = 0.0
    tile: int | None = None
    tile_warm: bool = False
    post: str | None = None
    overrides: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        from ..ops import POST_FILTERS, post_chain

        for name in post_chain(self.post):
            if name not in POST_FILTERS:
                raise DeepPriorError(
                    f"preset {self.name!r}: unknown post-filter {name!r}; choose from "
                    f"{', '.join(POST_FILTERS)} (several joined by '+')", param="preset",
                )  # fmt: skip

    def with_overrides(self, **overrides: Any) -> Preset:
        """A copy with the non-``None`` overrides applied (and recorded in ``overrides``).

        Raises :class:`~deepprior.errors.DeepPriorError` for a NaN or infinite number.
        """
        given = {k: check_finite(v, k) for k, v in overrides.items() if v is not None}
        names = tuple(dict.fromkeys((*self.overrides, *given)))
        return replace(self, **given, overrides=names)

    def schedule(self, device: str | torch.device = "cpu") -> Schedule:
        """The :class:`~deepprior.fit.Schedule` of this preset on ``device``.

        A GPU runs ahead of the host; reading the loss back every step would stall it, so
        the divergence check runs every 10 steps there (every step on a CPU).
        """
        on_cpu = torch.device(device).type == "cpu"
        return Schedule(
            iters=self.iters, lr=self.lr, input_noise=self.input_noise, ema=self.ema,
            backtrack_db=self.backtrack_db, backtrack_keep_db=self.backtrack_keep_db,
            check_every=1 if on_cpu else 10,
            lr_schedule=self.lr_schedule,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for reports and state fingerprints)."""
        d = asdict(self)
        for k in _BOOKKEEPING:
            d.pop(k)
        for k, off in _OFF_BY_DEFAULT.items():  # so a fit saved before they existed resumes
            if d[k] == off:
                d.pop(k)
        return d


def get_preset(task: str, name: str | None = None, **params: Any) -> Preset:
    """The preset ``name`` of ``task`` (its default when ``None``).

    ``params`` are the task's own settings a preset may depend on (e.g. the SR ``factor``:
    the x8 paper preset uses 4000 steps and sigma_p = 1/20).
    """
    from .registry import get_task

    return get_task(task).preset(name, **params)
