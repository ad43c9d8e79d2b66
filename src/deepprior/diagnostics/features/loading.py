"""Loading a classifier by name or path (:func:`load_backbone`) and cutting it at a layer
(:func:`load_extractor`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ...errors import DeepPriorError
from .classifiers import EFFICIENTNET, TORCHVISION, efficientnet_lite0, torchvision_backbone
from .extractor import Backbone, FeatureExtractor
from .programs import EXPORT_SUFFIXES, SCRIPT_SUFFIXES, export_backbone, torchscript_backbone


def list_backbones() -> list[str]:
    """Names :func:`load_backbone` accepts (besides the path of a TorchScript file)."""
    return [EFFICIENTNET[0], *TORCHVISION]


def _open(key: str, weights: str | None, allow_download: bool) -> Backbone:
    """The backbone named ``key`` (a name, or a program's path)."""
    low = key.lower()
    if low in EFFICIENTNET:
        return efficientnet_lite0(weights)
    if low in TORCHVISION:
        return torchvision_backbone(low, weights, allow_download)
    program = low.endswith(EXPORT_SUFFIXES)
    if program or key.startswith("torchscript:") or low.endswith(SCRIPT_SUFFIXES):
        if weights is not None:
            kind = "an exported program" if program else "a TorchScript module"
            raise DeepPriorError(f"--weights does not apply to {kind}")
        return (
            export_backbone(key)
            if program
            else torchscript_backbone(key.removeprefix("torchscript:"))
        )
    raise DeepPriorError(
        f"unknown network {key!r}; choose one of {', '.join(list_backbones())} or give "
        "the path of a TorchScript .pt or an exported .pt2 file"
    )


def _set_normalisation(bb: Backbone, what: str, value: Sequence[float] | None) -> None:
    """Override ``bb.mean`` or ``bb.std`` (one value stands for all three channels)."""
    if value is None:
        return
    vals = tuple(float(v) for v in value)
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3 or (what == "std" and min(vals) <= 0):
        raise DeepPriorError(f"--{what} needs three numbers (std > 0), got {value}")
    setattr(bb, what, vals)


def load_backbone(
    name: str,
    *,
    weights: str | os.PathLike | None = None,
    allow_download: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Backbone:
    """Load a pretrained classifier by name.

    Args:
        name: ``efficientnet-lite0``, ``alexnet``, ``vgg16``, ``vgg19``, the path of a
            TorchScript file (``*.pt``; ``torchscript:PATH`` for any other extension), or of
            a ``torch.export`` program (``*.pt2``).
        weights: a local state_dict file to use instead of the packaged/cached weights.
        allow_download: torchvision models only: download missing weights into torch's cache.
        mean, std: override the normalisation (three values each, for images in [0, 1]).

    Returns:
        A :class:`Backbone`.

    Raises:
        DeepPriorError: unknown name, missing package or weights, unreadable files.

    Example:
        >>> bb = load_backbone("efficientnet-lite0")  # doctest: +SKIP
        >>> bb.layers[:3]  # doctest: +SKIP
        ['stem', 'block0', 'block1']
    """
    bb = _open(str(name).strip(), None if weights is None else str(weights), allow_download)
    _set_normalisation(bb, "mean", mean)
    _set_normalisation(bb, "std", std)
    return bb


def load_extractor(
    name: str | Backbone, layer: str | None = None, **kwargs: Any
) -> FeatureExtractor:
    """Load a classifier and cut it at ``layer`` (default: its logits).

    Args:
        name: a backbone name or path (see :func:`load_backbone`), or a loaded :class:`Backbone`.
        layer: the layer whose output is Phi(x).
        **kwargs: passed to :func:`load_backbone`.

    Returns:
        A :class:`FeatureExtractor`.

    Example:
        >>> phi = load_extractor("efficientnet-lite0", "logits")  # doctest: +SKIP
        >>> phi(torch.rand(1, 3, 96, 96)).shape  # doctest: +SKIP
        torch.Size([1, 1000])
    """
    bb = name if isinstance(name, Backbone) else load_backbone(name, **kwargs)
    return FeatureExtractor(bb, bb.logits if layer is None else layer)
