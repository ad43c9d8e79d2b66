"""Shared pieces of the diagnostics: image preparation, the fit under a prior, figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DeepPriorError
from ..fit import Callback, FitResult, Schedule, fit
from ..memory import keep_cpu_heap_for
from ..nets import create_net, noise_input
from ..ops.priors import with_tv
from ..plan import PRIORS, build_generator, centre_crop

if TYPE_CHECKING:  # typing.Unpack needs Python 3.11
    from typing_extensions import Unpack

__all__ = [
    "DiagnosticResult", "FitOptions", "prepare_image", "fit_image", "fit_diagnostic",
    "labelled_grid", "DIAG_PRIORS",
]  # fmt: skip

DIAG_PRIORS = PRIORS


@dataclass
class DiagnosticResult:
    """The outcome of a pre-image or an activation maximisation.

    Attributes:
        image: the result, (3, H, W) float32 in [0, 1] on the CPU.
        history: per-step ``loss``.
        report: settings and measurements (losses, top-1 classes, timings).
        interrupted: Ctrl-C stopped the fit early; ``image`` is the state at that step.
    """

    image: torch.Tensor
    history: dict[str, list[Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


def prepare_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (shorter side to ``size``, antialiased) and centre-crop to ``size`` x ``size``.

    Args:
        image: (C, H, W) with C = 1 or 3, values in [0, 1].
        size: the side of the square result.

    Returns:
        A (3, size, size) float32 tensor (gray images are repeated to RGB).
    """
    if size < 8:
        raise DeepPriorError(f"--size must be at least 8 px, got {size}")
    img = image.float()
    if img.dim() == 2:
        img = img[None]
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    h, w = img.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = F.interpolate(img[None], size=(nh, nw), mode="bilinear", antialias=True,
                        align_corners=False)[0]  # fmt: skip
    top, left = (nh - size) // 2, (nw - size) // 2
    return out[:, top : top + size, left : left + size].clamp(0, 1).contiguous()


def _pixels_init(size: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    # Mid-gray plus a little noise, so the first gradients are not all alike.
    return (0.5 + 0.1 * (torch.rand(3, *size, generator=gen) - 0.5)).clamp(0.01, 0.99)


def fit_image(
    data_term: nn.Module,
    size: int,
    *,
    prior: str = "dip",
    net: str = "preimage",
    net_kwargs: dict[str, Any] | None = None,
    iters: int = 3100,
    lr: float = 0.001,
    pixel_lr: float = 0.05,
    input_noise: float = 0.0,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    device: str | torch.device = "cpu",
    tv_weight: float = 0.0,
) -> tuple[torch.Tensor, Any, dict[str, Any], torch.Tensor]:
    """Minimise ``data_term(x)`` over images ``x`` of ``size`` x ``size`` under a prior.

    ``dip``: ``x = f_theta(z)``, ``theta`` fitted (the net is built on a canvas that its stride
    divides and the output is centre-cropped). ``tv`` and ``none``: ``x`` is optimised
    directly (behind a sigmoid, so it stays in [0, 1]); ``tv`` adds ``tv_weight`` * TV(x).

    Returns:
        ``(image, FitResult, settings, start)``: the result and the starting image (the
        untrained generator's output, or the initial pixels), both (3, size, size).
    """
    if prior not in DIAG_PRIORS:
        raise DeepPriorError(f"unknown prior {prior!r}; choose one of {', '.join(DIAG_PRIORS)}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if prior == "dip":
        g, canvas = build_generator(net, 32, 3, (size, size), **(net_kwargs or {}))
        z = noise_input(32, canvas, generator=gen)
        schedule = Schedule(iters=iters, lr=lr, input_noise=input_noise, ema=None)
        settings = {"net": net, "net_kwargs": net_kwargs or {}, "lr": lr,
                    "input_noise": input_noise, "canvas": list(canvas)}  # fmt: skip
    else:
        canvas = (size, size)
        g = create_net("pixels", 3, 3, size=canvas, init=_pixels_init(canvas, gen))
        z = torch.zeros(1, 3, *canvas)
        schedule = Schedule(iters=iters, lr=pixel_lr, ema=None)
        settings = {"net": "pixels", "lr": pixel_lr}
    crop = centre_crop(canvas, (size, size))
    with torch.no_grad():
        g.train()
        start = g(z)
        if crop is not None:
            top, left = crop[:2]
            start = start[..., top : top + size, left : left + size]
    weight = tv_weight if prior == "tv" else 0.0
    term = with_tv(data_term, weight)
    keep_cpu_heap_for(g, z, device)  # as a task's fit: large activations stay in the heap
    fr = fit(g, z, term, schedule, crop=crop, callbacks=callbacks, device=device, seed=seed)
    settings.update(iters=iters, tv_weight=weight)
    return fr.image[0].clamp(0, 1), fr, settings, start[0].clamp(0, 1)


class FitOptions(TypedDict, total=False):
    """The keyword options of :func:`fit_image` that a diagnostic passes through unchanged."""

    iters: int
    lr: float
    input_noise: float
    pixel_lr: float
    tv_weight: float
    net: str
    net_kwargs: dict[str, Any] | None
    seed: int
    callbacks: Sequence[Callback]


@dataclass
class DiagnosticFit:
    """A diagnostic's fit: the result, the starting image, the run and the report's fit part.

    Attributes:
        image: the result, (3, size, size) in [0, 1].
        start: the starting image (the untrained generator's output, or the initial pixels).
        run: the :class:`~deepprior.fit.FitResult` (history, steps run, Ctrl-C).
        report: ``prior``, ``size``, ``seed``, the fit's settings, ``iters_run``,
            ``interrupted`` and ``seconds``, in that order.
    """

    image: torch.Tensor
    start: torch.Tensor
    run: FitResult
    report: dict[str, Any]

    def result(self, report: dict[str, Any]) -> DiagnosticResult:
        """The :class:`DiagnosticResult` of this fit with the diagnostic's full ``report``."""
        return DiagnosticResult(image=self.image, history=self.run.history, report=report,
                                interrupted=self.run.interrupted)  # fmt: skip


def fit_diagnostic(
    data_term: nn.Module,
    size: int,
    prior: str,
    *,
    device: str | torch.device,
    defaults: dict[str, Any],
    **options: Unpack[FitOptions],
) -> DiagnosticFit:
    """Run :func:`fit_image` with a diagnostic's ``defaults`` overridden by ``options``.

    Shared by the pre-image and the activation maximisation, so that both take the same fit
    options and report them alike.

    Args:
        data_term: the energy to minimise.
        size: side of the square image.
        prior: ``dip``, ``tv`` or ``none``.
        device: where to fit.
        defaults: the diagnostic's own defaults (e.g. its generator and TV weight).
        options: :class:`FitOptions` given by the caller.

    Returns:
        A :class:`DiagnosticFit`.

    Example:
        >>> fd = fit_diagnostic(term, 64, "tv", device="cpu", defaults={}, iters=10)
        ... # doctest: +SKIP
    """
    opts: dict[str, Any] = {**defaults, **options}
    img, fr, settings, start = fit_image(data_term, size, prior=prior, device=device, **opts)
    report = {"prior": prior, "size": size, "seed": opts.get("seed", 0), **settings,
              "iters_run": fr.iters_run, "interrupted": fr.interrupted,
              "seconds": round(fr.seconds, 3)}  # fmt: skip
    return DiagnosticFit(image=img, start=start, run=fr, report=report)


def labelled_grid(
    cells: Sequence[Sequence[torch.Tensor | None]],
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    *,
    title: str | None = None,
    cell_inches: float = 1.6,
    dpi: int = 100,
) -> torch.Tensor:
    """Draw images in a labelled grid with matplotlib and return the figure as an image.

    Args:
        cells: rows of (3, H, W) images in [0, 1]; ``None`` leaves a cell empty.
        row_labels, col_labels: text left of each row / above each column.
        title: the figure's title.
        cell_inches, dpi: size of one cell.

    Returns:
        The figure, (3, H, W) float32 in [0, 1] (save it with :func:`deepprior.io.save_image`).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = len(cells)
    cols = max(len(r) for r in cells) if rows else 0
    if rows == 0 or cols == 0:
        raise DeepPriorError("nothing to draw")
    fig = Figure(figsize=(cols * cell_inches + 0.6, rows * cell_inches + (0.7 if title else 0.4)),
                 dpi=dpi)  # fmt: skip
    axes = fig.subplots(rows, cols, squeeze=False)
    for i in range(rows):
        for j in range(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            img = cells[i][j] if j < len(cells[i]) else None
            if img is not None:
                arr = img.detach().float().clamp(0, 1).cpu()
                if arr.shape[0] == 1:
                    arr = arr.expand(3, -1, -1)
                ax.imshow(arr.permute(1, 2, 0).numpy(), interpolation="nearest")
            if i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0 and i < len(row_labels):
                ax.set_ylabel(row_labels[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_to_tensor(fig)


def figure_to_tensor(fig: Any) -> torch.Tensor:
    """Render a matplotlib figure (Agg) into a (3, H, W) float32 tensor in [0, 1]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1).float() / 255.0


def tile(images: Sequence[torch.Tensor], ncol: int, pad: int = 2) -> torch.Tensor:
    """Tile equally sized (3, H, W) images row by row with ``pad`` white pixels between."""
    if not images:
        raise DeepPriorError("nothing to tile")
    c, h, w = images[0].shape
    nrow = math.ceil(len(images) / ncol)
    out = torch.ones(c, nrow * h + (nrow - 1) * pad, ncol * w + (ncol - 1) * pad)
    for k, img in enumerate(images):
        r, q = divmod(k, ncol)
        out[:, r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = img
    return out
