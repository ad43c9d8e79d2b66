"""The tiling options of the restoration subcommands (see :mod:`deepprior.tiling`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from ..tasks.registry import Task

__all__ = ["tile_options", "runner"]


def _word_or_count(value: str | None, words: tuple[str, ...], what: str) -> Any:
    """One of ``words`` (or None) as given, else a positive integer (``what`` names it)."""
    if value is None or value in words:
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        quoted = ", ".join(repr(w) for w in words)
        raise click.BadParameter(f"{value!r} is not {quoted} or {what}")
    return n


def _tile_value(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``auto``, ``off`` or a positive tile side."""
    return _word_or_count(value, ("auto", "off"), "a tile side in pixels")


def _jobs_value(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """``auto`` or a positive number of processes."""
    return _word_or_count(value, ("auto",), "a number of processes (1 or more)")


def tile_options(fn: Callable) -> Callable:
    """Add ``--tile auto|N``, ``--overlap PX``, ``--tile-jobs auto|N`` and
    ``--warm-tiles/--cold-tiles`` to a restoration subcommand."""
    fn = click.option(
        "--warm-tiles/--cold-tiles", "tile_warm", default=None,
        help="Start each tile's net from the weights its left neighbour's fit ended with "
        "(fewer steps per tile), or from a random draw. Default: the preset's choice "
        "(denoise's auto: warm).",
    )(fn)  # fmt: skip
    fn = click.option(
        "--tile-jobs", callback=_jobs_value, default="auto", show_default=True,
        metavar="auto|N",
        help="Tiles fitted at once, each in its own process with a share of the CPU threads "
        "(auto: one per thread on a CPU, when the run is long enough to gain).",
    )(fn)  # fmt: skip
    fn = click.option(
        "--overlap", type=click.IntRange(min=1), default=None,
        help="Pixels shared by neighbouring tiles (input pixels; default 32 output px).",
    )(fn)  # fmt: skip
    return click.option(
        "--tile", callback=_tile_value, default=None, metavar="auto|off|N",
        help="Restore in overlapping tiles of N input px (auto: sized to the memory; off: "
        "one fit of the whole image). Default: the preset's tile size (denoise's auto: "
        "160 px), else tiles only when the whole image does not fit.",
    )(fn)  # fmt: skip


def runner(task: Task, images: list[Any], opts: dict[str, Any]) -> Callable[..., Any]:
    """The subcommand's runner: takes the tiling options out of ``opts`` and returns the
    whole-image run or the tiled one (:func:`deepprior.tiling.solve_maybe_tiled`)."""
    from ..tiling import solve_maybe_tiled

    tile, overlap, jobs = opts.pop("tile"), opts.pop("overlap"), opts.pop("tile_jobs")
    warm = opts.pop("tile_warm")
    return functools.partial(solve_maybe_tiled, task, *images, tile=tile, overlap=overlap,
                             tile_jobs=jobs, tile_warm=warm)  # fmt: skip
