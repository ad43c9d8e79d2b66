"""What a preset will cost before it runs: the FLOPs of one fit step and, at this machine's
throughput, the time of its steps (shown in each task's ``--help``).

The FLOPs of a forward and backward pass are counted by PyTorch on a small probe image on the
meta device (:func:`deepprior.flops.count_flops`); the nets are fully convolutional, so they
scale with the pixel count.

The throughput is measured, not assumed: every fit records the GFLOP/s it reached (its FLOPs
per step over its seconds per step) in ``throughput.json`` in the cache folder
(``$DEEPPRIOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/deepprior``, else ``~/.cache/deepprior``),
per device, precision and thread count. The help uses the median of the last few fits there,
and :data:`REFERENCE_GFLOPS` (said so) until a fit has run.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
from pathlib import Path
from typing import Any

import torch

from ..flops import count_flops
from .presets import Preset

__all__ = [
    "REFERENCE_GFLOPS", "REFERENCE_SIDE", "machine_key", "measured_gflops", "preset_seconds",
    "record_throughput", "step_gflop",
]  # fmt: skip

#: The throughput assumed before any fit has run here: one fp32 thread of a CPU without
#: AVX-512 runs the 32-filter net at about 24 GFLOP/s and the paper's 128-filter net at about
#: 32 GFLOP/s (``benchmarks/step_time.py``); bf16 on AMX and GPUs are much faster.
REFERENCE_GFLOPS = 30.0
#: How many recent fits the measured throughput is the median of.
KEEP = 5
#: Fits shorter than this (seconds of fitting) are not recorded: warm-up dominates them.
MIN_FIT_SECONDS = 5.0
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


def preset_seconds(
    preset: Preset, side: int = REFERENCE_SIDE, gflops: float = REFERENCE_GFLOPS
) -> float:
    """Estimated seconds of all of ``preset``'s steps at ``side`` px and ``gflops`` GFLOP/s.

    Example:
        >>> from deepprior.tasks import get_preset
        >>> p = get_preset("denoise", "paper")
        >>> round(preset_seconds(p, gflops=60.0) / preset_seconds(p, gflops=30.0), 2)
        0.5
    """
    return preset.iters * step_gflop(preset, side=side) / gflops


def cache_dir() -> Path:
    """The folder of deepprior's cached measurements (see the module's docstring)."""
    env = os.environ.get("DEEPPRIOR_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepprior"


def machine_key(device: torch.device | str, dtype: torch.dtype | str,
                threads: int | None = None) -> str:  # fmt: skip
    """What a throughput is measured for: ``cpu/float32/2 threads``, ``cuda:NAME/bfloat16``.

    Example:
        >>> machine_key("cpu", torch.float32, threads=2)
        'cpu/float32/2 threads'
    """
    device = torch.device(device)
    dtype = str(dtype).replace("torch.", "")
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}/{dtype}"
    threads = torch.get_num_threads() if threads is None else threads
    return f"{device.type}/{dtype}/{threads} threads"


def _load() -> dict[str, list[float]]:
    try:
        data = json.loads((cache_dir() / "throughput.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: [float(x) for x in v if isinstance(x, (int, float)) and x > 0][-KEEP:]
            for k, v in data.items() if isinstance(v, list)}  # fmt: skip


def measured_gflops(key: str) -> float | None:
    """The median GFLOP/s of the last :data:`KEEP` fits recorded under ``key``, or None."""
    values = _load().get(key)
    return statistics.median(values) if values else None


def record_throughput(key: str, gflops: float) -> None:
    """Add one fit's GFLOP/s under ``key``; a cache folder that cannot be written is skipped
    (the estimate is a convenience, never a reason to fail a run)."""
    import math

    from ..finite import dumps_strict
    from ..io import atomic_write_text

    if not math.isfinite(gflops) or gflops <= 0:
        return
    data = _load()
    data[key] = [*data.get(key, []), round(gflops, 2)][-KEEP:]
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache_dir() / "throughput.json", dumps_strict(data, indent=1))
    except OSError:
        pass


def fit_gflop_per_step(net: torch.nn.Module, z: torch.Tensor) -> float:
    """GFLOP of one step of a fit of ``net`` on ``z`` (counted on the meta device)."""
    return count_flops(net, z, lambda x: x.float().pow(2).mean()) / 1e9


def record_fit(net: torch.nn.Module, z: torch.Tensor, device: Any, dtype: Any,
               fit_seconds: float, steps: int) -> None:  # fmt: skip
    """Record the throughput of a finished fit (skipped when it was too short to tell)."""
    if fit_seconds < MIN_FIT_SECONDS or steps < 10:
        return
    try:
        gflop = fit_gflop_per_step(net, z)
    except Exception:  # noqa: BLE001 - a net the counter cannot trace is simply not recorded
        return
    record_throughput(machine_key(device, dtype), gflop * steps / fit_seconds)
