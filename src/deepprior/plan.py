"""One fit plan: turn (task problem, preset, overrides) into everything :func:`fit` needs.

:func:`build_plan` is the single place that chooses the prior (the generator, or pixels with
or without TV), builds the net and ``z`` on the canvas, the centre crop, the schedule, the
device, dtype and memory format, the stopping rule and the output rule. :func:`solve
<deepprior.tasks.base.solve_problem>`, the speed benchmark and the diagnostics build their
fits from it and from the small helpers below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .device import available_memory, resolve_precision, select_device
from .errors import DeepPriorError
from .fit import Callback, FitResult, Schedule, fit
from .memory import check_memory, estimate_fit_memory, keep_cpu_heap, refuse_oversized_fit
from .nets import Restarts, canvas_size, create_net, make_input, min_image_side, too_small
from .ops.degrade import estimate_noise_sigma
from .ops.priors import with_tv
from .seeds import INPUT_STREAM, stream_seed

if TYPE_CHECKING:
    from .tasks.base import Problem
    from .tasks.presets import Preset

__all__ = [
    "PRIORS", "PIXEL_LR", "TV_PRIOR_WEIGHT", "FitPlan", "build_plan", "build_generator",
    "centre_crop", "channels_last_for", "pixel_lr", "seed_everything",
]  # fmt: skip

#: ``dip``: the generator; ``none``: optimise the pixels; ``tv``: pixels plus a TV penalty.
PRIORS = ("dip", "tv", "none")
#: The pixel baselines' learning rate when the user did not set one.
PIXEL_LR = 0.01
#: The TV prior's weight when the user did not set one (``prior='tv'``).
TV_PRIOR_WEIGHT = 0.02


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (CPU and CUDA): the nets' initial weights."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def channels_last_for(device: torch.device, dtype: torch.dtype) -> bool:
    """deepprior's memory format: channels-last on a GPU or in bf16 (faster convolutions)."""
    return device.type == "cuda" or dtype == torch.bfloat16


def centre_crop(canvas: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``(top, left, h, w)`` of a ``size`` image centred on ``canvas``; ``None`` when equal."""
    (ch, cw), (h, w) = canvas, size
    return ((ch - h) // 2, (cw - w) // 2, h, w) if (ch, cw) != (h, w) else None


def pixel_lr(preset: Preset) -> float:
    """The learning rate of the pixel baselines: the user's ``lr`` when set, else at least
    :data:`PIXEL_LR` (the generator presets' small rates barely move raw pixels)."""
    return preset.lr if "lr" in preset.overrides else max(preset.lr, PIXEL_LR)


def build_generator(
    net: str,
    in_channels: int,
    out_channels: int,
    size: tuple[int, int],
    *,
    restarts: int = 1,
    **net_kwargs: Any,
) -> tuple[nn.Module, tuple[int, int]]:
    """The generator (``restarts`` independent copies) and its canvas for a ``size`` image.

    Raises :class:`DeepPriorError` when the image is too small for the net's stride.
    """
    nets = [create_net(net, in_channels, out_channels, **net_kwargs) for _ in range(restarts)]
    g = nets[0] if restarts == 1 else Restarts(nets)
    stride = getattr(g, "stride", 1)
    h, w = size
    if min(h, w) < min_image_side(stride):
        raise too_small(net, size, min_image_side(stride))
    return g, canvas_size(size, stride)


@dataclass
class FitPlan:
    """Everything one fit needs, built by :func:`build_plan`; :meth:`run` fits it.

    Attributes:
        net, z, data_term, schedule, crop: the arguments of :func:`deepprior.fit.fit`.
        device, dtype, channels_last: where and how the fit runs.
        output: the output rule (``last``, ``ema`` or ``best``).
        prior, tv_weight, runs, canvas, in_channels: what was chosen (for the report).
        memory_bytes: the estimated peak memory.
        callbacks: the plan's own callbacks (the stopping rule, if any).
    """

    net: nn.Module
    z: torch.Tensor
    data_term: nn.Module
    schedule: Schedule
    crop: tuple[int, int, int, int] | None
    device: torch.device
    dtype: torch.dtype
    channels_last: bool
    output: str
    prior: str
    tv_weight: float
    runs: int
    canvas: tuple[int, int]
    in_channels: int
    memory_bytes: int
    callbacks: list[Callback] = field(default_factory=list)

    def run(
        self, callbacks: Sequence[Callback] = (), *, seed: int = 0, resume: dict | None = None
    ) -> FitResult:
        """Fit the plan (its callbacks first, then ``callbacks``)."""
        if self.device.type == "cpu":  # large activations: no page faults at every step
            keep_cpu_heap(self.memory_bytes, available_memory(self.device))
        return fit(
            self.net, self.z, self.data_term, self.schedule, crop=self.crop,
            callbacks=[*self.callbacks, *callbacks], device=self.device, dtype=self.dtype,
            channels_last=self.channels_last, seed=seed, resume=resume,
        )  # fmt: skip

    def outputs(self, fr: FitResult) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(image, last, ema)`` in [0, 1]; with restarts each is the mean over the runs."""
        last = fr.image.mean(0).clamp(0, 1)
        ema = None if fr.ema is None else fr.ema.mean(0).clamp(0, 1)
        image = last if ema is None or self.output == "last" else ema
        if self.output == "best" and "best" in fr.images:
            image = fr.images["best"].mean(0).clamp(0, 1)
        return image, last, ema


def _input_channels(preset: Preset, guide: torch.Tensor | None) -> int:
    if preset.input == "meshgrid":
        return 2
    if preset.input == "guide":
        if guide is None:
            raise DeepPriorError(f"preset {preset.name!r} needs a guide image", param="preset")
        return guide.shape[-3]
    return preset.input_channels


def _tv_weight(prior: str, tv_weight: float | None, preset: Preset, y: torch.Tensor) -> float:
    """The weight of the TV term in the loss: the user's ``tv_weight``, else
    :data:`TV_PRIOR_WEIGHT` for the TV prior and, for the DIP, the preset's ``tv_per_sigma``
    times the noise estimated in the observation ``y`` (0 for the paper's presets); none for
    ``prior='none'``."""
    if prior == "none":
        return 0.0
    if tv_weight is not None:
        return float(tv_weight)
    if prior == "tv":
        return TV_PRIOR_WEIGHT
    return preset.tv_per_sigma * estimate_noise_sigma(y) if preset.tv_per_sigma else 0.0


def _check(preset: Preset, prior: str, restarts: int, tv_weight: float | None = None) -> None:
    from .tasks.presets import OUTPUTS

    if prior not in PRIORS:
        raise DeepPriorError(
            f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}", param="prior"
        )
    if preset.output not in OUTPUTS:
        raise DeepPriorError(
            f"preset output must be one of {', '.join(OUTPUTS)}, got {preset.output!r}",
            param="output",
        )  # fmt: skip
    if restarts < 1:
        raise DeepPriorError(f"restarts must be at least 1, got {restarts}", param="restarts")
    if tv_weight is not None and not tv_weight >= 0:
        raise DeepPriorError(f"tv_weight must be 0 or more, got {tv_weight}", param="tv_weight")


def build_plan(
    problem: Problem,
    preset: Preset,
    *,
    prior: str = "dip",
    tv_weight: float | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    precision: str = "auto",
    restarts: int = 1,
    memory_check: bool = True,
) -> FitPlan:
    """Everything to fit ``preset`` to ``problem`` (see :func:`deepprior.tasks.solve`).

    Seeds the global generators with ``seed`` (the nets' weights) and draws ``z`` from a
    generator seeded with it, so the same arguments give the same plan. ``tv_weight`` adds
    ``tv_weight * TV(x)`` to the loss: the TV prior's penalty (default
    :data:`TV_PRIOR_WEIGHT`), or with ``prior='dip'`` the DIP-TV loss of Liu et al. (2019),
    which slows the fitting of noise (default: the preset's ``tv_per_sigma`` times the
    observation's estimated noise level, 0 for the paper's presets).

    Example:
        >>> import torch
        >>> from deepprior.ops import DataTerm
        >>> from deepprior.tasks import Problem, get_preset
        >>> y = torch.rand(3, 32, 32)
        >>> plan = build_plan(Problem("denoise", DataTerm(y), (32, 32), 3),
        ...                   get_preset("denoise"), prior="tv", device="cpu")
        >>> plan.schedule.lr, plan.data_term.tv_weight
        (0.01, 0.02)
    """
    _check(preset, prior, restarts, tv_weight)
    dev = select_device(device)
    dtype = resolve_precision(precision, dev)
    size = problem.size
    in_channels = _input_channels(preset, problem.guide)
    if memory_check and prior == "dip":  # from sizes alone, before the nets and z exist
        refuse_oversized_fit(preset.net, in_channels, problem.channels, size, dtype=dtype,
                             device=dev, runs=restarts, net_kwargs=preset.net_kwargs)  # fmt: skip
    seed_everything(seed)
    gen = torch.Generator().manual_seed(stream_seed(seed, INPUT_STREAM))  # see deepprior.seeds
    if prior == "dip":
        net, canvas = build_generator(preset.net, in_channels, problem.channels, size,
                                      restarts=restarts, **preset.net_kwargs)  # fmt: skip
        schedule, runs, z_kind = preset.schedule(dev), restarts, preset.input
    else:
        canvas = size
        net = create_net("pixels", in_channels, problem.channels, size=canvas, init=problem.init)
        schedule = Schedule(iters=preset.iters, lr=pixel_lr(preset), ema=None)
        runs, z_kind = 1, "noise"
    weight = _tv_weight(prior, tv_weight, preset, problem.data_term.target[0])
    term = with_tv(problem.data_term, weight)
    callbacks: list[Callback] = []
    if preset.stop:
        from .stopping import make_stopper

        rule = make_stopper(preset.stop, **preset.stop_kwargs)
        term = rule.attach(term)
        callbacks.append(rule)
    z = torch.cat([make_input(z_kind, in_channels, canvas, guide=problem.guide, generator=gen)
                   for _ in range(runs)])  # fmt: skip
    single = net.nets[0] if isinstance(net, Restarts) else net
    need = runs * estimate_fit_memory(single, in_channels, canvas, dtype=dtype)
    if memory_check:
        h, w = size
        check_memory(need, available_memory(dev), what=f"a {w}x{h} px fit with this preset")
    return FitPlan(
        net, z, term, schedule, centre_crop(canvas, size), dev, dtype,
        channels_last_for(dev, dtype), preset.output, prior, weight, runs, canvas, in_channels,
        need, callbacks,
    )  # fmt: skip
