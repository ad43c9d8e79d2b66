"""Several inputs in one restoration command: ``deepprior TASK a.png photos/ 'scans/*.tif'
-o out/`` restores each into ``out/`` through :mod:`deepprior.batch` and prints a summary.

A command is a batch when it names several inputs, a folder or a glob, when ``-o`` is an
existing folder or ends with ``/``, or with ``--ray``; otherwise it is the single-image
command, unchanged. Exit status: 0 when every image is restored or was done before,
:data:`EXIT_FAILED` when any failed, 130 when interrupted, 2 for bad input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import DeepPriorError
from ..finite import dumps_strict
from .common import EXIT_INTERRUPTED

__all__ = ["EXIT_FAILED", "batch_options", "dispatch", "summary_table"]

#: Exit status of a batch in which some image failed (the others are written).
EXIT_FAILED = 3

_BATCH_KEYS = ("force", "jobs", "gt_dir", "ray")


def batch_options(fn: Callable) -> Callable:
    """The options of a command run on several inputs."""
    options = [
        click.option("--force", is_flag=True, help="Batch: redo the inputs already done."),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Batch: images in parallel processes (CPU cores split; one per GPU).",
        ),
        click.option(
            "--gt-dir", default=None, help="Batch: folder of clean images named as the inputs."
        ),
        click.option(
            "--ray",
            is_flag=False,
            flag_value="local",
            default=None,
            metavar="[ADDRESS]",
            help="Batch: one Ray task per image, on a local cluster or at ADDRESS "
            "(host:port, ray://host:port, auto). Put it after the inputs.",
        ),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _is_batch(specs: tuple[str, ...], output: str, ray: str | None) -> bool:
    from ..batch import _is_glob

    one = specs[0]  # os.path.isdir: False, not an OSError, for a name too long to stat
    return (
        len(specs) > 1 or ray is not None or os.path.isdir(one) or _is_glob(one)
        or os.path.isdir(output) or output.endswith(("/", "\\"))
    )  # fmt: skip


def _output_dir(output: str, n_specs: int) -> str:
    """``-o`` as the output folder; a file name there is an error."""
    from ..io.decode import SUPPORTED_READ

    p = Path(output)
    if p.is_file() or (p.suffix.lower() in SUPPORTED_READ and not p.is_dir()):
        what = "there are several inputs" if n_specs > 1 else "the input is a folder or pattern"
        raise DeepPriorError(f"-o {output} names a file, but {what}; give a folder such as out/")
    return output


def summary_table(records: list[Any]) -> str:
    """The records as a text table: file, status, seconds, PSNR (and why, for failures).

    Example:
        >>> from deepprior.batch import FileResult
        >>> print(summary_table([FileResult("a.png", "ok", 1.5, 30.0)]))
        file   status  seconds   PSNR
        a.png  ok          1.5  30.00
    """
    rows = [("file", "status", "seconds", "PSNR", "")]
    for r in records:
        psnr = f"{r.psnr:.2f}" if r.psnr is not None else "-"
        why = r.message if r.status not in ("ok", "skipped") else ""
        rows.append((r.file, r.status, f"{r.seconds:.1f}", psnr, why))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                 row[2].rjust(widths[2]), row[3].rjust(widths[3]), row[4]]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _echo_record(rec: Any) -> None:
    line = f"{rec.status} {rec.file}" + (f" ({rec.seconds:.1f} s)" if rec.seconds else "")
    if rec.status in ("failed", "interrupted"):
        line += f": {rec.message}"
    click.echo(line, err=True)


def dispatch(task: Any, opts: dict[str, Any], run_single: Callable[..., None]) -> None:
    """Run the command: the single-image path for one file, else the batch (then exit).

    Args:
        task: the task of the subcommand.
        opts: the parsed options; ``image`` holds the tuple of inputs.
        run_single: the single-image path, ``run_single(task, opts)``.
    """
    from ..batch import TaskRestorer, run_batch

    batch = {k: opts.pop(k) for k in _BATCH_KEYS}
    specs = tuple(opts["image"])
    if not _is_batch(specs, opts["output"], batch["ray"]):
        run_single(task, {**opts, "image": specs[0]})
        return
    out_dir = _output_dir(opts["output"], len(specs))
    report = opts["report"]
    if report is not None:
        from .common import json_output

        json_output(report, "--report")
    quiet = opts["quiet"]
    parallel = batch["jobs"] > 1 or batch["ray"] is not None
    per_file = {k: v for k, v in opts.items() if k not in ("image", "output", "report")}
    per_file["quiet"] = quiet or parallel
    records = run_batch(
        TaskRestorer(task.name, per_file), specs, out_dir, force=batch["force"],
        jobs=batch["jobs"], gt_dir=batch["gt_dir"], ray=batch["ray"],
        on_result=None if quiet else _echo_record,
    )  # fmt: skip
    _finish(records, report, quiet)


def _finish(records: list[Any], report: str | None, quiet: bool) -> None:
    """Print the table, write the batch report, and exit with the batch's status."""
    from ..io import atomic_write_text

    if report is not None:
        doc = {"command": ["deepprior", *sys.argv[1:]], "files": [r.to_dict() for r in records]}
        atomic_write_text(Path(report), dumps_strict(doc, indent=2) + "\n")
    bad = [r for r in records if r.status in ("failed", "interrupted")]
    if not quiet:
        click.echo(summary_table(records))
    counts = {s: sum(r.status == s for r in records) for s in ("ok", "skipped", "failed")}
    click.echo(
        f"{counts['ok']} restored, {counts['skipped']} skipped (done before), "
        f"{counts['failed']} failed" + ("" if not bad else ": " + ", ".join(r.file for r in bad)),
        err=True,
    )
    if any(r.status == "interrupted" for r in records):
        click.echo("deepprior: interrupted; run the same command again to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if bad:
        sys.exit(EXIT_FAILED)
