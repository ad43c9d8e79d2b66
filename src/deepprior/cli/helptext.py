"""The ``--help`` of a restoration subcommand: its presets with their steps and estimated
time, and the defaults that come from the task's default preset (``--iters``, ``--lr``).

The estimates are computed only when the help is shown (they build each preset's net on
the meta device), so running a command costs nothing extra.
"""

from __future__ import annotations

from typing import Any

import click

from ..callbacks import _duration
from ..tasks.estimate import REFERENCE_GFLOPS, REFERENCE_SIDE, preset_seconds
from ..tasks.registry import Task

__all__ = ["TaskCommand", "preset_rows"]


def preset_rows(task: Task, gflops: float = REFERENCE_GFLOPS) -> list[tuple[str, str]]:
    """One (name, "N steps, ~time: description") row per preset of ``task``, its time at
    ``gflops`` GFLOP/s.

    Example:
        >>> from deepprior.tasks import get_task
        >>> preset_rows(get_task("jpeg"), gflops=150.0)[2]
        ('fast', "1200 steps, ~83 s: the paper's JPEG net, 1200 steps, EMA")
    """
    rows = []
    for name, p in task.presets.items():
        steps = f"at most {p.iters}" if p.stop else str(p.iters)
        default = " (the default)" if name == task.default_preset else ""
        rows.append((name, f"{steps} steps, ~{_duration(preset_seconds(p, gflops=gflops))}"
                           f"{default}: {p.description}"))  # fmt: skip
    return rows


def throughput_here() -> tuple[float, str]:
    """The GFLOP/s the help's times use and where it comes from: the fits measured on this
    machine's default device and precision, else :data:`REFERENCE_GFLOPS`."""
    from ..device import resolve_precision, select_device
    from ..tasks.estimate import machine_key, measured_gflops

    device = select_device("auto")
    key = machine_key(device, resolve_precision("auto", device))
    measured = measured_gflops(key)
    if measured is None:
        return REFERENCE_GFLOPS, (f"at an assumed {REFERENCE_GFLOPS:.0f} GFLOP/s: no fit has "
                                  f"run on this {key} yet")  # fmt: skip
    return measured, f"on this {key}, {measured:.0f} GFLOP/s as measured by recent fits"


class TaskCommand(click.Command):
    """A task's subcommand: ``--help`` ends with its presets, and ``--iters`` / ``--lr`` show
    the default preset's values as their defaults."""

    def __init__(self, *args: Any, task: Task, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task = task
        default = task.preset(None)
        for param in self.params:
            if param.name in ("iters", "lr") and isinstance(param, click.Option):
                value = getattr(default, param.name)
                param.help = f"{param.help} [default: {value}, the {default.name} preset's]"

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The presets, then any epilog."""
        gflops, source = throughput_here()
        with formatter.section(f"Presets (--preset; times at {REFERENCE_SIDE}x{REFERENCE_SIDE} "
                               f"px {source})"):  # fmt: skip
            formatter.write_dl(preset_rows(self.task, gflops))
        super().format_epilog(ctx, formatter)
