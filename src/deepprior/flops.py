"""The FLOPs of one fit step, counted by PyTorch on the meta device (nothing is computed or
allocated): what ``deepprior speed`` reports and what the help's time estimates assume."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["count_flops"]


def count_flops(net: nn.Module, z: torch.Tensor, loss_fn: Any) -> int:
    """FLOPs of one forward + backward pass of ``loss_fn(net(z))``, counted on the meta device.

    Example:
        >>> conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        >>> count_flops(conv, torch.zeros(1, 1, 8, 8), lambda x: x.sum())  # fwd + weight grad
        2304
    """
    from torch.utils.flop_counter import FlopCounterMode

    meta_net = copy.deepcopy(net).to("meta")
    zm = z.to("meta")
    if isinstance(loss_fn, nn.Module):
        loss_fn = copy.deepcopy(loss_fn).to("meta")
    with FlopCounterMode(display=False) as counter:
        loss_fn(meta_net(zm)).backward()
    return int(counter.get_total_flops())
