"""Estimate the peak memory of a fit before starting it, and refuse what cannot fit."""

from __future__ import annotations

import torch
from torch import nn

from .errors import DeepPriorError

GiB = 1024**3


def _saved_bytes(net: nn.Module, z: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of one forward through ``net``."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr() if t.device.type != "meta" else id(t)
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(z)
    del out
    return total


def estimate_fit_memory(
    net: nn.Module, in_channels: int, canvas: tuple[int, int], *, dtype: torch.dtype
) -> int:
    """Estimated peak bytes of fitting ``net`` on a canvas of ``canvas`` (H, W) pixels.

    Activations are measured on a small probe canvas with the same structure and scaled by
    the pixel count; parameters count four times (weights, gradients, two Adam moments).
    """
    stride = getattr(net, "stride", 1)
    side = max(2 * stride, 32)
    probe = torch.rand(1, in_channels, side, side)
    was_training = net.training
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    try:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            per_px = _saved_bytes(net, probe) / (side * side)
    finally:
        net.load_state_dict(state, strict=False)
        net.train(was_training)
    params = sum(p.numel() * 4 for p in net.parameters())
    pixels = canvas[0] * canvas[1]
    # The backward pass holds the saved activations plus gradients of about the same size
    # for the largest layers; 1.5x covers that and the allocator's slack.
    return int(4 * params + 1.5 * per_px * pixels + 64 * 1024**2)


def check_memory(need: int, available: int | None, *, what: str) -> None:
    """Raise :class:`DeepPriorError` when ``need`` bytes exceed 90 % of ``available``."""
    if available is None or need <= 0.9 * available:
        return
    raise DeepPriorError(
        f"{what} needs about {need / GiB:.1f} GiB but only {available / GiB:.1f} GiB is "
        "available; use --checkpoint (gradient checkpointing), a smaller image or a lighter "
        "--preset, or pass --no-memory-check to try anyway"
    )
