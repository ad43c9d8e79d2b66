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


def preset_rows(task: Task) -> list[tuple[str, str]]:
    """One (name, "N steps, ~time: description") row per preset of ``task``.

    Example:
        >>> from deepprior.tasks import get_task
        >>> preset_rows(get_task("jpeg"))[2]
        ('fast', "1200 steps, ~83 s: the paper's JPEG net, 1200 steps, EMA")
    """
    rows = []
    for name, p in task.presets.items():
        steps = f"at most {p.iters}" if p.stop else str(p.iters)
        default = " (the default)" if name == task.default_preset else ""
        rows.append((name, f"{steps} steps, ~{_duration(preset_seconds(p))}{default}: "
                           f"{p.description}"))  # fmt: skip
    return rows


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
        with formatter.section(f"Presets (--preset; times at {REFERENCE_SIDE}x{REFERENCE_SIDE} "
                               f"px on a CPU doing {REFERENCE_GFLOPS:.0f} GFLOP/s)"):  # fmt: skip
            formatter.write_dl(preset_rows(self.task))
        super().format_epilog(ctx, formatter)
