"""Flash/no-flash (Fig. 19): the flash photo is ``z``, the no-flash photo the target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DeepPriorError
from ..ops import DataTerm, Identity
from .base import Problem, Result
from .common import ImageLike, as_image, fit_task
from .options import FitOptions, fit_options
from .presets import Preset
from .registry import Option, Task, register_task

if TYPE_CHECKING:
    from typing_extensions import Unpack


@register_task
class Flash(Task):
    name = "flash"
    pointwise = True
    fitted_input = 1  # the no-flash photo; the flash photo is the net's input z
    default_preset = "auto"
    summary = "Flash/no-flash: the no-flash lighting with the flash photo's detail."
    presets = {
        "auto": Preset(
            "auto", "the paper's recipe (601 steps at LR 0.1 with z = the flash photo)",
            input="guide", iters=601, lr=0.1, input_noise=0.0, ema=None,
        ),
        "paper": Preset(
            "paper", "Fig. 19: z = the flash photo, LR 0.1, 601 steps, sigma_p=0",
            input="guide", iters=601, lr=0.1, input_noise=0.0, ema=None,
        ),
    }  # fmt: skip
    inputs = (
        Option("flash", "The photo taken with flash.", kind="image", required=True),
        Option("no_flash", "The photo without flash.", kind="image", required=True),
    )

    def run(self, flash: ImageLike, no_flash: ImageLike, **kw: Any) -> Result:
        return flash_no_flash(flash, no_flash, **kw)


@fit_options
def flash_no_flash(
    flash: ImageLike, no_flash: ImageLike, *, preset: str | None = None, **kw: Unpack[FitOptions]
) -> Result:
    """Flash/no-flash (Fig. 19): fit the no-flash photo with the flash photo as ``z``; the
    result has the no-flash lighting with the flash photo's low noise and detail."""
    f = as_image(flash, "flash image")
    n = as_image(no_flash, "no-flash image")
    if f.shape[-2:] != n.shape[-2:]:
        raise DeepPriorError(
            f"the flash image is {f.shape[-1]}x{f.shape[-2]} px but the no-flash image is "
            f"{n.shape[-1]}x{n.shape[-2]} px; give a registered pair of the same size",
            param="no_flash",
        )  # fmt: skip
    problem = Problem(
        "flash", DataTerm(n, Identity()), tuple(n.shape[-2:]), n.shape[0], guide=f, degraded=n
    )
    return fit_task(problem, preset, **kw)
