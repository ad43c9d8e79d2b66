"""Activation maximisation (paper Figs. 16, 17): min_x -Phi(x)_m under a prior.

``m`` is a class logit, or the centre of one feature map of a layer. With the Deep Image
Prior ``x = f_theta(z)`` (the ``actmax`` generator: k=[5,3,5,5,3,5], skips [0,4,4,4,4,4],
bilinear upsampling, zero padding, sigma_p = 0.03, LR 0.001, 3100 steps); the ``tv`` baseline
optimises the pixels with a total-variation penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import DeepPriorError
from ..fit import Callback
from .classes import class_name, resolve_class
from .common import DiagnosticResult, fit_image
from .features import Backbone, FeatureExtractor

__all__ = ["ActTarget", "Activation", "activation_maximization", "parse_channel", "ACTMAX_PRESET"]

# Paper §4 / SPEC §3, activation maximisation.
ACTMAX_PRESET: dict[str, Any] = {"net": "actmax", "iters": 3100, "lr": 0.001, "input_noise": 0.03}


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


def activation_maximization(
    backbone: Backbone,
    *,
    cls: str | int | None = None,
    channel: str | None = None,
    prior: str = "dip",
    size: int | None = None,
    iters: int = ACTMAX_PRESET["iters"],
    lr: float = ACTMAX_PRESET["lr"],
    input_noise: float = ACTMAX_PRESET["input_noise"],
    pixel_lr: float = 0.05,
    tv_weight: float = 1.0,
    net: str = ACTMAX_PRESET["net"],
    net_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    device: str | torch.device = "cpu",
) -> DiagnosticResult:
    """Find an image that excites a class logit or a feature map's centre.

    Args:
        backbone: the classifier (:func:`load_backbone`).
        cls: a class index or ImageNet name (maximises its logit); or
        channel: ``"LAYER:K"``: maximises the centre of feature map K of LAYER.
        prior: ``dip`` (the generator) or ``tv`` (pixels + ``tv_weight`` * TV); ``none`` too.
        size: side of the square image (default: the classifier's input size).
        iters, lr, input_noise: the generator's schedule (the paper: 3100, 0.001, 0.03).
        pixel_lr: learning rate of the pixel baselines.
        net, net_kwargs: the generator (default: the paper's ``actmax`` net).
        seed: seeds the weights, ``z`` and the input noise.
        callbacks, device: as for :func:`deepprior.fit.fit`.

    Returns:
        A :class:`DiagnosticResult`; its report holds the target, the activation at the start
        and at the end, and the classifier's top-1 class of the result.

    Example:
        >>> bb = load_backbone("efficientnet-lite0")  # doctest: +SKIP
        >>> res = activation_maximization(bb, cls="black swan", size=128, iters=100, lr=0.01)
        ... # doctest: +SKIP
    """
    if (cls is None) == (channel is None):
        raise DeepPriorError("give either --class C or --channel LAYER:K")
    if cls is not None:
        target = ActTarget(backbone.logits, resolve_class(cls, backbone.num_classes), "class")
    else:
        layer, k = parse_channel(channel)  # type: ignore[arg-type]
        target = ActTarget(layer, k, "channel")
    phi = FeatureExtractor(backbone, target.layer).to(device)
    size = backbone.side(size)
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
    term = Activation(phi, target.index)
    img, fr, settings, start = fit_image(
        term, size, prior=prior, net=net, net_kwargs=net_kwargs, iters=iters, lr=lr,
        pixel_lr=pixel_lr, input_noise=input_noise, seed=seed, callbacks=callbacks,
        device=device, tv_weight=tv_weight,
    )  # fmt: skip
    with torch.no_grad():
        act0 = float(term.activation(start[None].to(device)))
        act1 = float(term.activation(img[None].to(device)))
        p = phi.logits(img[None].to(device)).softmax(-1)[0]
    top1 = int(p.argmax())
    report: dict[str, Any] = {
        "what": "activation maximisation",
        "net": backbone.name,
        "target": target.kind,
        "layer": target.layer,
        "index": target.index,
        "description": target.describe(backbone.num_classes),
        "prior": prior,
        "size": size,
        "seed": seed,
        **settings,
        "iters_run": fr.iters_run,
        "interrupted": fr.interrupted,
        "seconds": round(fr.seconds, 3),
        "initial_activation": act0,
        "final_activation": act1,
        "top1": top1,
        "top1_name": class_name(top1, backbone.num_classes),
        "top1_prob": float(p[top1]),
    }
    if target.kind == "class":
        report["target_prob"] = float(p[target.index])
    return DiagnosticResult(image=img, history=fr.history, report=report,
                            interrupted=fr.interrupted)  # fmt: skip
