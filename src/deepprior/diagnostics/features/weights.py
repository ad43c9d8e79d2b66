"""Reading a classifier's weights: a state_dict file checked against its architecture, then
frozen (eval mode, no gradients)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ...errors import DeepPriorError


def short_reason(e: BaseException, limit: int = 120) -> str:
    """An exception's text on one line, cut to ``limit`` characters (for one-line errors)."""
    return " ".join(str(e).split())[:limit]


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients for every parameter; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state_dict in ``path`` (also one under a ``state_dict`` key), on the CPU.

    Raises:
        DeepPriorError: a missing file, or one that holds no state_dict.
    """
    p = Path(path)
    if not p.is_file():
        raise DeepPriorError(f"weights file {p}: no such file; check the path of --weights")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean "not a state_dict"
        raise DeepPriorError(
            f"weights file {p}: cannot read it as a PyTorch state_dict ({short_reason(e)})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DeepPriorError(f"weights file {p}: holds a {type(state).__name__}, not a state_dict")
    return state


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch is a one-line error naming ``what``."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DeepPriorError(
            f"{what} do not match the architecture: {short_reason(e, 160)}"
        ) from None
