"""Detail enhancement (Fig. 18): an early-stopped fit of the photo itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Result
from .common import ImageLike, fit_task
from .denoise import identity_problem
from .options import FitOptions, fit_options
from .presets import Preset
from .registry import Task, register_task

if TYPE_CHECKING:
    from typing_extensions import Unpack


@register_task
class Enhance(Task):
    name = "enhance"
    pointwise = True
    default_preset = "auto"
    summary = "Detail enhancement of INPUT; also writes OUTPUT's name + '.coarse.png'."
    presets = {
        "auto": Preset(
            "auto", "the paper's recipe (its early stop at 400 steps is the method)",
            iters=400, input_noise=0.0, ema=None,
        ),
        "paper": Preset(
            "paper", "Fig. 18: SR-default net, sigma_p=0, stopped early at 400 steps",
            iters=400, input_noise=0.0, ema=None,
        ),
    }  # fmt: skip
    extras = ("coarse",)

    def run(self, image: ImageLike, **kw: Any) -> Result:
        return enhance(image, **kw)


@fit_options
def enhance(image: ImageLike, *, preset: str | None = None, **kw: Unpack[FitOptions]) -> Result:
    """Detail enhancement (Fig. 18): an early-stopped fit gives the coarse image ``x_c``;
    the result is ``x0 + (x0 - x_c)``. ``extras['coarse']`` holds ``x_c``."""
    problem = identity_problem("enhance", image)
    x0 = problem.degraded
    assert x0 is not None
    res = fit_task(problem, preset, **kw)
    coarse = res.image
    res.extras["coarse"] = coarse
    res.image = (2 * x0 - coarse).clamp(0, 1)
    return res
