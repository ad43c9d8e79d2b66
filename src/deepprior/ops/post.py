"""The post-filters a preset may chain (:attr:`deepprior.tasks.presets.Preset.post`).

Each maps a fit's result (C, H, W) and the data it was fitted to (the observation with the
stopping rule's held-out pixels replaced by the result, or None when the task's operator is
not the identity) to a filtered result, or to None where it does not apply. The fit is not
changed; the caller keeps a filter's output only where it lowers the error on the held-out
pixels, which neither the result nor the filter's input has seen.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .color import chroma_guided
from .degrade import estimate_noise_sigma
from .wiener import dct_wiener

PostFilter = Callable[[torch.Tensor, "torch.Tensor | None"], "torch.Tensor | None"]


def _chroma(image: torch.Tensor, data: torch.Tensor | None) -> torch.Tensor | None:
    return chroma_guided(image) if image.shape[-3] == 3 else None


def _wiener(image: torch.Tensor, data: torch.Tensor | None) -> torch.Tensor | None:
    if data is None or min(image.shape[-2:]) < 8:
        return None
    return dct_wiener(data, image, estimate_noise_sigma(data))


#: name -> filter; a preset names one or several, joined by ``+``, applied in that order.
POST_FILTERS: dict[str, PostFilter] = {"wiener": _wiener, "chroma": _chroma}


def post_chain(post: str | None) -> list[str]:
    """The filter names of a preset's ``post`` (``"wiener+chroma"`` -> both, in order).

    Example:
        >>> post_chain("wiener+chroma"), post_chain(None)
        (['wiener', 'chroma'], [])
    """
    return [] if not post else post.split("+")
