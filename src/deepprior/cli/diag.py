"""Network diagnostics on the command line: ``invert``, ``actmax``, ``samples``, ``curves``.

``register(cli)`` adds the four commands to the ``deepprior`` click group. Like the
restoration commands they never overwrite an input, write every file atomically, show a
progress bar, save what they have on Ctrl-C (exit status 130) and turn bad input into a
one-line error with exit status 2.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import DeepPriorError
from ..finite import dumps_strict
from .common import (
    EXIT_INTERRUPTED,
    AliasedCommand,
    option,
    parse_key_values,
    sigterm_as_interrupt,
    task_command,
)
from .types import FLOAT

__all__ = ["register", "invert", "actmax", "samples", "curves"]

DEFAULT_NET = "efficientnet-lite0"
# --net is the generator in the restoration commands; here the classifier is --classifier, and
# --net, its old spelling, still works (hidden). The generator here is --gen-net.
CLASSIFIER_ALIAS = {"--net": "--classifier"}


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _split(values: Sequence[str]) -> list[str]:
    """Repeatable options that also take comma-separated lists: ``--layer a,b --layer c``."""
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return out


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(v) for v in values):
        raise DeepPriorError(f"--{what} needs finite numbers separated by commas, got {text!r}")
    return values


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _check_text_output(path: str | Path, inputs: Sequence[str | Path], suffix: str) -> Path:
    """Check a CSV/JSON output: right suffix, its folder exists, and it is not an input."""
    from ..io import _same_file  # the same check as for images

    p = Path(path)
    if p.suffix.lower() != suffix:
        raise DeepPriorError(f"{p} must end in {suffix}")
    if p.is_dir():
        raise DeepPriorError(f"cannot write {p}: it is a directory; give a file name")
    if not p.resolve().parent.is_dir():
        raise DeepPriorError(f"cannot write {p}: directory {p.parent} does not exist")
    for inp in inputs:
        if _same_file(p, Path(inp)):
            raise DeepPriorError(f"refusing to overwrite the input {inp}; choose another path")
    return p


def _progress(desc: str, iters: int, quiet: bool) -> list[Any]:
    if quiet:
        return []
    from ..callbacks import ProgressBar

    return [ProgressBar(every=max(1, min(25, iters // 100 or 1)), desc=desc)]


def _device(name: str) -> Any:
    from ..device import select_device

    return select_device(name)


def extractor_options(fn: Callable) -> Callable:
    """Options choosing the pretrained classifier."""
    options = [
        click.option(
            "--classifier", "net_name", default=DEFAULT_NET, show_default=True,
            help="Classifier: efficientnet-lite0, alexnet, vgg16, vgg19 (torchvision), a "
            "TorchScript .pt file or a torch.export .pt2 file.",
        ),
        click.option("--weights", default=None, help="Local state_dict for the classifier."),
        click.option(
            "--download", is_flag=True,
            help="torchvision models: download missing ImageNet weights into torch's cache.",
        ),
        click.option("--mean", default=None, help="Override the normalisation: R,G,B in [0,1]."),
        click.option("--std", default=None, help="Override the normalisation: R,G,B."),
    ]  # fmt: skip
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def fit_options(fn: Callable) -> Callable:
    """Options of the fit shared by ``invert`` and ``actmax``."""
    options = [
        click.option("-o", "--output", required=True, help="Output image (or figure) path."),
        click.option(
            "--prior", "priors", multiple=True, default=("dip",), show_default=True,
            help="dip, tv or none; repeat (or comma-separate) for several side by side.",
        ),
        click.option("--iters", type=int, default=3100, show_default=True,
                     help="Fitting steps (the paper's preset)."),
        click.option("--lr", type=FLOAT, default=0.001, show_default=True,
                     help="Adam learning rate of the generator (the paper's preset)."),
        click.option("--pixel-lr", type=FLOAT, default=0.05, show_default=True,
                     help="Learning rate of the pixel baselines (tv, none)."),
        click.option("--size", type=int, default=None,
                     help="Side of the image in px (default: the classifier's input size)."),
        click.option("--gen-net", default=None, help="Generator (default: the paper's)."),
        option("net_args"),
        option("seed"),
        option("device"),
        click.option("--grid", is_flag=True,
                     help="Write one labelled figure of all runs to OUTPUT (each run also "
                     "goes to OUTPUT's name + '.<what>.<prior>.png')."),
        option("report"),
        option("quiet"),
    ]  # fmt: skip
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _backbone(opts: dict[str, Any]) -> Any:
    from ..diagnostics import load_backbone

    return load_backbone(
        opts["net_name"], weights=opts["weights"], allow_download=opts["download"],
        mean=_floats(opts["mean"], "mean"), std=_floats(opts["std"], "std"),
    )  # fmt: skip


def _priors(values: Sequence[str]) -> list[str]:
    from ..diagnostics import DIAG_PRIORS

    priors = _split(values) or ["dip"]
    for p in priors:
        if p not in DIAG_PRIORS:
            raise DeepPriorError(f"unknown prior {p!r}; choose from {', '.join(DIAG_PRIORS)}")
    return list(dict.fromkeys(priors))


def _plan_outputs(
    out: str, keys: list[tuple[str, str]], grid: bool, inputs: Sequence[str]
) -> tuple[dict[tuple[str, str], Path], Path | None]:
    """Where each run's image goes, and the grid figure (checked before any fitting)."""
    from ..io import check_output_path

    base = check_output_path(out, inputs)
    if len(keys) == 1 and not grid:
        return {keys[0]: base}, None
    paths = {}
    for what, prior in keys:
        p = base.with_name(f"{base.stem}.{_slug(what)}.{prior}{base.suffix}")
        paths[(what, prior)] = check_output_path(p, inputs)
    return paths, (base if grid else None)


def _run_all(
    runs: list[tuple[tuple[str, str], Callable[[list[Any]], Any]]],
    paths: dict[tuple[str, str], Path],
    quiet: bool,
    iters: int,
) -> tuple[dict[tuple[str, str], Any], bool]:
    """Run the fits in order, saving each result as it comes; stop at the first Ctrl-C."""
    from ..io import save_image

    done: dict[tuple[str, str], Any] = {}
    with sigterm_as_interrupt():
        for key, run in runs:
            res = run(_progress(f"{key[0]} [{key[1]}]", iters, quiet))
            save_image(res.image, paths[key])
            res.report["output"] = str(paths[key])
            done[key] = res
            if res.interrupted:
                return done, True
    return done, False


def _finish(
    done: dict, grid_path: Path | None, figure: Callable[[], Any], report_path: Path | None,
    extra: dict[str, Any], interrupted: bool, quiet: bool, summary: Callable[[Any], str],
) -> None:  # fmt: skip
    from ..io import atomic_write_text, save_image

    if grid_path is not None and done:
        save_image(figure(), grid_path)
    if report_path is not None:
        report = {
            "command": ["deepprior", *sys.argv[1:]],
            **extra,
            "grid": str(grid_path) if grid_path else None,
            "runs": [r.report for r in done.values()],
        }
        atomic_write_text(report_path, dumps_strict(report, indent=2, default=str) + "\n")
    if not quiet or interrupted:
        for res in done.values():
            click.echo(summary(res), err=True)
        if grid_path is not None and done:
            click.echo(f"wrote {grid_path}", err=True)
    if interrupted:
        click.echo("deepprior: interrupted; the results so far are saved", err=True)
        sys.exit(EXIT_INTERRUPTED)


# --------------------------------------------------------------------------------------------
# invert
# --------------------------------------------------------------------------------------------


@click.command(cls=AliasedCommand, aliases=CLASSIFIER_ALIAS)
@click.argument("image")
@click.option(
    "--layer", "layers", multiple=True, default=None,
    help="Layer to invert (default: the logits); repeat or comma-separate for several.",
)  # fmt: skip
@click.option("--tv-weight", type=FLOAT, default=0.05, show_default=True,
              help="Weight of the TV penalty of --prior tv.")  # fmt: skip
@extractor_options
@fit_options
@task_command
def invert(image: str, layers: tuple[str, ...], tv_weight: float, **opts: Any) -> None:
    """Natural pre-image: an image whose features at --layer match IMAGE's (paper Figs. 14-15).

    Minimises ||Phi(x) - Phi(IMAGE)||^2 / ||Phi(IMAGE)||^2 with x = f_theta(z) (--prior dip,
    the paper's pre-image net), or over pixels with a TV penalty (tv) or none (none).
    """
    from ..diagnostics import FeatureExtractor, labelled_grid, prepare_image
    from ..diagnostics import invert as run_invert
    from ..io import load_image

    priors = _priors(opts["priors"])
    x0 = load_image(image, channels=3)
    bb = _backbone(opts)
    names = _split(layers) or [bb.logits]
    phis = {name: FeatureExtractor(bb, name) for name in names}  # checks every layer first
    size = bb.side(opts["size"])
    keys = [(name, prior) for name in names for prior in priors]
    paths, grid_path = _plan_outputs(opts["output"], keys, opts["grid"], [image])
    report_path = _check_text_output(opts["report"], [image], ".json") if opts["report"] else None
    dev = _device(opts["device"])
    net_kwargs = parse_key_values(opts["net_args"])
    start = time.time()

    def make(name: str, prior: str) -> Callable[[list[Any]], Any]:
        return lambda cbs: run_invert(
            x0, phis[name], prior=prior, size=size, iters=opts["iters"], lr=opts["lr"],
            pixel_lr=opts["pixel_lr"], tv_weight=tv_weight,
            net=opts["gen_net"] or "preimage", net_kwargs=net_kwargs, seed=opts["seed"],
            callbacks=cbs, device=dev,
        )  # fmt: skip

    done, interrupted = _run_all([(k, make(*k)) for k in keys], paths, opts["quiet"],
                                 opts["iters"])  # fmt: skip

    def figure() -> Any:
        original = prepare_image(x0, size)
        cells = [[original] + [done[(n, p)].image if (n, p) in done else None for n in names]
                 for p in priors]  # fmt: skip
        return labelled_grid(cells, [f"prior: {p}" for p in priors], ["original", *names],
                             title=f"Pre-images, {bb.name}")  # fmt: skip

    def summary(res: Any) -> str:
        r = res.report
        text = (
            f"wrote {r['output']}: {r['layer']} [{r['prior']}], feature loss "
            f"{r['initial_loss']:.3g} -> {r['final_loss']:.3g} (x{r['reduction']:.1f} lower)"
        )
        if "top1_preimage" in r:
            k0, k1 = r["top1_original"][0], r["top1_preimage"][0]
            text += f"; top-1 {k0} -> {k1}"
        return text  # fmt: skip

    extra = {"what": "invert", "input": image, "net": bb.name, "size": size,
             "wall_seconds": round(time.time() - start, 3)}  # fmt: skip
    _finish(done, grid_path, figure, report_path, extra, interrupted, opts["quiet"], summary)


# --------------------------------------------------------------------------------------------
# actmax
# --------------------------------------------------------------------------------------------


@click.command(cls=AliasedCommand, aliases=CLASSIFIER_ALIAS)
@click.option(
    "--class",
    "classes",
    multiple=True,
    help="Class index or ImageNet name (e.g. 100 or 'black swan'); repeatable.",
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    metavar="LAYER:K",
    help="Maximise the centre of feature map K of LAYER; repeatable.",
)
@click.option(
    "--input-noise",
    type=FLOAT,
    default=0.03,
    show_default=True,
    help="sigma_p of the z noise (the paper's preset).",
)
@click.option(
    "--tv-weight",
    type=FLOAT,
    default=1.0,
    show_default=True,
    help="Weight of the TV penalty of --prior tv.",
)
@extractor_options
@fit_options
@task_command
def actmax(
    classes: tuple[str, ...], channels: tuple[str, ...], input_noise: float, tv_weight: float,
    **opts: Any,
) -> None:  # fmt: skip
    """Activation maximisation: an image that excites a class or a feature map (Figs. 16-17).

    Minimises -Phi(x)_m: a class logit (--class C) or the centre of feature map K of a layer
    (--channel LAYER:K), with x = f_theta(z) (--prior dip, the paper's net) or over pixels
    with a TV penalty (--prior tv).
    """
    from ..diagnostics import (
        FeatureExtractor,
        activation_maximization,
        class_name,
        labelled_grid,
        parse_channel,
        resolve_class,
    )

    cls_list = [c.strip() for c in classes if c.strip()]
    ch_list = _split(channels)
    if not cls_list and not ch_list:
        raise DeepPriorError("say what to maximise: --class C and/or --channel LAYER:K")
    priors = _priors(opts["priors"])
    bb = _backbone(opts)
    targets: list[tuple[str, dict[str, Any]]] = []
    for c in cls_list:
        k = resolve_class(c, bb.num_classes)  # unknown class: fails before any fitting
        targets.append((f"class{k}", {"cls": k}))
    for spec in ch_list:
        layer, k = parse_channel(spec)
        FeatureExtractor(bb, layer)  # unknown layer: fails before any fitting
        targets.append((f"{layer}-{k}", {"channel": spec}))
    keys = [(label, prior) for label, _ in targets for prior in priors]
    paths, grid_path = _plan_outputs(opts["output"], keys, opts["grid"], [])
    report_path = _check_text_output(opts["report"], [], ".json") if opts["report"] else None
    dev = _device(opts["device"])
    net_kwargs = parse_key_values(opts["net_args"])
    kw = dict(targets)
    start = time.time()

    def make(label: str, prior: str) -> Callable[[list[Any]], Any]:
        return lambda cbs: activation_maximization(
            bb, **kw[label], prior=prior, size=opts["size"], iters=opts["iters"], lr=opts["lr"],
            input_noise=input_noise, pixel_lr=opts["pixel_lr"], tv_weight=tv_weight,
            net=opts["gen_net"] or "actmax", net_kwargs=net_kwargs, seed=opts["seed"],
            callbacks=cbs, device=dev,
        )  # fmt: skip

    done, interrupted = _run_all([(k, make(*k)) for k in keys], paths, opts["quiet"],
                                 opts["iters"])  # fmt: skip

    def col_label(label: str) -> str:
        if "cls" in kw[label]:
            k = kw[label]["cls"]
            return f"{k}: {class_name(k, bb.num_classes)}"
        return kw[label]["channel"]

    def figure() -> Any:
        cells = [[done[(t, p)].image if (t, p) in done else None for t, _ in targets]
                 for p in priors]  # fmt: skip
        return labelled_grid(cells, [f"prior: {p}" for p in priors],
                             [col_label(t) for t, _ in targets],
                             title=f"Activation maximisation, {bb.name}")  # fmt: skip

    def summary(res: Any) -> str:
        r = res.report
        return (f"wrote {r['output']}: {r['description']} [{r['prior']}], activation "
                f"{r['initial_activation']:.3g} -> {r['final_activation']:.3g}; top-1 "
                f"{r['top1']} ({r['top1_name']}, p={r['top1_prob']:.2f})")  # fmt: skip

    extra = {"what": "actmax", "net": bb.name, "wall_seconds": round(time.time() - start, 3)}
    _finish(done, grid_path, figure, report_path, extra, interrupted, opts["quiet"], summary)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------


@click.command()
@click.option("-o", "--output", required=True, help="Where to write the grid (PNG).")
@click.option("--size", type=int, default=128, show_default=True, help="Side of each sample.")
@click.option("--depth", "depths", type=int, multiple=True, default=(1, 3, 5), show_default=True,
              help="Hourglass depths (columns); repeatable.")  # fmt: skip
@click.option("--width", type=int, default=128, show_default=True, help="Filters per level.")
@option("seed")
@click.option("--plain", is_flag=True,
              help="Tile the samples without labels (rows: no skip/skip x bilinear/nearest; "
              "columns: depths; 2 px white gaps).")  # fmt: skip
@option("quiet", help="No summary.")
@task_command
def samples(
    output: str, size: int, depths: tuple[int, ...], width: int, seed: int, plain: bool,
    quiet: bool,
) -> None:  # fmt: skip
    """Samples of the prior: f_theta(z) for random theta (paper Fig 5).

    Rows: hourglass without and with skip connections, bilinear and nearest upsampling;
    columns: depth 1, 3 and 5 (--depth).
    """
    from ..diagnostics import labelled_grid, prior_samples, tile
    from ..io import check_output_path, save_image

    out = check_output_path(output, [])
    if width < 1:
        raise DeepPriorError(f"--width must be >= 1, got {width}")
    s = prior_samples(size, depths=depths, width=width, seed=seed)
    if plain:
        fig = tile([img for row in s.images for img in row], ncol=len(s.col_labels))
    else:
        fig = labelled_grid(s.images, s.row_labels, s.col_labels,
                            title="Samples of the prior: f_theta(z), random theta")  # fmt: skip
    save_image(fig, out)
    if not quiet:
        click.echo(f"wrote {out} ({fig.shape[-1]}x{fig.shape[-2]} px; rows: "
                   f"{'; '.join(s.row_labels)}; columns: {', '.join(s.col_labels)})",
                   err=True)  # fmt: skip


# --------------------------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------------------------


@click.command()
@click.argument("image")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="OUT_PREFIX",
    help="Writes OUT_PREFIX.png (the plot) and OUT_PREFIX.csv (the losses).",
)
@click.option("--iters", type=int, default=2000, show_default=True, help="Steps of each fit.")
@click.option("--lr", type=FLOAT, default=0.01, show_default=True, help="Adam learning rate.")
@click.option(
    "--size",
    type=int,
    default=None,
    help="Resize and centre-crop IMAGE to a square of this side first.",
)
@click.option(
    "--noise-sigma",
    type=FLOAT,
    default=0.1,
    show_default=True,
    help="Std of the noise added for the 'image + noise' target.",
)
@click.option("--gen-net", default="skip", show_default=True, help="Generator.")
@option("net_args")
@option("seed")
@option("device")
@option("quiet")
@task_command
def curves(
    image: str, output: str, iters: int, lr: float, size: int | None, noise_sigma: float,
    gen_net: str, net_args: tuple[str, ...], seed: int, device: str, quiet: bool,
) -> None:  # fmt: skip
    """Fitting speed (paper Fig 4): loss vs step for IMAGE, IMAGE + noise, IMAGE with its
    pixels shuffled, and white noise, all fitted by the same randomly initialised net."""
    from ..diagnostics import fitting_curves, plot_curves, prepare_image
    from ..io import atomic_write_text, check_output_path, load_image, save_image

    prefix = output[:-4] if output.lower().endswith((".png", ".csv")) else output
    png = check_output_path(prefix + ".png", [image])
    csv = _check_text_output(prefix + ".csv", [image], ".csv")
    if noise_sigma < 0:
        raise DeepPriorError(f"--noise-sigma must be >= 0, got {noise_sigma}")
    img = load_image(image)
    if size is not None:
        img = prepare_image(img, size)[: img.shape[0]]
    dev = _device(device)
    with sigterm_as_interrupt():
        fc = fitting_curves(
            img, iters=iters, lr=lr, net=gen_net, net_kwargs=parse_key_values(net_args),
            noise_sigma=noise_sigma, seed=seed, device=dev,
            callbacks_for=lambda name: _progress(name, iters, quiet),
        )  # fmt: skip
    atomic_write_text(csv, fc.to_csv())
    save_image(plot_curves(fc), png)
    if not quiet or fc.interrupted:
        last = ", ".join(f"{k} {v[-1]:.3g}" for k, v in fc.losses.items() if v)
        click.echo(f"wrote {png} and {csv}; final loss: {last}", err=True)
    if fc.interrupted:
        click.echo("deepprior: interrupted; the curves so far are saved", err=True)
        sys.exit(EXIT_INTERRUPTED)


def register(group: click.Group) -> click.Group:
    """Add ``invert``, ``actmax``, ``samples`` and ``curves`` to a click group.

    Args:
        group: the ``deepprior`` group (or any click group, e.g. in tests).

    Returns:
        The same group.

    Example:
        >>> import click
        >>> g = register(click.Group("deepprior"))
        >>> sorted(g.commands)
        ['actmax', 'curves', 'invert', 'samples']
    """
    for cmd in (invert, actmax, samples, curves):
        group.add_command(cmd)
    return group
