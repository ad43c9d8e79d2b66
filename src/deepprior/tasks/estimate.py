"""What a preset will cost before it runs: the FLOPs of one fit step and, at a stated
throughput, the time of its steps (shown in each task's ``--help``).

The FLOPs of a forward and backward pass are counted by PyTorch on a small probe image on the
meta device (:func:`deepprior.flops.count_flops`); the nets are fully convolutional, so they
scale with the pixel count.
"""

from __future__ import annotations

import functools
import json

import torch

from ..flops import count_flops
from .presets import Preset

__all__ = ["REFERENCE_GFLOPS", "REFERENCE_SIDE", "preset_seconds", "step_gflop"]

#: The throughput the help's times assume: the fp32 eager baseline of the 2-core CPU in
#: benchmarks/results/speed.md (127-152 GFLOP/s). Faster paths and GPUs take less.
REFERENCE_GFLOPS = 150.0
#: The image side (px) the help's times are for.
REFERENCE_SIDE = 512


@functools.lru_cache(maxsize=64)
def _gflop_per_pixel(net: str, in_channels: int, out_channels: int, net_kwargs: str) -> float:
    """GFLOP of one fit step per output pixel (cached per net configuration)."""
    from ..plan import build_generator

    side = 64
    with torch.device("meta"):  # shapes only: no weights are drawn, no pixels computed
        gen, canvas = build_generator(net, in_channels, out_channels, (side, side),
                                      **json.loads(net_kwargs))  # fmt: skip
    flops = count_flops(gen, torch.zeros(1, in_channels, *canvas), lambda x: x.sum())
    return flops / (side * side) / 1e9


def step_gflop(preset: Preset, channels: int = 3, side: int = REFERENCE_SIDE) -> float:
    """GFLOP of one fit step of ``preset`` on a ``side`` x ``side`` image.

    Example:
        >>> from deepprior.tasks import get_preset
        >>> 300 < step_gflop(get_preset("sr", "paper")) < 600  # the paper's SR net at 512 px
        True
    """
    in_channels = 2 if preset.input == "meshgrid" else preset.input_channels
    kwargs = json.dumps(preset.net_kwargs, sort_keys=True, allow_nan=False)
    return _gflop_per_pixel(preset.net, in_channels, channels, kwargs) * side * side


def preset_seconds(preset: Preset, side: int = REFERENCE_SIDE) -> float:
    """Estimated seconds of all of ``preset``'s steps at ``side`` px and REFERENCE_GFLOPS."""
    return preset.iters * step_gflop(preset, side=side) / REFERENCE_GFLOPS
