"""The restoration subcommands: one per registered task (see :mod:`deepprior.tasks`), built
from the task's declared inputs and options plus the shared ones below.

Every subcommand reads ``INPUT``, writes ``-o OUTPUT`` atomically, never overwrites an input,
and on Ctrl-C still writes the current result and the report, and the fit's state, from which
``--resume`` continues. Bad input exits with status 2 and a one-line message. Several
inputs (files, folders, globs) make a batch into an output folder (see :mod:`.batches`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..device import PRECISIONS
from ..finite import dumps_strict
from ..tasks.registry import Option, Task
from ..views import TIMELAPSE_FORMATS, RunViews
from . import tiles
from .batches import batch_options, dispatch
from .common import (
    EXIT_INTERRUPTED,
    SEED,
    json_output,
    load_input,
    parse_key_values,
    sigterm_as_interrupt,
    task_command,
)
from .helptext import TaskCommand
from .preflight import preflight
from .types import FLOAT

__all__ = ["register", "common_options", "run_single", "run_task", "task_subcommand"]


def common_options(fn: Callable) -> Callable:
    """Options every restoration subcommand shares."""
    options = [
        click.option("-o", "--output", required=True, help="Where to write the result (PNG)."),
        click.option("--preset", default=None, help="Named settings (see Presets below)."),
        click.option("--iters", type=int, default=None, help="Number of fitting steps."),
        click.option("--lr", type=FLOAT, default=None, help="Adam learning rate."),
        click.option("--input-noise", type=FLOAT, default=None, help="sigma_p of the z noise."),
        click.option("--net", default=None, help="Generator name (overrides the preset's)."),
        click.option(
            "--net-arg",
            "net_args",
            multiple=True,
            metavar="KEY=VALUE",
            help="Generator setting, repeatable: e.g. --net-arg n_d=64 --net-arg depth=4.",
        ),  # fmt: skip
        click.option(
            "--stop-arg",
            "stop_args",
            multiple=True,
            metavar="KEY=VALUE",
            help="Setting of the preset's stopping rule, repeatable: e.g. --stop-arg "
            "patience=1000 (wait longer for a better held-out score); see docs/auto.md.",
        ),  # fmt: skip
        click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed."),
        click.option(
            "--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."
        ),
        click.option(
            "--precision",
            type=click.Choice(PRECISIONS),
            default="auto",
            show_default=True,
            help="auto (bf16 where the hardware is fast at it), fp32 or bf16.",
        ),  # fmt: skip
        click.option(
            "--checkpoint",
            is_flag=True,
            help="Gradient checkpointing: much less memory for large images, ~1/3 slower.",
        ),  # fmt: skip
        click.option(
            "--restarts",
            type=int,
            default=1,
            show_default=True,
            help="Fit N independently initialised nets in one pass; output their mean.",
        ),  # fmt: skip
        click.option(
            "--resume",
            is_flag=True,
            help="Continue the fit saved in OUTPUT_STEM.state.pt (by Ctrl-C or --state-every).",
        ),
        click.option(
            "--state-every",
            type=click.IntRange(min=0),
            default=0,
            help="Also save the fit's state every K steps, to resume after a crash (0: only "
            "on Ctrl-C).",
        ),
        click.option("--gt", default=None, help="Clean image: report PSNR/SSIM during/after."),
        click.option("--report", default=None, help="Write a JSON report of the run here."),
        click.option(
            "--plot", is_flag=True, help="Also write OUTPUT_STEM.curves.png: loss, PSNR vs step."
        ),
        click.option(
            "--gif",
            "--timelapse",
            "timelapse",
            type=click.Choice(TIMELAPSE_FORMATS),
            is_flag=False,
            flag_value="gif",
            default=None,
            help="Also write a time-lapse of the fit, OUTPUT_STEM.gif (or --gif mp4), frames "
            "at growing step intervals.",
        ),  # fmt: skip
        click.option(
            "--save-every",
            type=click.IntRange(min=0),
            default=0,
            help="Snapshot every K steps (0: none).",
        ),
        click.option(
            "--snapshot-dir",
            default=None,
            help="Folder for --save-every snapshots (default: OUTPUT's name + '_steps').",
        ),  # fmt: skip
        click.option("--bits", type=click.Choice(["8", "16"]), default="8", help="PNG depth."),
        click.option("--gray", is_flag=True, help="Process the image as grayscale."),
        click.option(
            "--no-memory-check",
            is_flag=True,
            help="Start even when the estimated memory exceeds what is available.",
        ),  # fmt: skip
        click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary."),
        click.option("--progress/--no-progress", default=True, show_default=True,
                     help="The progress bar (--no-progress: a plain line a minute instead, "
                     "e.g. for a log)."),
    ]  # fmt: skip
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _net_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    kwargs = parse_key_values(opts["net_args"])
    if opts.get("checkpoint"):
        kwargs["checkpoint"] = True
    return kwargs


def _stop_kwargs(opts: dict[str, Any]) -> dict[str, Any] | None:
    """``--stop-arg`` as the settings that change the preset's stopping rule's (None: none)."""
    items = opts.get("stop_args") or ()
    return parse_key_values(items, "--stop-arg", "patience=1000") if items else None


def _progress(opts: dict[str, Any]) -> bool | str:
    """``--quiet``: nothing; ``--no-progress``: the plan, notices and a line a minute."""
    if opts["quiet"]:
        return False
    return True if opts["progress"] else "log"


def run_task(
    runner: Callable[..., Any],
    inputs: list[str],
    opts: dict[str, Any],
    **task_kwargs: Any,
) -> None:
    """Shared driver: validate paths, run, save outputs and the report, handle Ctrl-C."""
    from ..io import atomic_write_text, check_output_path, read_icc_profile, save_image

    out = check_output_path(opts["output"], inputs)
    report_path = json_output(opts["report"], "--report") if opts.get("report") else None
    bits = int(opts["bits"])
    gt = load_input(opts["gt"], opts["gray"]) if opts.get("gt") else None
    snapshot_dir = None
    if opts["save_every"] > 0:
        snapshot_dir = Path(opts["snapshot_dir"] or out.with_name(out.stem + "_steps"))
    state_file = out.with_name(out.stem + ".state.pt")
    views = RunViews(out, inputs, plot=opts.get("plot", False), timelapse=opts.get("timelapse"))
    start = time.time()
    with sigterm_as_interrupt():
        result = runner(
            preset=opts["preset"], iters=opts["iters"], lr=opts["lr"],
            input_noise=opts["input_noise"], net=opts["net"],
            net_kwargs=_net_kwargs(opts), stop_kwargs=_stop_kwargs(opts), seed=opts["seed"],
            device=opts["device"], precision=opts["precision"], gt=gt,
            progress=_progress(opts), snapshot_dir=snapshot_dir,
            snapshot_every=opts["save_every"], memory_check=not opts["no_memory_check"],
            restarts=opts["restarts"], state_file=state_file,
            state_every=opts["state_every"], resume=opts["resume"], callbacks=views.callbacks,
            **task_kwargs,
        )  # fmt: skip
    # The outputs keep the colour space of the input image (its embedded ICC profile).
    icc = next(filter(None, (read_icc_profile(p) for p in inputs if p)), None)
    written = [str(save_image(result.image, out, bits=bits, icc_profile=icc))]
    if result.report["iters_run"] == 0:
        click.echo(f"deepprior: warning: no fitting step ran, so {out} is the untrained "
                   "net's output; give --iters of at least 1", err=True)  # fmt: skip
    for name, img in result.extras.items():
        extra = out.with_name(f"{out.stem}.{name}.png")
        check_output_path(extra, inputs)
        profile = None if name == "mask" else icc
        written.append(str(save_image(img, extra, bits=bits, icc_profile=profile)))
    written += views.write(result.report)
    report = {
        "command": ["deepprior", *sys.argv[1:]],
        "inputs": inputs,
        "outputs": written,
        "wall_seconds": round(time.time() - start, 3),
        **result.report,
    }
    if report_path is not None:
        atomic_write_text(report_path, dumps_strict(report, indent=2, default=str) + "\n")
    if not opts["quiet"] or result.interrupted:
        m = result.metrics
        summary = (
            f"wrote {out} ({result.image.shape[-1]}x{result.image.shape[-2]} px, "
            f"{result.report['iters_run']} steps, {result.report['seconds']:.1f} s on "
            f"{result.report['device']})"
        )
        if "psnr" in m:
            summary += f"; PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}"
            ref = m.get("psnr_input", m.get("psnr_bicubic", m.get("psnr_masked")))
            if ref is not None:
                summary += f" (input {ref:.2f} dB)"
        click.echo(summary, err=True)
        from ..tiling import tiles_stop_line

        tiles_line = tiles_stop_line(result.report)
        if tiles_line:
            click.echo(tiles_line, err=True)
        if result.report.get("stop_reason"):
            kept = (result.report.get("preset") or {}).get("keep_observed")
            click.echo(
                f"stopped by itself at step {result.report['iters_run']} of at most "
                f"{result.report['settings']['iters']}: {result.report['stop_reason']} "
                "(the output is the running average at that best step"
                + (", with the known pixels as given)" if kept else ")"),
                err=True,
            )
    if result.interrupted:
        msg = (
            f"deepprior: interrupted at step {result.report['iters_run']}; the result so far "
            f"is in {out}" + (f" and the report in {report_path}" if report_path else "")
        )
        if state_file.is_file():
            msg += f"; to continue, run the same command with --resume (state: {state_file})"
        click.echo(msg, err=True)
        sys.exit(EXIT_INTERRUPTED)
    state_file.unlink(missing_ok=True)  # the result is written: nothing left to resume


def _click_param(opt: Option) -> Callable[[Callable], Callable]:
    """The click argument or option of a task's declared input or setting."""
    if opt.positional:  # several files, folders or globs make a batch (see .batches)
        return click.argument(opt.param, metavar="INPUT...", nargs=-1, required=True)
    kw: dict[str, Any] = {"help": opt.help, "required": opt.required}
    if opt.type is bool:
        return click.option(opt.cli_flag, opt.param, is_flag=True, **kw)
    if opt.choices:
        kw["type"] = click.Choice(list(opt.choices))
    elif opt.kind == "value":
        kw["type"] = FLOAT if opt.type is float else opt.type
    if opt.default is not None:  # (click >= 8.2 takes an explicit None as a given value)
        kw.update(default=opt.default, show_default=True)
    return click.option(opt.cli_flag, opt.param, **kw)


def _read_inputs(task: Task, opts: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The task's images (masks at the first image's size) and the paths read."""
    from ..io import load_mask

    images: list[Any] = []
    paths: list[str] = []
    for opt in task.inputs:
        path = opts.pop(opt.param)
        if path is None:
            images.append(None)
        elif opt.kind == "mask":
            images.append(load_mask(path, tuple(images[0].shape[-2:])))
        else:
            images.append(load_input(path, opts["gray"]))
        paths += [path] if path is not None else []
    return images, paths


def run_single(task: Task, opts: dict[str, Any]) -> None:
    """Restore one image: read the task's inputs named in ``opts``, then :func:`run_task`."""
    preflight(task, opts, _net_kwargs(opts))  # before any image is decoded
    images, paths = _read_inputs(task, opts)
    settings = {o.param: opts.pop(o.param) for o in task.options}
    run_task(tiles.runner(task, images, opts), paths, opts, **settings)


def task_subcommand(task: Task) -> click.Command:
    """The ``deepprior TASK`` subcommand: the task's inputs and options, then the shared ones.

    Example:
        >>> from deepprior.tasks import get_task
        >>> [p.opts for p in task_subcommand(get_task("deblur")).params][:2]
        [['image'], ['--sigma']]
    """

    def callback(**opts: Any) -> None:
        if any(o.positional for o in task.inputs):
            dispatch(task, opts, run_single)
        else:
            run_single(task, opts)

    fn = tiles.tile_options(common_options(task_command(callback)))
    if any(o.positional for o in task.inputs):
        fn = batch_options(fn)
    for opt in reversed((*task.inputs, *task.options)):
        fn = _click_param(opt)(fn)
    return click.command(task.name, cls=TaskCommand, task=task, help=task.summary)(fn)


def register(group: click.Group) -> click.Group:
    """Add one subcommand per registered task to a click group.

    Example:
        >>> import click
        >>> sorted(register(click.Group("deepprior")).commands)[:4]
        ['deblur', 'denoise', 'enhance', 'flash']
    """
    from ..tasks import get_task, list_tasks

    for name in list_tasks():
        group.add_command(task_subcommand(get_task(name)))
    return group
