"""The restoration subcommands: one per task (denoise, jpeg, sr, inpaint, restore, enhance,
flash).

Every subcommand reads ``INPUT``, writes ``-o OUTPUT`` atomically, never overwrites an input,
and on Ctrl-C still writes the current result and the report, and the fit's state, from which
``--resume`` continues. Bad input exits with status 2 and a one-line message.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import DeepPriorError
from .common import (
    EXIT_INTERRUPTED,
    json_output,
    load_input,
    parse_net_args,
    sigterm_as_interrupt,
    task_command,
)

if TYPE_CHECKING:
    import torch

__all__ = ["register", "common_options", "run_task"]


def common_options(fn: Callable) -> Callable:
    """Options every restoration subcommand shares."""
    options = [
        click.option("-o", "--output", required=True, help="Where to write the result (PNG)."),
        click.option("--preset", default=None, help="Named settings of the task (see README)."),
        click.option("--iters", type=int, default=None, help="Number of fitting steps."),
        click.option("--lr", type=float, default=None, help="Adam learning rate."),
        click.option("--input-noise", type=float, default=None, help="sigma_p of the z noise."),
        click.option("--net", default=None, help="Generator name (overrides the preset's)."),
        click.option(
            "--net-arg",
            "net_args",
            multiple=True,
            metavar="KEY=VALUE",
            help="Generator setting, repeatable: e.g. --net-arg n_d=64 --net-arg depth=4.",
        ),  # fmt: skip
        click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
        click.option(
            "--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."
        ),
        click.option(
            "--precision",
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
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _net_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    kwargs = parse_net_args(opts["net_args"])
    if opts.get("checkpoint"):
        kwargs["checkpoint"] = True
    return kwargs


def run_task(
    task_name: str,
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
    start = time.time()
    with sigterm_as_interrupt():
        result = runner(
            preset=opts["preset"], iters=opts["iters"], lr=opts["lr"],
            input_noise=opts["input_noise"], net=opts["net"],
            net_kwargs=_net_kwargs(opts), seed=opts["seed"],
            device=opts["device"], precision=opts["precision"], gt=gt,
            progress=not opts["quiet"], snapshot_dir=snapshot_dir,
            snapshot_every=opts["save_every"], memory_check=not opts["no_memory_check"],
            restarts=opts["restarts"], state_file=state_file,
            state_every=opts["state_every"], resume=opts["resume"], **task_kwargs,
        )  # fmt: skip
    # The outputs keep the colour space of the input image (its embedded ICC profile).
    icc = next(filter(None, (read_icc_profile(p) for p in inputs if p)), None)
    written = [str(save_image(result.image, out, bits=bits, icc_profile=icc))]
    for name, img in result.extras.items():
        extra = out.with_name(f"{out.stem}.{name}.png")
        check_output_path(extra, inputs)
        profile = None if name == "mask" else icc
        written.append(str(save_image(img, extra, bits=bits, icc_profile=profile)))
    report = {
        "command": ["deepprior", *sys.argv[1:]],
        "inputs": inputs,
        "outputs": written,
        "wall_seconds": round(time.time() - start, 3),
        **result.report,
    }
    if report_path is not None:
        atomic_write_text(report_path, json.dumps(report, indent=2, default=str) + "\n")
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


@click.command()
@click.argument("input")
@common_options
@task_command
def denoise(input: str, **opts: Any) -> None:
    """Blind denoising of INPUT (Gaussian or real noise)."""
    from ..tasks import denoise as run

    img = load_input(input, opts["gray"])
    run_task("denoise", functools.partial(run, img), [input], opts)


@click.command()
@click.argument("input")
@common_options
@task_command
def jpeg(input: str, **opts: Any) -> None:
    """JPEG-artefact removal of INPUT."""
    from ..tasks import remove_jpeg_artifacts as run

    img = load_input(input, opts["gray"])
    run_task("jpeg", functools.partial(run, img), [input], opts)


def prior_option(fn: Callable) -> Callable:
    return click.option(
        "--prior", type=click.Choice(["dip", "tv", "none"]), default="dip", show_default=True,
        help="dip: the generator; none: optimise pixels; tv: pixels + TV (paper baselines).",
    )(fn)  # fmt: skip


@click.command()
@click.argument("input")
@click.option("--factor", type=int, default=4, show_default=True, help="2, 4 or 8.")
@prior_option
@common_options
@task_command
def sr(input: str, factor: int, prior: str, **opts: Any) -> None:
    """Super-resolution of the low-resolution INPUT by --factor."""
    from ..tasks import super_resolve as run

    img = load_input(input, opts["gray"])
    run_task("sr", functools.partial(run, img, factor), [input], opts, prior=prior)


def _check_mask_args(mask: str | None, mask_kind: str | None, what: str) -> None:
    if mask is None and mask_kind is None:
        raise DeepPriorError(f"give --mask FILE (white = known) or {what}")
    if mask is not None and mask_kind is not None:
        raise DeepPriorError(f"give either --mask or {what}, not both")


def _load_with_mask(
    input: str, mask: str | None, gray: bool
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The image, its mask file (checked against the image's size) if any, and the inputs."""
    from ..io import load_mask

    img = load_input(input, gray)
    if mask is None:
        return img, None, [input]
    return img, load_mask(mask, tuple(img.shape[-2:])), [input, mask]


@click.command()
@click.argument("input")
@click.option("--mask", default=None, help="Mask file: white (non-zero) = known, black = fill.")
@click.option(
    "--mask-kind", type=click.Choice(["bernoulli", "text", "box"]), default=None,
    help="Damage the clean INPUT with a generated mask instead (INPUT is then the reference).",
)  # fmt: skip
@click.option("--keep", type=float, default=0.5, show_default=True, help="Bernoulli: kept share.")
@prior_option
@common_options
@task_command
def inpaint(
    input: str, mask: str | None, mask_kind: str | None, keep: float, prior: str, **opts: Any
) -> None:
    """Inpainting of INPUT's unknown pixels given by --mask (or a generated --mask-kind)."""
    from ..tasks import inpaint as run

    _check_mask_args(mask, mask_kind, "--mask-kind bernoulli|text|box")
    img, m, inputs = _load_with_mask(input, mask, opts["gray"])
    run_task(
        "inpaint", functools.partial(run, img, m, mask_kind=mask_kind, p_known=keep), inputs,
        opts, prior=prior,
    )  # fmt: skip


@click.command()
@click.argument("input")
@click.option("--mask", default=None, help="Mask file: white (non-zero) = known pixel.")
@click.option("--keep", type=float, default=None, help="Keep this share of INPUT's pixels.")
@prior_option
@common_options
@task_command
def restore(input: str, mask: str | None, keep: float | None, prior: str, **opts: Any) -> None:
    """Restoration of INPUT from a fraction of its pixels (--mask, or --keep 0.5 to simulate)."""
    from ..tasks import restore as run

    _check_mask_args(mask, keep, "--keep P")
    img, m, inputs = _load_with_mask(input, mask, opts["gray"])
    run_task("restore", functools.partial(run, img, m, p_known=keep), inputs, opts, prior=prior)


@click.command()
@click.argument("input")
@common_options
@task_command
def enhance(input: str, **opts: Any) -> None:
    """Detail enhancement of INPUT; also writes OUTPUT's name + '.coarse.png'."""
    from ..tasks import enhance as run

    img = load_input(input, opts["gray"])
    run_task("enhance", functools.partial(run, img), [input], opts)


@click.command()
@click.option("--flash", "flash_path", required=True, help="The photo taken with flash.")
@click.option("--no-flash", "noflash_path", required=True, help="The photo without flash.")
@common_options
@task_command
def flash(flash_path: str, noflash_path: str, **opts: Any) -> None:
    """Flash/no-flash: the no-flash lighting with the flash photo's detail."""
    from ..tasks import flash_no_flash as run

    f = load_input(flash_path, opts["gray"])
    n = load_input(noflash_path, opts["gray"])
    run_task("flash", functools.partial(run, f, n), [flash_path, noflash_path], opts)


def register(group: click.Group) -> click.Group:
    """Add the restoration subcommands to a click group.

    Example:
        >>> import click
        >>> sorted(register(click.Group("deepprior")).commands)
        ['denoise', 'enhance', 'flash', 'inpaint', 'jpeg', 'restore', 'sr']
    """
    for cmd in (denoise, jpeg, sr, inpaint, restore, enhance, flash):
        group.add_command(cmd)
    return group
