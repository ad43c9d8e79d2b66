"""Classifiers saved as programs: a TorchScript module (``torch.jit.save``) or a
``torch.export`` program (``.pt2``, which takes the image size it was exported with).

A saved ``nn.Sequential`` keeps its children, so it can be cut after any of them; any other
program is one stage, ``output``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import DeepPriorError
from .extractor import Backbone, Stage
from .weights import freeze, short_reason

SCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".ptl")
EXPORT_SUFFIXES = (".pt2",)


def _read(path: str, what: str, loader: Callable[[str], Any], hint: str) -> tuple[Path, Any]:
    """``loader(path)``, with a missing or unreadable file as a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise DeepPriorError(f"{what} {p}: no such file; check --net")
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices while unpickling
            warnings.simplefilter("ignore", FutureWarning)
            return p, loader(str(p))
    except Exception as e:
        raise DeepPriorError(f"{p}: {hint.format(reason=short_reason(e))}") from None


def _child_stages(children: list[tuple[str, nn.Module]]) -> tuple[list[tuple[str, Stage]], dict]:
    """A sequential program's children as stages; ``output`` and ``logits`` name the last."""
    stages: list[tuple[str, Stage]] = list(children)
    return stages, {"output": stages[-1][0], "logits": stages[-1][0]}


def torchscript_backbone(path: str) -> Backbone:
    """A TorchScript module saved with ``torch.jit.save``, as a backbone."""
    p, model = _read(
        path, "TorchScript file", lambda f: torch.jit.load(f, map_location="cpu"),
        "not a TorchScript module ({reason}); save one with torch.jit.save",
    )  # fmt: skip
    model = freeze(model)
    if getattr(model, "original_name", "") == "Sequential":
        # A scripted nn.Sequential: its children run in order, so they can be cut anywhere.
        children = list(model.named_children())
        if not children:
            raise DeepPriorError(f"{p}: the TorchScript module is empty")
        stages, aliases = _child_stages(children)
    else:
        stages, aliases = [("output", model)], {"logits": "output"}
    return Backbone(
        name=str(p), model=model, stages=stages, logits=aliases["logits"],
        aliases=aliases, hookable=False, num_classes=1000,
    )  # fmt: skip


def _input_side(p: Path, program: Any) -> Any:
    """The image side of an exported program's one (N, 3, H, W) input (an int when static)."""
    shapes = [
        tuple(n.meta["val"].shape) for n in program.graph.nodes
        if n.op == "placeholder" and n.name in program.graph_signature.user_inputs
    ]  # fmt: skip
    if len(shapes) != 1 or len(shapes[0]) != 4 or shapes[0][1] != 3:
        raise DeepPriorError(f"{p}: the program must take one (N, 3, H, W) image, got {shapes}")
    return shapes[0][-1]


def export_backbone(path: str) -> Backbone:
    """A program saved with ``torch.export.save``, as a backbone."""
    p, program = _read(
        path, "exported program", torch.export.load,
        "not a program saved by torch.export.save ({reason})",
    )  # fmt: skip
    side = _input_side(p, program)
    fixed = isinstance(side, int)  # else exported with a dynamic size
    # Unflattened, an exported nn.Sequential keeps its children, so it can be cut anywhere.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.export.unflatten(program)
    children = [(n, m) for n, m in model.named_children() if not n.startswith("_")]
    if children and [n for n, _ in children] == [str(i) for i in range(len(children))]:
        stages, aliases = _child_stages(children)
    else:
        model = program.module()
        stages, aliases = [("output", model)], {"logits": "output"}
    for q in model.parameters():
        q.requires_grad_(False)
    return Backbone(
        name=str(p), model=model, stages=stages, logits=aliases["logits"], aliases=aliases,
        hookable=False, num_classes=1000, input_size=side if fixed else 224, fixed_size=fixed,
    )  # fmt: skip
