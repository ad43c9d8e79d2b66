"""What a preset will cost before it runs: the FLOPs of one fit step and, at a stated
throughput, the time of its steps (shown in each task's ``--help``).

The FLOPs are counted on a small probe image with forward hooks on the convolutions (the
nets are fully convolutional, so they scale with the pixel count); a step costs about three
forward passes (forward, and backward to the inputs and to the weights).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import torch
from torch import nn

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
    macs = [0]

    def count(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        k = module.weight.shape[-2] * module.weight.shape[-1]
        macs[0] += out.numel() * module.weight.shape[1] * k

    hooks = [m.register_forward_hook(count) for m in gen.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            gen(torch.zeros(1, in_channels, *canvas, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return 3 * 2 * macs[0] / (side * side) / 1e9


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
