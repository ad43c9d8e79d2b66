"""Natural pre-images (paper Figs. 14, 15): min_x ||Phi(x) - Phi(x0)||^2 / ||Phi(x0)||^2.

With the Deep Image Prior ``x = f_theta(z)`` (the ``preimage`` generator: 6 levels,
k=[7,7,5,5,3,3], nearest upsampling, zero padding, LR 0.001, 3100 steps); the baselines
optimise the pixels directly, with a total-variation penalty (``tv``, the TV-norm pre-image)
or with nothing (``none``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .common import DiagnosticResult, FitOptions, fit_diagnostic, prepare_image
from .features import FeatureExtractor

if TYPE_CHECKING:  # typing.Unpack needs Python 3.11
    from typing_extensions import Unpack

__all__ = ["FeatureMatch", "invert", "PREIMAGE_PRESET"]

# Paper §4 / SPEC §3, natural pre-image (AlexNet; VGG used 10000 steps).
PREIMAGE_PRESET: dict[str, Any] = {"net": "preimage", "iters": 3100, "lr": 0.001}
# What :func:`invert` fits with unless told otherwise.
_DEFAULTS: dict[str, Any] = {**PREIMAGE_PRESET, "pixel_lr": 0.05, "tv_weight": 0.05}


class FeatureMatch(nn.Module):
    """E(x) = ||Phi(x) - Phi(x0)||^2 / ||Phi(x0)||^2 (the ``tv`` prior adds its penalty in
    :func:`~deepprior.diagnostics.common.fit_image`)."""

    def __init__(self, phi: FeatureExtractor, target: torch.Tensor):
        super().__init__()
        self.phi = phi
        self.register_buffer("target", target.detach())
        self.register_buffer("norm", target.detach().square().sum().clamp_min(1e-12))

    def feature_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised feature distance alone."""
        return (self.phi(x) - self.target).square().sum() / self.norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_loss(x)


def _top1(phi: FeatureExtractor, x: torch.Tensor) -> tuple[int, float]:
    with torch.no_grad():
        p = phi.logits(x[None].to(phi.mean.device)).softmax(-1)[0]
    k = int(p.argmax())
    return k, float(p[k])


def invert(
    image: torch.Tensor,
    phi: FeatureExtractor,
    *,
    prior: str = "dip",
    size: int | None = None,
    device: str | torch.device = "cpu",
    **options: Unpack[FitOptions],
) -> DiagnosticResult:
    """Reconstruct an image from its features at one layer (a natural pre-image).

    Args:
        image: the original x0, (C, H, W) in [0, 1]; resized and centre-cropped to ``size``.
        phi: the classifier cut at the layer to invert (:func:`load_extractor`).
        prior: ``dip`` (the generator), ``tv`` (pixels + ``tv_weight`` * TV) or ``none``.
        size: side of the square image (default: the classifier's input size).
        device: where to fit.
        options: the :class:`~deepprior.diagnostics.common.FitOptions`:
            ``iters``, ``lr``: Adam steps and learning rate of the generator (default: the
            paper's 3100, 0.001); ``pixel_lr``: learning rate when the pixels are optimised
            directly (``tv``/``none``, default 0.05); ``tv_weight``: weight of the TV penalty
            of the ``tv`` prior (default 0.05); ``net``, ``net_kwargs``: the generator
            (default: the paper's ``preimage`` net); ``seed``: seeds the generator's weights
            and ``z`` (default 0); ``callbacks``: of the fitting loop (e.g. a progress bar).

    Returns:
        A :class:`DiagnosticResult`; its report holds ``initial_loss``, ``final_loss`` (the
        normalised feature distance of the start and of the result), ``reduction`` (their
        ratio) and, when the classifier's logits are available, the top-1 class of the
        original and of the pre-image.

    Example:
        >>> from deepprior.diagnostics import load_extractor, invert  # doctest: +SKIP
        >>> phi = load_extractor("efficientnet-lite0", "block5")  # doctest: +SKIP
        >>> res = invert(x0, phi, size=128, iters=200, lr=0.01)  # doctest: +SKIP
    """
    size = phi.backbone.side(size)
    x0 = prepare_image(image, size)
    phi = phi.to(device)
    with torch.no_grad():
        target = phi(x0[None].to(device))
    term = FeatureMatch(phi, target)
    fd = fit_diagnostic(term, size, prior, device=device, defaults=_DEFAULTS, **options)
    with torch.no_grad():  # the feature term alone, at the start and for the result
        initial = float(term.feature_loss(fd.start[None].to(device)))
        final = float(term.feature_loss(fd.image[None].to(device)))
    report: dict[str, Any] = {
        "what": "pre-image",
        "net": phi.name,
        "layer": phi.layer,
        **fd.report,
        "initial_loss": initial,
        "final_loss": final,
        "reduction": initial / max(final, 1e-12),
    }
    try:
        report["top1_original"] = _top1(phi, x0)
        report["top1_preimage"] = _top1(phi, fd.image)
    except Exception:  # a TorchScript backbone whose output is not class logits
        pass
    return fd.result(report)
