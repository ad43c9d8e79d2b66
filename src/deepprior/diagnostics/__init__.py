"""Network diagnostics of the Deep Image Prior paper (§4: pre-images, activation maximisation;
Fig. 4: fitting speed; Fig. 5: samples of the prior).

Public API:

* :func:`load_backbone` / :func:`load_extractor`: a pretrained classifier (EfficientNet-Lite0,
  torchvision AlexNet/VGG-16/VGG-19, or a TorchScript module) cut at a named layer, with the
  preprocessing it was trained with.
* :func:`invert`: the natural pre-image of an image's features at a layer.
* :func:`activation_maximization`: an image that excites a class or a feature map.
* :func:`prior_samples`: f_theta(z) for random theta, several architectures.
* :func:`fitting_curves`: how fast the generator fits an image, noise, and both.
* :func:`resolve_class` / :func:`imagenet_classes`: ImageNet class names.

Example:
    >>> from deepprior.diagnostics import load_extractor, invert  # doctest: +SKIP
    >>> from skimage import data  # doctest: +SKIP
    >>> x0 = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float() / 255  # doctest: +SKIP
    >>> phi = load_extractor("efficientnet-lite0", "block5")  # doctest: +SKIP
    >>> res = invert(x0, phi, size=128, iters=300, lr=0.01)  # doctest: +SKIP
    >>> res.report["reduction"] > 10  # doctest: +SKIP
    True
"""

from __future__ import annotations

from .actmax import ACTMAX_PRESET, Activation, ActTarget, activation_maximization, parse_channel
from .classes import class_name, imagenet_classes, resolve_class
from .common import DIAG_PRIORS, DiagnosticResult, labelled_grid, prepare_image, tile
from .curves import CURVE_TARGETS, FittingCurves, curve_targets, fitting_curves, plot_curves
from .features import (
    Backbone,
    FeatureExtractor,
    list_backbones,
    load_backbone,
    load_extractor,
    sequential_stages,
)
from .preimage import PREIMAGE_PRESET, FeatureMatch, invert
from .samples import PriorSamples, prior_samples

__all__ = [
    "ACTMAX_PRESET", "Activation", "ActTarget", "activation_maximization", "parse_channel",
    "class_name", "imagenet_classes", "resolve_class",
    "DIAG_PRIORS", "DiagnosticResult", "labelled_grid", "prepare_image", "tile",
    "CURVE_TARGETS", "FittingCurves", "curve_targets", "fitting_curves", "plot_curves",
    "Backbone", "FeatureExtractor", "list_backbones", "load_backbone", "load_extractor",
    "sequential_stages",
    "PREIMAGE_PRESET", "FeatureMatch", "invert",
    "PriorSamples", "prior_samples",
]  # fmt: skip
