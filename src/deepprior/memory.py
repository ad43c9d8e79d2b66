"""Estimate the peak memory of a fit before starting it, and refuse what cannot fit."""

from __future__ import annotations

from typing import Any

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
    if _on_meta(net):
        # No data: only shapes. Autocast does not act on the meta device, so a bf16 fit's
        # activations are taken as half the float32 ones (a lower bound, as when refusing).
        probe = torch.empty(1, in_channels, side, side, device="meta")
        half = 0.5 if dtype != torch.float32 else 1.0
        per_px = half * _saved_bytes(net.train(), probe) / (side * side)
    else:
        per_px = _probe_bytes(net, in_channels, side, dtype) / (side * side)
    params = sum(p.numel() * 4 for p in net.parameters())
    pixels = canvas[0] * canvas[1]
    # The backward pass holds the saved activations plus gradients of about the same size
    # for the largest layers; 1.5x covers that and the allocator's slack.
    return int(4 * params + 1.5 * per_px * pixels + 64 * 1024**2)


def _on_meta(net: nn.Module) -> bool:
    return any(p.device.type == "meta" for p in net.parameters())


def _probe_bytes(net: nn.Module, in_channels: int, side: int, dtype: torch.dtype) -> int:
    """Saved bytes of a forward of a ``side`` px probe (the net's running stats kept)."""
    probe = torch.rand(1, in_channels, side, side)
    was_training = net.training
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    try:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            return _saved_bytes(net, probe)
    finally:
        net.load_state_dict(state, strict=False)
        net.train(was_training)


#: Nets up to this many parameters are built for real to measure their activations (fast
#: and exact); larger ones are measured on the meta device, which allocates nothing.
REAL_PROBE_MAX_PARAMS = 50_000_000


def estimate_from_sizes(
    net: str,
    in_channels: int,
    out_channels: int,
    size: tuple[int, int],
    *,
    dtype: torch.dtype,
    runs: int = 1,
    net_kwargs: dict[str, Any] | None = None,
    stop_above: float | None = None,
) -> int:
    """Estimated peak bytes of fitting ``runs`` copies of net ``net`` to a ``size`` (H, W)
    result, from sizes alone: no image-sized tensor is made and a huge net is never built.

    The net is first built on the meta device to count its parameters; a net of at most
    :data:`REAL_PROBE_MAX_PARAMS` is then built for real to measure its activations on a
    small probe, as :func:`estimate_fit_memory` does (the global random state is left as
    it was). The input ``z`` (``in_channels`` per canvas pixel, per run) is counted too.

    Args:
        net, net_kwargs: the generator's registry name and settings.
        in_channels, out_channels: channels of ``z`` and of the image.
        size: (H, W) of the result; the canvas is rounded up to the net's stride.
        dtype: the fit's compute precision.
        runs: independent restarts fitted at once.
        stop_above: when a net too large to build for real has parameters that alone
            (weights, gradients, Adam moments) exceed this many bytes, return their size
            at once, without measuring the activations.

    Returns:
        The estimate in bytes.

    Example:
        >>> need = estimate_from_sizes("skip", 32, 3, (12000, 9000), dtype=torch.float32)
        >>> need > 100 * GiB
        True
    """
    from .nets import canvas_size, create_net

    kwargs = net_kwargs or {}
    with torch.device("meta"):
        model = create_net(net, in_channels, out_channels, **kwargs)
    n_params = sum(p.numel() for p in model.parameters())
    if n_params <= REAL_PROBE_MAX_PARAMS:
        with torch.random.fork_rng(devices=[]):
            model = create_net(net, in_channels, out_channels, **kwargs)
    elif stop_above is not None and runs * 16 * n_params > stop_above:
        return runs * 16 * n_params  # (the meta device's first forward takes seconds)
    canvas = canvas_size(size, getattr(model, "stride", 1))
    z_bytes = 4 * in_channels * canvas[0] * canvas[1]
    return runs * (estimate_fit_memory(model, in_channels, canvas, dtype=dtype) + z_bytes)


def refuse_oversized_fit(
    net: str,
    in_channels: int,
    out_channels: int,
    size: tuple[int, int],
    *,
    dtype: torch.dtype,
    device: torch.device,
    runs: int = 1,
    net_kwargs: dict[str, Any] | None = None,
) -> None:
    """Raise :class:`DeepPriorError` (the :func:`check_memory` message) when the fit
    :func:`estimate_from_sizes` describes cannot fit in ``device``'s available memory;
    called before any net, ``z`` or image-sized tensor is made."""
    from .device import available_memory

    available = available_memory(device)
    limit = None if available is None else 0.9 * available
    need = estimate_from_sizes(net, in_channels, out_channels, size, dtype=dtype, runs=runs,
                               net_kwargs=net_kwargs, stop_above=limit)  # fmt: skip
    h, w = size
    check_memory(need, available, what=f"a {w}x{h} px fit with this preset")


def is_allocation_error(err: BaseException) -> bool:
    """True for a failed allocation: ``MemoryError``, or torch's ``RuntimeError`` (CPU
    ``can't allocate memory``, CUDA ``out of memory``).

    Example:
        >>> is_allocation_error(RuntimeError("[enforce fail at alloc_cpu.cpp] can't allocate"))
        True
    """
    if isinstance(err, MemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        s in text for s in ("can't allocate", "cannot allocate", "out of memory")
    )


def check_memory(need: int, available: int | None, *, what: str) -> None:
    """Raise :class:`DeepPriorError` when ``need`` bytes exceed 90 % of ``available``."""
    if available is None or need <= 0.9 * available:
        return
    raise DeepPriorError(
        f"{what} needs about {need / GiB:.1f} GiB but only {available / GiB:.1f} GiB is "
        "available; use --checkpoint (gradient checkpointing), a smaller image or a lighter "
        "--preset, or pass --no-memory-check to try anyway"
    )


#: ``mallopt`` parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_heap_kept = False


def keep_cpu_heap(need: int, available: int | None) -> bool:
    """Serve this process's large CPU tensors from the malloc heap, not from fresh mmap'd
    pages, when memory is plentiful; returns whether it is (now) so.

    glibc hands every block of 32 MiB or more (an activation of a 128-channel 256² image,
    or a 32-channel 512² one) to ``mmap`` and gives it back on ``free``: a fit then takes a
    page fault per 4 KiB of each such activation at every step. Keeping them in the heap
    (``mallopt``: no mmap, no trimming) cut a CPU step by a quarter to a half (one thread:
    the paper's 128-filter net 2.91 to 2.17 s at 256², 12.67 to 7.95 s at 512²; the
    32-filter net 1.92 to 1.03 s at 512²; benchmarks/results/speed.md), but the heap keeps
    freed memory and fragments: the peak resident memory grew by up to 65 %. So it is done
    only when twice ``need`` fits in 90 % of ``available`` (glibc only;
    ``DEEPPRIOR_CPU_HEAP=0`` turns it off). It lasts for the process.

    Args:
        need: the fit's estimated peak bytes.
        available: the bytes the run may use (None: unknown, and nothing is changed).

    Returns:
        True when large tensors now stay in the heap.
    """
    global _heap_kept
    import os
    import sys

    if _heap_kept:
        return True
    if (os.environ.get("DEEPPRIOR_CPU_HEAP", "1") == "0" or not sys.platform.startswith("linux")
            or available is None or 2 * need > 0.9 * available):  # fmt: skip
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        _heap_kept = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))  # fmt: skip
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return False
    return _heap_kept


def keep_cpu_heap_for(
    net: nn.Module, z: torch.Tensor, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> bool:
    """:func:`keep_cpu_heap` for a fit of ``net`` on the input ``z`` on ``device``: what
    :class:`deepprior.plan.FitPlan` does, for code that calls :func:`deepprior.fit.fit`
    directly (the diagnostics, the speed benchmark). Nothing is changed off the CPU.

    Returns:
        True when large tensors now stay in the heap.

    Example:
        >>> from deepprior.nets import create_net
        >>> keep_cpu_heap_for(create_net("skip", 8, 3), torch.zeros(1, 8, 32, 32), "meta")
        False
    """
    if _heap_kept:  # already so for this process: no need to estimate again
        return torch.device(device).type == "cpu"
    need = estimate_fit_memory(net, z.shape[1], (z.shape[-2], z.shape[-1]), dtype=dtype)
    return keep_cpu_heap_on(device, need)


def keep_cpu_heap_on(device: torch.device | str, need: int) -> bool:
    """:func:`keep_cpu_heap` for ``need`` bytes on ``device``, measured against the memory
    available there; nothing is changed off the CPU. For loops of their own (the bench's
    zero-shot peers).

    Returns:
        True when large tensors now stay in the heap.

    Example:
        >>> keep_cpu_heap_on("meta", 2**20)
        False
    """
    device = torch.device(device)
    if device.type != "cpu":
        return False
    from .device import available_memory

    return keep_cpu_heap(need, available_memory(device))
