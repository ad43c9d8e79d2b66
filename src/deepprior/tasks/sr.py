"""Super-resolution: ``E(x) = ||d(x) - x0||²`` with ``d`` the Lanczos2 decimator."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import DeepPriorError, ImageTooSmall
from ..ops import LANCZOS2_FACTORS, DataTerm, Downsample, upscale
from .base import Problem, Result
from .common import ImageLike, as_image, fit_task
from .options import FitOptions, fit_options
from .presets import AUTO_BACKTRACK_KEEP_DB, AUTO_NET, FAST_NET, HOLDOUT, Preset
from .registry import PRIOR, Option, Task, register_task

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: The SR factors: those of the Lanczos2 operator.
SR_FACTORS = LANCZOS2_FACTORS
#: The x4 auto preset's step cap, set by the time budget: 1/5 of the paper preset's 2000 steps'
#: time. Its 32-filter net (AUTO_NET) takes 1/8.4 (256²) to 1/7.7 (512²) of the paper net's
#: step time on a CPU (benchmarks/results/speed.md), so 1/5 of the paper's time is 3080-3380
#: of its steps; 3000 leaves room for the held-out test and the EMA. The fits are still
#: improving there (about +0.1 dB per 600 steps), and a constant learning rate beats a cosine
#: decay to the same cap (benchmarks/results/auto_design/sr_x4.md).
AUTO_SR_STEPS = 3000
#: The auto preset's z channels: 8 instead of the paper's 32 makes the net's full-resolution
#: input layers cheaper (a step 8 % shorter at 256², 19 % at 512² on a CPU); two held-out crops
#: and the Set5 x4 mean (29.96 dB either way) were no worse
#: (benchmarks/results/auto_design/cheaper_steps.md). The denoiser keeps 32: at its tile size
#: the step is no shorter and its tiles needed more steps to their stop.
AUTO_SR_Z = 8


@register_task
class SuperResolution(Task):
    name = "sr"
    default_preset = "auto"
    summary = "Super-resolution of the low-resolution INPUT by --factor."
    presets = {
        "auto": Preset(
            "auto", "32-filter net, 8-channel z, at most 3000 steps (x8: 6000, sigma_p=1/20); "
            "stops by itself (held-out LR pixels), output = best EMA", net_kwargs=AUTO_NET,
            input_channels=AUTO_SR_Z, iters=AUTO_SR_STEPS, output="best", stop="holdout",
            stop_kwargs={**HOLDOUT, "patience": 300}, backtrack_keep_db=AUTO_BACKTRACK_KEEP_DB,
        ),
        "paper": Preset(
            "paper", "SR-default net, 2000 steps, sigma_p=1/30 (x8: 4000 steps, sigma_p=1/20)",
            iters=2000, ema=None,
        ),
        "fast": Preset(
            "fast", "64-filter net, 1000 steps", net_kwargs=FAST_NET, iters=1000, ema=None,
        ),
    }  # fmt: skip
    options = (
        Option("factor", f"{', '.join(map(str, SR_FACTORS))}.", type=int, default=4),
        PRIOR,
    )
    extras = ("bicubic",)

    def tile_footprint(self, *, factor: int | None = None, **_: Any) -> tuple[int, int]:
        """Tiles are planned on the LR input with 2 px of context (Lanczos2: 1.5 LR px)."""
        return int(factor or 4), 2

    def result_size(self, size: tuple[int, int], *, factor: int = 4, **_: Any) -> tuple[int, int]:
        """The input's size times ``factor``."""
        return size[0] * factor, size[1] * factor

    def preset(self, name: str | None = None, *, factor: int | None = None, **_: Any) -> Preset:
        """The x8 presets use sigma_p = 1/20 and twice the steps: paper 4000 (the paper's
        x8), auto at most 6000."""
        preset = super().preset(name)
        if preset.name in ("paper", "auto") and factor == 8:
            preset = replace(preset, iters=2 * preset.iters, input_noise=1 / 20)
        return preset

    def run(self, image: ImageLike, factor: int = 4, **kw: Any) -> Result:
        return super_resolve(image, factor, **kw)


@fit_options
def super_resolve(
    image: ImageLike, factor: int = 4, *, preset: str | None = None, **kw: Unpack[FitOptions]
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
    try:
        return fit_task(problem, preset, params={"factor": factor}, **kw)
    except ImageTooSmall as exc:  # said in the input's size, the one the user knows
        least = -(-exc.min_side // factor)
        raise ImageTooSmall(
            f"the input is {w}x{h} px, so the x{factor} result is {w * factor}x{h * factor} px, "
            f"but net {exc.net!r} needs a result of at least {exc.min_side} px per side; give "
            f"an input of at least {least}x{least} px{' or use ' + exc.hint if exc.hint else ''}",
            net=exc.net, min_side=exc.min_side, hint=exc.hint,
        ) from None  # fmt: skip
