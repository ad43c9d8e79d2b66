"""A pretrained classifier as named stages (:class:`Backbone`) and cut at a layer
(:class:`FeatureExtractor`): the Phi of pre-images and activation maximisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...errors import DeepPriorError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Stage = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Backbone:
    """A pretrained classifier split into named stages, with its preprocessing.

    Attributes:
        name: the backend's name (``efficientnet-lite0``, ``alexnet``, a TorchScript path).
        model: the whole classifier, in eval mode, with frozen parameters.
        stages: ``(name, fn)`` pairs; running them in order on a normalised image gives the
            classifier's output (the logits).
        mean, std: per-channel normalisation of images in [0, 1].
        input_size: the side the classifier was trained on (the default ``--size``).
        num_classes: classes of the head.
        logits: the stage holding the class logits.
        aliases: other names of stages (e.g. ``fc8`` -> ``logits``).
        hookable: any module path of ``model.named_modules()`` can be used as a layer.
        fixed_size: the classifier takes ``input_size`` only (an exported program's static
            shape).
    """

    name: str
    model: nn.Module
    stages: list[tuple[str, Stage]]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    num_classes: int = 1000
    logits: str = "logits"
    aliases: dict[str, str] = field(default_factory=dict)
    hookable: bool = True
    fixed_size: bool = False

    def side(self, size: int | None) -> int:
        """The image side to use: ``size``, else :attr:`input_size` (checked if fixed)."""
        side = int(size or self.input_size)
        if self.fixed_size and side != self.input_size:
            raise DeepPriorError(
                f"{self.name} was exported for {self.input_size}x{self.input_size} px images "
                f"only; use --size {self.input_size} (or export it with dynamic shapes)"
            )
        return side

    @property
    def layers(self) -> list[str]:
        """The named layers, in forward order, then the aliases."""
        return [n for n, _ in self.stages] + list(self.aliases)

    def describe_layers(self, limit: int = 40) -> str:
        names = self.layers
        text = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
        if self.hookable:
            text += " (or a module path such as one listed by model.named_modules())"
        return text


class _StopForward(Exception):
    """Raised by a hook to cut the forward pass once the wanted module has run."""


class FeatureExtractor(nn.Module):
    """Phi: a pretrained classifier cut at ``layer``, taking images in [0, 1].

    Args:
        backbone: from :func:`load_backbone`.
        layer: a stage name, an alias, or (for eager models) a module path.

    Example:
        >>> phi = load_extractor("efficientnet-lite0", "block5")  # doctest: +SKIP
        >>> phi(torch.rand(1, 3, 128, 128)).shape  # doctest: +SKIP
        torch.Size([1, 40, 16, 16])
    """

    def __init__(self, backbone: Backbone, layer: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.model = backbone.model  # registered, so .to(device) moves the weights
        self.name = backbone.name
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1))
        layer = str(layer).strip()
        stage_names = [n for n, _ in backbone.stages]
        target = backbone.aliases.get(layer, layer)
        self.path: str | None = None
        if target in stage_names:
            self.layer = target
            self.upto = stage_names.index(target) + 1
        elif backbone.hookable and layer in dict(backbone.model.named_modules()) and layer:
            self.layer = layer
            self.path = layer
            self.upto = len(stage_names)
        else:
            raise DeepPriorError(
                f"unknown layer {layer!r} of {backbone.name}; choose one of "
                f"{backbone.describe_layers()}"
            )
        self.eval()

    @property
    def is_logits(self) -> bool:
        """True when the features are the class logits."""
        return self.path is None and self.layer == self.backbone.logits

    def train(self, mode: bool = True) -> FeatureExtractor:
        # The classifier always runs in eval mode (fixed BatchNorm statistics, no dropout).
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map an image batch in [0, 1] to the classifier's input range."""
        if x.dim() == 3:
            x = x[None]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the layer for images ``x`` (N, 3, H, W) (or (3, H, W)) in [0, 1]."""
        h = self.normalize(x)
        if self.path is None:
            for _, fn in self.backbone.stages[: self.upto]:
                h = fn(h)
            return h
        module = dict(self.model.named_modules())[self.path]
        caught: list[torch.Tensor] = []

        def hook(mod: nn.Module, inputs: Any, output: Any) -> None:
            caught.append(output[0] if isinstance(output, (tuple, list)) else output)
            raise _StopForward

        handle = module.register_forward_hook(hook)
        try:
            for _, fn in self.backbone.stages:
                h = fn(h)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not caught:
            raise DeepPriorError(f"layer {self.path!r} of {self.name} did not run in forward")
        return caught[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The class logits of images ``x`` in [0, 1] (the whole classifier)."""
        h = self.normalize(x)
        for _, fn in self.backbone.stages:
            h = fn(h)
        return h
