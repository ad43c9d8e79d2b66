"""Time fit steps of a preset: the fp32 eager baseline against the path deepprior uses.

Both configurations run in one process through :func:`deepprior.fit.fit` itself, so the
figure is what a user gets, not a kernel in isolation. FLOPs are counted once per size with
:class:`torch.utils.flop_counter.FlopCounterMode` on the meta device (no compute).
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..callbacks import Callback, StepInfo
from ..device import host_summary, resolve_precision, select_device
from ..errors import DeepPriorError
from ..fit import FitResult, fit
from ..flops import count_flops
from ..memory import keep_cpu_heap_for
from ..nets import noise_input
from ..ops import DataTerm, Downsample
from ..plan import build_generator, channels_last_for
from ..tasks import get_preset


@dataclass(frozen=True)
class SpeedConfig:
    """One way of running the fit loop.

    Attributes:
        name: label in the table.
        precision: ``fp32``, ``bf16`` or ``auto`` (what deepprior picks for the device).
        channels_last: memory format; ``None`` follows deepprior's default for the device.
        compile: wrap the net in ``torch.compile`` (a string: in that mode); ``None`` follows
            deepprior's default.
        checkpoint: gradient checkpointing in the generator (less memory, more compute).
    """

    name: str
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool | str | None = None
    checkpoint: bool = False


BASELINE = SpeedConfig("baseline", precision="fp32", channels_last=False, compile=False)
DEFAULT = SpeedConfig("deepprior")
CONFIGS = {
    "baseline": BASELINE,
    "fp32-cl": SpeedConfig("fp32-cl", precision="fp32", channels_last=True, compile=False),
    "bf16": SpeedConfig("bf16", precision="bf16", channels_last=False, compile=False),
    "bf16-cl": SpeedConfig("bf16-cl", precision="bf16", channels_last=True, compile=False),
    "compile": SpeedConfig("compile", precision="auto", channels_last=None, compile=True),
    # torch.compile with CUDA graphs: one replay per step instead of hundreds of launches.
    "cudagraphs": SpeedConfig("cudagraphs", compile="reduce-overhead"),
    "checkpoint": SpeedConfig("checkpoint", checkpoint=True),
    "deepprior": DEFAULT,
}


class _StepClock(Callback):
    """Records the wall time between the end of the warm-up and the last step."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.every = 1
        self.warmup = warmup
        self.device = device
        self.start: float | None = None
        self.end: float | None = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def on_step(self, info: StepInfo) -> None:
        if info.step == self.warmup:
            self.start = self._now()
        if info.step == info.iters:
            self.end = self._now()


class _PeakRSS:
    """Samples the process's resident memory in a thread; ``peak`` is the growth in bytes."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.base)
            time.sleep(self.interval)

    @staticmethod
    def release_free_memory() -> None:
        """Hand freed heap pages back to the OS, so a config's growth is not hidden by
        memory an earlier config left in the allocator (glibc only; a no-op elsewhere)."""
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass

    def __enter__(self) -> _PeakRSS:
        self.release_free_memory()
        self.base = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _problem(task: str, preset_name: str | None, size: int, factor: int, **net_kwargs: Any):
    """Net, z and data term for a ``size``-px fit of ``task`` (SR: the output is ``size``);
    the preset defaults to the paper's, whose net the speed figures are quoted for."""
    preset = get_preset(task, preset_name or "paper", factor=factor)
    if preset.input != "noise":
        raise DeepPriorError(f"speed times noise-input presets; {task}/{preset.name} is not one")
    gen = torch.Generator().manual_seed(0)
    net, canvas = build_generator(preset.net, preset.input_channels, 3, (size, size),
                                  **{**preset.net_kwargs, **net_kwargs})  # fmt: skip
    stride = getattr(net, "stride", 1)
    if canvas != (size, size):
        raise DeepPriorError(
            f"--size must be a multiple of {stride} and at least {2 * stride} for this net, "
            f"got {size}"
        )
    z = noise_input(preset.input_channels, (size, size), generator=gen)
    if task == "sr":
        if size % factor:
            raise DeepPriorError(f"--size must be a multiple of the factor {factor}")
        target = torch.rand(1, 3, size // factor, size // factor, generator=gen)
        term = DataTerm(target, Downsample(factor))
    else:
        term = DataTerm(torch.rand(1, 3, size, size, generator=gen))
    return preset, net, z, term


def time_config(
    config: SpeedConfig,
    *,
    task: str = "sr",
    preset: str | None = None,
    size: int = 256,
    steps: int = 10,
    warmup: int = 3,
    factor: int = 4,
    device: str = "auto",
    flops: int | None = None,
) -> dict[str, Any]:
    """Run ``warmup + steps`` fit steps in ``config`` and return the timing record."""
    if steps < 1 or warmup < 1:
        raise DeepPriorError("--iters and --warmup must be at least 1")
    dev = select_device(device)
    extra = {"checkpoint": True} if config.checkpoint else {}
    p, net, z, term = _problem(task, preset, size, factor, **extra)
    dtype = resolve_precision(config.precision, dev)
    channels_last = config.channels_last
    if channels_last is None:
        channels_last = channels_last_for(dev, dtype)
    schedule = replace(p.schedule(dev), iters=warmup + steps)
    clock = _StepClock(warmup, dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    else:  # as a task's fit does (deepprior.plan.FitPlan.run)
        keep_cpu_heap_for(net, z, dev, dtype)
    with _PeakRSS() as rss:
        res: FitResult = fit(
            net, z, term, schedule, callbacks=[clock], device=dev, dtype=dtype,
            channels_last=channels_last, compile=config.compile,
        )  # fmt: skip
    assert clock.start is not None and clock.end is not None
    per_step = (clock.end - clock.start) / steps
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else rss.peak
    rec: dict[str, Any] = {
        "config": config.name,
        "task": task,
        "preset": p.name,
        "size": size,
        "device": str(dev),
        "dtype": str(dtype).replace("torch.", ""),
        "channels_last": channels_last,
        "compile": res.compiled,
        "checkpoint": config.checkpoint,
        "steps": steps,
        "warmup": warmup,
        "s_per_step": per_step,
        "steps_per_s": 1 / per_step,
        "peak_memory_mib": peak / 2**20,
        "final_loss": res.final_loss,
    }
    if flops is not None:
        rec["gflop_per_step"] = flops / 1e9
        rec["gflop_per_s"] = flops / 1e9 / per_step
    return rec


def run_speed(
    sizes: list[int],
    configs: list[str],
    *,
    task: str = "sr",
    preset: str | None = None,
    steps: int = 10,
    warmup: int = 3,
    factor: int = 4,
    device: str = "auto",
    log: Any = None,
) -> dict[str, Any]:
    """Time every config at every size; the result holds the rows and the machine."""
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise DeepPriorError(f"unknown config {unknown[0]!r}; choose from {', '.join(CONFIGS)}")
    rows = []
    for size in sizes:
        _, net, z, term = _problem(task, preset, size, factor)
        flops = count_flops(net, z, term)
        for name in configs:
            rec = time_config(
                CONFIGS[name], task=task, preset=preset, size=size, steps=steps, warmup=warmup,
                factor=factor, device=device, flops=flops,
            )  # fmt: skip
            rows.append(rec)
            if log is not None:
                log(format_row(rec))
    dev = select_device(device)
    return {
        "rows": rows,
        "speedups": speedups(rows),
        "machine": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            **host_summary(),  # CPU model and flags: times from two machines never read as one
            "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        },
    }


def speedups(rows: list[dict[str, Any]]) -> dict[str, float]:
    """baseline s/step over each other config's s/step, per size (``"256/deepprior": 3.1``)."""
    base = {r["size"]: r["s_per_step"] for r in rows if r["config"] == "baseline"}
    return {
        f"{r['size']}/{r['config']}": base[r["size"]] / r["s_per_step"]
        for r in rows
        if r["config"] != "baseline" and r["size"] in base
    }


def format_row(r: dict[str, Any]) -> str:
    gflops = f"{r['gflop_per_s']:.0f}" if "gflop_per_s" in r else "-"
    return (
        f"| {r['size']} | {r['config']} | {r['dtype']} | {'yes' if r['channels_last'] else 'no'} "
        f"| {'yes' if r['compile'] else 'no'} | {r['s_per_step']:.3f} | {r['steps_per_s']:.2f} "
        f"| {gflops} | {r['peak_memory_mib']:.0f} |"
    )


TABLE_HEADER = (
    "| size | config | dtype | channels_last | compile | s/step | steps/s | GFLOP/s | "
    "peak MiB |\n|---|---|---|---|---|---|---|---|---|"
)


def format_table(result: dict[str, Any]) -> str:
    """The rows as a Markdown table, followed by the speed-ups over the baseline."""
    lines = [TABLE_HEADER, *(format_row(r) for r in result["rows"])]
    if result["speedups"]:
        lines.append("")
        lines += [f"speed-up {k}: {v:.2f}x" for k, v in result["speedups"].items()]
    return "\n".join(lines)
