"""Fitting curves (paper Fig. 4): how fast the generator fits an image, noise, and both.

The same net (same initial theta and ``z``) fits four targets: the natural image, the image
plus i.i.d. Gaussian noise, the image with its pixels randomly permuted, and white noise.
The loss ``||f_theta(z) - x0||^2`` (mean over pixels) falls much faster for the first two:
the "high noise impedance" that makes early stopping a regulariser.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import DeepPriorError
from ..fit import Callback, Schedule, fit
from ..memory import keep_cpu_heap_for
from ..nets import canvas_size, create_net, noise_input

__all__ = ["FittingCurves", "CURVE_TARGETS", "curve_targets", "fitting_curves", "plot_curves"]

CURVE_TARGETS = ("natural", "noisy", "shuffled", "noise")
_LABELS = {
    "natural": "image",
    "noisy": "image + noise",
    "shuffled": "image, pixels shuffled",
    "noise": "white noise",
}


@dataclass
class FittingCurves:
    """Loss per step for each target.

    Attributes:
        losses: target name -> mean squared error after each step (``CURVE_TARGETS`` order).
        settings: net, schedule, noise level, seed.
        interrupted: Ctrl-C stopped a fit; later targets were skipped.
    """

    losses: dict[str, list[float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def to_csv(self) -> str:
        """``step,natural,noisy,shuffled,noise`` rows (an empty cell where a fit stopped)."""
        names = list(self.losses)
        n = max((len(v) for v in self.losses.values()), default=0)
        buf = io.StringIO()
        buf.write(",".join(["step", *names]) + "\n")
        for i in range(n):
            cells = [str(i + 1)]
            for name in names:
                v = self.losses[name]
                cells.append(f"{v[i]:.6g}" if i < len(v) else "")
            buf.write(",".join(cells) + "\n")
        return buf.getvalue()


def curve_targets(
    image: torch.Tensor, *, noise_sigma: float = 0.1, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The four images of Fig. 4 for ``image`` (C, H, W) in [0, 1].

    ``noisy`` adds N(0, noise_sigma^2) (clipped to [0, 1]); ``shuffled`` permutes the pixel
    positions (all channels together); ``noise`` is uniform white noise of the same shape.
    """
    if image.dim() != 3:
        raise DeepPriorError(f"expected an image (C, H, W), got shape {tuple(image.shape)}")
    gen = torch.Generator().manual_seed(seed)
    c, h, w = image.shape
    noisy = (image + noise_sigma * torch.randn(image.shape, generator=gen)).clamp(0, 1)
    perm = torch.randperm(h * w, generator=gen)
    shuffled = image.reshape(c, -1)[:, perm].reshape(c, h, w)
    noise = torch.rand(image.shape, generator=gen)
    return {"natural": image, "noisy": noisy, "shuffled": shuffled, "noise": noise}


class _MSE(torch.nn.Module):
    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.target).square().mean()


def fitting_curves(
    image: torch.Tensor,
    *,
    iters: int = 2000,
    lr: float = 0.01,
    net: str = "skip",
    net_kwargs: dict[str, Any] | None = None,
    noise_sigma: float = 0.1,
    targets: Sequence[str] = CURVE_TARGETS,
    seed: int = 0,
    device: str | torch.device = "cpu",
    callbacks_for: Callable[[str], Sequence[Callback]] | None = None,
) -> FittingCurves:
    """Fit the same randomly initialised generator to each target and record the loss.

    Args:
        image: the natural image, (C, H, W) in [0, 1].
        iters, lr: Adam steps and learning rate of each fit (no input noise, no EMA).
        net, net_kwargs: the generator (default: the paper's SR/denoising net).
        noise_sigma: standard deviation of the noise of the ``noisy`` target.
        targets: which of ``natural``, ``noisy``, ``shuffled``, ``noise`` to fit.
        seed: seeds the weights, ``z`` and the targets' noise.
        device: where to fit.
        callbacks_for: target name -> callbacks for its fit (e.g. a progress bar).

    Returns:
        A :class:`FittingCurves`.

    Example:
        >>> x = torch.rand(3, 32, 32)
        >>> fc = fitting_curves(x, iters=3, net_kwargs={"n_d": [8, 8], "depth": 2, "n_s": 2})
        >>> sorted(fc.losses), len(fc.losses["natural"])
        (['natural', 'noise', 'noisy', 'shuffled'], 3)
    """
    unknown = [t for t in targets if t not in CURVE_TARGETS]
    if unknown:
        raise DeepPriorError(f"unknown target {unknown[0]!r}; choose from {CURVE_TARGETS}")
    imgs = curve_targets(image.float(), noise_sigma=noise_sigma, seed=seed)
    c, h, w = image.shape
    out = FittingCurves(settings={
        "net": net, "net_kwargs": net_kwargs or {}, "iters": iters, "lr": lr,
        "noise_sigma": noise_sigma, "seed": seed, "image_size": [w, h],
    })  # fmt: skip
    for name in targets:
        torch.manual_seed(seed)  # the same initial theta for every target
        g = create_net(net, 32, c, **(net_kwargs or {}))
        canvas = canvas_size((h, w), getattr(g, "stride", 1))
        z = noise_input(32, canvas, generator=torch.Generator().manual_seed(seed))
        top, left = (canvas[0] - h) // 2, (canvas[1] - w) // 2
        crop = (top, left, h, w) if tuple(canvas) != (h, w) else None
        cbs = list(callbacks_for(name)) if callbacks_for else []
        keep_cpu_heap_for(g, z, device)  # as a task's fit: large activations stay in the heap
        fr = fit(g, z, _MSE(imgs[name]), Schedule(iters=iters, lr=lr, ema=None), crop=crop,
                 callbacks=cbs, device=device, seed=seed)  # fmt: skip
        out.losses[name] = [float(v) for v in fr.history.get("loss", [])]
        if fr.interrupted:
            out.interrupted = True
            break
    return out


def plot_curves(curves: FittingCurves, title: str | None = None) -> torch.Tensor:
    """Plot loss vs step (log-scale loss) and return the figure as a (3, H, W) image."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from .common import figure_to_tensor

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    for name, values in curves.losses.items():
        if values:
            ax.plot(range(1, len(values) + 1), values, label=_LABELS.get(name, name), lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE  ||f(z) - x0||^2")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Fitting speed (Deep Image Prior, Fig. 4)", fontsize=10)
    fig.tight_layout()
    return figure_to_tensor(fig)
