"""Activation maximisation (paper Figs. 16, 17): min_x -Phi(x)_m under a prior.

``m`` is a class logit, or the centre of one feature map of a layer. With the Deep Image
Prior ``x = f_theta(z)`` (the ``actmax`` generator: k=[5,3,5,5,3,5], skips [0,4,4,4,4,4],
bilinear upsampling, zero padding, sigma_p = 0.03, LR 0.001, 3100 steps); the ``tv`` baseline
optimises the pixels with a total-variation penalty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import DeepPriorError
from .classes import class_name, resolve_class
from .common import DiagnosticFit, DiagnosticResult, FitOptions, fit_diagnostic
from .features import Backbone, FeatureExtractor

if TYPE_CHECKING:  # typing.Unpack needs Python 3.11
    from typing_extensions import Unpack

__all__ = ["ActTarget", "Activation", "activation_maximization", "parse_channel", "ACTMAX_PRESET"]

# Paper §4 / SPEC §3, activation maximisation.
ACTMAX_PRESET: dict[str, Any] = {"net": "actmax", "iters": 3100, "lr": 0.001, "input_noise": 0.03}
# What :func:`activation_maximization` fits with unless told otherwise.
_DEFAULTS: dict[str, Any] = {**ACTMAX_PRESET, "pixel_lr": 0.05, "tv_weight": 1.0}


@dataclass
class ActTarget:
    """What to maximise: class ``index`` of the logits, or channel ``index`` of ``layer``."""

    layer: str
    index: int
    kind: str  # "class" or "channel"

    def describe(self, num_classes: int = 1000) -> str:
        if self.kind == "class":
            return f"class {self.index} ({class_name(self.index, num_classes)})"
        return f"channel {self.index} of {self.layer}"


def parse_channel(spec: str) -> tuple[str, int]:
    """``"block5:12"`` -> ``("block5", 12)``: a layer and a channel index."""
    layer, sep, k = str(spec).rpartition(":")
    if not sep or not layer or not k.strip().isdigit():
        raise DeepPriorError(f"--channel {spec!r} must look like LAYER:K, e.g. block5:12")
    return layer.strip(), int(k)


class Activation(nn.Module):
    """E(x) = -Phi(x)_m; ``m`` is a logit or a feature map's centre (the ``tv`` prior adds
    its penalty in :func:`~deepprior.diagnostics.common.fit_image`)."""

    def __init__(self, phi: FeatureExtractor, index: int) -> None:
        super().__init__()
        self.phi = phi
        self.index = index

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        f = self.phi(x)
        if f.dim() == 4:
            return f[:, self.index, f.shape[-2] // 2, f.shape[-1] // 2].mean()
        return f.reshape(f.shape[0], -1)[:, self.index].mean()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.activation(x)


def _target(backbone: Backbone, cls: str | int | None, channel: str | None) -> ActTarget:
    """The target of ``--class`` or ``--channel`` (exactly one of them)."""
    if (cls is None) == (channel is None):
        raise DeepPriorError("give either --class C or --channel LAYER:K")
    if cls is not None:
        return ActTarget(backbone.logits, resolve_class(cls, backbone.num_classes), "class")
    layer, k = parse_channel(channel)  # type: ignore[arg-type]
    return ActTarget(layer, k, "channel")


def _check_index(
    phi: FeatureExtractor, target: ActTarget, backbone: Backbone, size: int, device: Any
) -> None:
    """Run the layer once at ``size`` and check that ``target.index`` is one of its channels."""
    with torch.no_grad():  # learn the layer's shape (and check that it runs at this size)
        probe = phi(torch.full((1, 3, size, size), 0.5, device=device))
    n_ch = probe.shape[1]
    if target.kind == "class" and n_ch != backbone.num_classes:
        n_ch = probe.reshape(1, -1).shape[1]
    if not 0 <= target.index < n_ch:
        raise DeepPriorError(
            f"channel {target.index} is out of range; layer {target.layer} of {backbone.name} "
            f"has channels 0..{n_ch - 1}"
        )


def _measure(
    term: Activation, fd: DiagnosticFit, target: ActTarget, num_classes: int, device: Any
) -> dict[str, Any]:
    """The activation at the start and at the end, and the classifier's top-1 of the result."""
    with torch.no_grad():
        act0 = float(term.activation(fd.start[None].to(device)))
        act1 = float(term.activation(fd.image[None].to(device)))
        p = term.phi.logits(fd.image[None].to(device)).softmax(-1)[0]
    top1 = int(p.argmax())
    out: dict[str, Any] = {
        "initial_activation": act0,
        "final_activation": act1,
        "top1": top1,
        "top1_name": class_name(top1, num_classes),
        "top1_prob": float(p[top1]),
    }
    if target.kind == "class":
        out["target_prob"] = float(p[target.index])
    return out


def activation_maximization(
    backbone: Backbone,
    *,
    cls: str | int | None = None,
    channel: str | None = None,
    prior: str = "dip",
    size: int | None = None,
    device: str | torch.device = "cpu",
    **options: Unpack[FitOptions],
) -> DiagnosticResult:
    """Find an image that excites a class logit or a feature map's centre.

    Args:
        backbone: the classifier (:func:`load_backbone`).
        cls: a class index or ImageNet name (maximises its logit); or
        channel: ``"LAYER:K"``: maximises the centre of feature map K of LAYER.
        prior: ``dip`` (the generator) or ``tv`` (pixels + ``tv_weight`` * TV); ``none`` too.
        size: side of the square image (default: the classifier's input size).
        device: as for :func:`deepprior.fit.fit`.
        options: the :class:`~deepprior.diagnostics.common.FitOptions`:
            ``iters``, ``lr``, ``input_noise``: the generator's schedule (default: the
            paper's 3100, 0.001, 0.03); ``pixel_lr``: learning rate of the pixel baselines
            (default 0.05); ``tv_weight``: weight of the TV penalty (default 1.0); ``net``,
            ``net_kwargs``: the generator (default: the paper's ``actmax`` net); ``seed``:
            seeds the weights, ``z`` and the input noise (default 0); ``callbacks``: as for
            :func:`deepprior.fit.fit`.

    Returns:
        A :class:`DiagnosticResult`; its report holds the target, the activation at the start
        and at the end, and the classifier's top-1 class of the result.

    Example:
        >>> bb = load_backbone("efficientnet-lite0")  # doctest: +SKIP
        >>> res = activation_maximization(bb, cls="black swan", size=128, iters=100, lr=0.01)
        ... # doctest: +SKIP
    """
    target = _target(backbone, cls, channel)
    phi = FeatureExtractor(backbone, target.layer).to(device)
    size = backbone.side(size)
    _check_index(phi, target, backbone, size, device)
    term = Activation(phi, target.index)
    fd = fit_diagnostic(term, size, prior, device=device, defaults=_DEFAULTS, **options)
    report: dict[str, Any] = {
        "what": "activation maximisation",
        "net": backbone.name,
        "target": target.kind,
        "layer": target.layer,
        "index": target.index,
        "description": target.describe(backbone.num_classes),
        **fd.report,
        **_measure(term, fd, target, backbone.num_classes, device),
    }
    return fd.result(report)
