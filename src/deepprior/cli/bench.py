"""``deepprior bench``: reproduce the paper's tables (see docs/benchmarks.md).

``register(cli)`` adds the ``bench`` group to the ``deepprior`` click group::

    deepprior bench sr --dataset Set5 --factor 4
    deepprior bench denoise            # CBM3D9, sigma = 25
    deepprior bench inpaint            # Heide11, 50% random pixels
    deepprior bench text-inpaint       # kate + the authors' text mask
    deepprior bench holes              # vase and library + their hole masks
    deepprior bench report sr --dataset Set5 --factor 4   # re-render report.md

``register`` also adds ``deepprior speed`` (time fit steps of the default path).

Each table writes one JSON record per image into ``--out`` (default
``benchmarks/results/<table>/``, ``benchmarks/results/quick/<table>/`` with ``--quick``) as
soon as that image is done, so a rerun resumes; then ``report.md``, also printed on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import DeepPriorError
from ..finite import dumps_strict
from .common import AliasedCommand, json_output, option, sigterm_as_interrupt, task_command
from .types import FLOAT

__all__ = ["register", "bench", "speed"]


def _table_options(fn: Callable) -> Callable:
    options = [
        click.option(
            "--data-dir", default=None,
            help="Data folder (default: $DEEPPRIOR_DATA, else ../shared/data).",
        ),
        click.option(
            "--out", default=None,
            help="Folder of the records and report.md (default: benchmarks/results/<table>/).",
        ),
        click.option(
            "--quick", is_flag=True,
            help="Small crops and few steps: checks the harness, not the paper's numbers.",
        ),
        click.option("--quick-size", type=int, default=64, show_default=True,
                     help="Crop size of --quick (px)."),
        click.option("--limit", type=int, default=None, help="Only the first K images."),
        click.option("--only", default=None, metavar="NAMES",
                     help="Only these images, comma-separated (e.g. baby,bird)."),
        click.option("--iters", type=int, default=None,
                     help="Steps of every fit (default: the paper preset's; --quick: 20)."),
        click.option("--preset", default=None,
                     help="Preset of every DIP fit (e.g. auto); another than the paper's "
                          "writes into <table>-<preset>/, beside the paper's records."),
        option("seed", help="Seed of the fits and of the noise / masks."),
        option("device"),
        option("precision"),
        click.option("--jobs", type=int, default=1, show_default=True,
                     help="Images run in parallel processes (torch threads = cores / N)."),
        click.option("--tile-jobs", type=int, default=1, show_default=True,
                     help="Tiles of a tiled DIP fit run side by side in N processes, each "
                          "with its share of the threads (denoise, inpaint); the fit's "
                          "seconds are then the sum of the tiles' own."),
        click.option("--warm-tiles/--cold-tiles", "tile_warm", default=None,
                     help="Start each tile's net from its left neighbour's end weights, or "
                          "from a random draw (denoise, inpaint; default: as the preset "
                          "says, warm for denoise's auto). Warm records go to "
                          "<table>-warm/."),
        click.option("--no-baselines", is_flag=True, help="Run DIP only."),
        click.option("--skip", "skip", default=None, metavar="NAMES",
                     help="Baselines not to run, comma-separated (e.g. zs_n2n, the slowest)."),
        click.option("--force", is_flag=True, help="Redo images that already have a record."),
        option("quiet", help="No per-image lines, no report echo."),
        click.option("--progress/--no-progress", default=None,
                     help="A progress bar per fit (default: when stderr is a terminal and "
                          "--jobs is 1)."),
    ]  # fmt: skip
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _names(text: str | None) -> tuple[str, ...]:
    """The names of a comma-separated option (``--only``, ``--skip``)."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _run(table: str, **kw: Any) -> None:
    from ..bench.tables import BenchOptions, run_table
    from ..device import select_device

    quiet = kw.pop("quiet")
    progress = kw.pop("progress")
    if progress is None:
        progress = sys.stderr.isatty() and kw["jobs"] == 1 and not quiet
    select_device(kw["device"])  # a bad --device fails now, not after the first image
    opts = BenchOptions(
        table=table, data_dir=kw.pop("data_dir"), out=kw.pop("out"), quick=kw.pop("quick"),
        quick_size=kw.pop("quick_size"), limit=kw.pop("limit"), iters=kw.pop("iters"),
        only=_names(kw.pop("only")),
        seed=kw.pop("seed"), device=kw.pop("device"), precision=kw.pop("precision"),
        jobs=kw.pop("jobs"), tile_jobs=kw.pop("tile_jobs"), tile_warm=kw.pop("tile_warm"),
        baselines=not kw.pop("no_baselines"), force=kw.pop("force"),
        skip=_names(kw.pop("skip")),
        progress=progress, preset=kw.pop("preset"), **kw,
    )  # fmt: skip

    def log(line: str) -> None:
        if not quiet:
            click.echo(f"bench {opts.name}: {line}", err=True)

    # SIGTERM (e.g. from `timeout`) stops like Ctrl-C: at a step boundary, with the running
    # fit's state saved beside the records, so that the next run resumes it.
    try:
        with sigterm_as_interrupt():
            res = run_table(opts, log=log)
    except KeyboardInterrupt:
        click.echo(
            f"bench {opts.name}: interrupted; the finished images have their records and the "
            "running fit's state is saved: run the same command again to resume",
            err=True,
        )
        raise
    click.echo(
        f"bench {opts.name}: {len(res['ran'])} run, {len(res['skipped'])} skipped (done); "
        f"records and report.md in {res['out']}",
        err=True,
    )
    if not quiet:
        click.echo(res["report"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def bench() -> None:
    """Reproduce the paper's tables: DIP, the paper's numbers and baselines side by side."""


# The options that say which variant of a table: shared by its run and ``bench report``.
_DATASET = click.option("--dataset", type=click.Choice(["Set5", "Set14"]), default="Set5",
                        show_default=True)  # fmt: skip
_FACTOR = click.option("--factor", type=click.Choice(["4", "8"]), default="4", show_default=True,
                       callback=lambda ctx, param, value: int(value))  # fmt: skip
_SIGMA = click.option("--sigma", type=FLOAT, default=25.0, show_default=True,
                      help="Noise sigma /255.")  # fmt: skip

# Each table: its help line and its own options (before the shared _table_options).
_TABLES: dict[str, tuple[str, tuple[Callable, ...]]] = {
    "sr": ("Super-resolution x4/x8 on Set5/Set14: Y-PSNR (4-px border) and RGB PSNR.",
           (_DATASET, _FACTOR)),
    "denoise": ("Denoising of the 9 CBM3D colour images: DIP last / EMA / 2 runs, NLM, TV, "
                "CBM3D.", (_SIGMA,)),
    "inpaint": ("Restoration from 50% random pixels on the 11 grayscale images of Table 3.", ()),
    "text-inpaint": ("Text inpainting of kate with the authors' mask: whole-image PSNR.", ()),
    "holes": ("Large-hole inpainting of vase and library: PSNR inside the hole.", ()),
}  # fmt: skip


def _table_command(table: str, doc: str, options: tuple[Callable, ...]) -> click.Command:
    """``deepprior bench TABLE``: the table's own options, then the shared ones."""

    def command(**kw: Any) -> None:
        _run(table, **kw)

    command.__doc__ = doc
    command.__name__ = command.__qualname__ = f"{table.replace('-', '_')}_table"
    fn = _table_options(task_command(command))
    for opt in reversed(options):
        fn = opt(fn)
    return bench.command(table)(fn)


for _name, (_doc, _options) in _TABLES.items():
    _table_command(_name, _doc, _options)


@bench.command("report")
@click.argument("table", type=click.Choice(list(_TABLES)))
@_DATASET
@_FACTOR
@_SIGMA
@click.option(
    "--preset",
    default=None,
    help="The preset the run used (its <table>-<preset>/ folder; default: paper).",
)
@click.option("--out", default=None, help="The table's folder (default as for the run).")
@click.option("--quick", is_flag=True, help="The --quick run's folder.")
@click.option("--warm-tiles/--cold-tiles", "tile_warm", default=None,
              help="The records of the run with warm-started (its <table>-warm/ folder) or "
                   "cold tiles (default: as the preset says).")  # fmt: skip
@task_command
def report_command(
    table: str, dataset: str, factor: int, sigma: float, preset: str | None, out: str | None,
    quick: bool, tile_warm: bool | None,
) -> None:  # fmt: skip
    """Re-render report.md of a table from its JSON records (no fitting)."""
    from ..bench.tables import BenchOptions, rerender

    opts = BenchOptions(
        table=table, dataset=dataset, factor=factor, sigma=sigma, out=out, quick=quick,
        preset=preset, tile_warm=tile_warm,
    )  # fmt: skip
    opts.validate()
    report, out_dir = rerender(opts)
    click.echo(f"bench {opts.name}: wrote {out_dir / 'report.md'}", err=True)
    click.echo(report)


@bench.command("curves")
@click.argument("table", type=click.Choice(list(_TABLES)))
@_DATASET
@_FACTOR
@_SIGMA
@click.option("--preset", default="auto", show_default=True, help="The preset to compare.")
@click.option("--quick", is_flag=True, help="The --quick runs' folders.")
@task_command
def curves_command(
    table: str, dataset: str, factor: int, sigma: float, preset: str, quick: bool
) -> None:
    """PSNR-vs-seconds curves and the comparison table of PRESET against the paper presets,
    from both runs' records (run ``bench TABLE`` and ``bench TABLE --preset PRESET`` first):
    writes comparison.md, curves.json and curves.png into the preset's folder."""
    from ..bench.compare import write_comparison
    from ..bench.tables import BenchOptions

    kw = dict(table=table, dataset=dataset, factor=factor, sigma=sigma, quick=quick)
    paper, other = BenchOptions(**kw), BenchOptions(**kw, preset=preset)  # type: ignore[arg-type]
    other.validate()
    if not any(other.out_dir().glob("*.json")):
        raise DeepPriorError(
            f"no records in {other.out_dir()}; run `deepprior bench {table} --preset {preset}` "
            "first"
        )
    md, _, png = write_comparison(paper.out_dir(), other.out_dir(), other.title,
                                  other.spec.protocol["primary"], preset)  # fmt: skip
    click.echo(f"bench {other.name}: wrote {md} and {png}", err=True)
    click.echo(md.read_text())


# --iters counts fit steps in every command; --steps, speed's old spelling, still works.
@click.command(cls=AliasedCommand, aliases={"--json": "--report", "--steps": "--iters"})
@click.option(
    "--size", "sizes", type=int, multiple=True, default=(256,), show_default=True,
    help="Output side in pixels; repeat for several sizes (--size 256 --size 512).",
)  # fmt: skip
@click.option("--task", type=click.Choice(["sr", "denoise"]), default="sr", show_default=True)
@click.option("--preset", default=None, help="Preset of the task (default: paper).")
@click.option("--factor", type=int, default=4, show_default=True, help="SR factor.")
@click.option("--iters", "steps", type=int, default=10, show_default=True,
              help="Timed steps per run.")  # fmt: skip
@click.option("--warmup", type=int, default=3, show_default=True, help="Untimed steps first.")
@click.option(
    "--configs", default="baseline,deepprior", show_default=True,
    help="Comma-separated: baseline, fp32-cl, bf16, bf16-cl, compile, cudagraphs, checkpoint,"
    " deepprior.",
)  # fmt: skip
@option("device")
@option("report", help="Also write the figures as JSON here.")
@task_command
def speed(
    sizes: tuple[int, ...], task: str, preset: str | None, factor: int, steps: int, warmup: int,
    configs: str, device: str, report: str | None,
) -> None:  # fmt: skip
    """Time fit steps: the fp32 eager baseline against deepprior's default path."""
    from ..bench.speed import TABLE_HEADER, format_table, run_speed
    from ..io import atomic_write_text

    if any(s < 16 for s in sizes):
        raise DeepPriorError("--size must be at least 16 px")
    jp = json_output(report, "--report") if report else None
    names = [c.strip() for c in configs.split(",") if c.strip()]
    click.echo(TABLE_HEADER, err=True)
    result = run_speed(
        list(sizes), names, task=task, preset=preset, steps=steps, warmup=warmup,
        factor=factor, device=device, log=lambda line: click.echo(line, err=True),
    )  # fmt: skip
    click.echo(format_table(result))
    if jp is not None:
        atomic_write_text(jp, dumps_strict(result, indent=2) + "\n")


def register(group: click.Group) -> click.Group:
    """Add the ``bench`` group to a click group (the ``deepprior`` CLI, or one in a test).

    Example:
        >>> import click
        >>> g = register(click.Group("deepprior"))
        >>> sorted(g.commands["bench"].commands)
        ['curves', 'denoise', 'holes', 'inpaint', 'report', 'sr', 'text-inpaint']
    """
    group.add_command(bench)
    group.add_command(speed)
    return group
