"""Device and precision selection, CPU feature detection and available memory."""

from __future__ import annotations

import functools
import os
import re
import warnings
from contextlib import AbstractContextManager, nullcontext

import torch

from .errors import DeepPriorError, DeepPriorWarning

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def select_device(name: str = "auto") -> torch.device:
    """Resolve ``auto|cpu|cuda[:N]`` to a device; ``auto`` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" or re.fullmatch(r"cuda:\d+", name):
        if not torch.cuda.is_available():
            raise DeepPriorError(
                f"--device {name} was asked for but no CUDA GPU is available; use --device cpu"
            )
        n = torch.cuda.device_count()
        if name != "cuda" and int(name[5:]) >= n:
            raise DeepPriorError(
                f"--device {name}: this machine has {n} CUDA GPU{'s' * (n != 1)} "
                f"(cuda:0 to cuda:{n - 1})"
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise DeepPriorError(f"unknown device {name!r}; choose one of auto, cpu, cuda, cuda:N")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first CPU's fields in /proc/cpuinfo (empty where that file does not exist)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if not line.strip():  # the first processor's block ends here
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where that file does not exist)."""
    return frozenset(_cpuinfo().get("flags", "").split())


#: The CPU features that change a fit's speed here: vector width and native bf16 units.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def host_summary() -> dict[str, object]:
    """What a timing was measured on: CPU model, cores and the speed-relevant CPU flags.

    Bench records keep it, so times from different machines are never compared as one.

    Example:
        >>> sorted(host_summary())
        ['cores', 'cpu', 'cpu_flags', 'gpu']
    """
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    flags = cpu_flags()
    return {
        "cpu": _cpuinfo().get("model name", ""), "cores": os.cpu_count(), "gpu": gpu,
        "cpu_flags": [f for f in SPEED_FLAGS if f in flags],
    }  # fmt: skip


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix units (AMX-BF16 or AVX512-BF16).

    Without them oneDNN emulates bf16 and it is slower than fp32, so ``auto`` keeps fp32 (a
    32-filter skip net's step at 160², one thread, on an AVX2-only AMD EPYC: 0.62 s in bf16
    against 0.086 s in fp32; ``python benchmarks/step_time.py 32 160 8 bf16``).
    """
    flags = cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


@functools.cache
def _warn_emulated_bf16() -> None:
    """Say once per process (a fit resolves its precision in several places) that bf16 is
    emulated on this CPU."""
    warnings.warn(
        DeepPriorWarning(
            "bf16 on this CPU (no AVX512-BF16 or AMX) is emulated and several times slower "
            "than fp32; use --precision auto or fp32"
        ),
        stacklevel=3,
    )


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """Map ``auto|fp32|bf16`` to the compute dtype used under autocast on ``device``.

    ``auto`` is fp32 on a GPU: a fit step of these nets is bound by kernel launches there,
    so bf16 autocast only adds cast kernels (H200, the auto presets' 32-filter SR net,
    channels-last: 26 ms/step in bf16 against 17 ms in fp32 at 256², 22 against 20 ms at
    512²; benchmarks/results/speed.md), and cuDNN already runs fp32 convolutions on tensor
    cores (TF32). On a CPU it is bf16 where the CPU has native bf16 units, else fp32; an
    explicit ``bf16`` on a CPU without them warns (:class:`DeepPriorWarning`).
    """
    if precision not in PRECISIONS:
        raise DeepPriorError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
        )
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        if device.type == "cpu" and not cpu_has_fast_bf16():
            _warn_emulated_bf16()
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float32
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def env_flag(name: str) -> bool | None:
    """An on/off switch from the environment: ``None`` when unset or empty, ``False`` for
    ``0``, ``false`` or ``no``, else ``True``."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    return value not in ("0", "false", "no")


def should_compile(device: torch.device | str) -> bool:
    """Whether the fit loop runs through ``torch.compile`` by default on ``device``.

    ``DEEPPRIOR_COMPILE=0|1`` overrides the choice.
    """
    return bool(env_flag("DEEPPRIOR_COMPILE"))


def autocast(device: torch.device, dtype: torch.dtype) -> AbstractContextManager:
    """Autocast to ``dtype`` on ``device``; a no-op context for fp32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def parse_size(text: str) -> int:
    """Parse a memory size such as ``512M``, ``4G``, ``4GiB`` or ``1000000`` into bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(float(t))
    except ValueError:
        raise DeepPriorError(
            f"cannot read the memory size {text!r}; write it like 512M or 4G"
        ) from None


def available_memory(device: torch.device) -> int | None:
    """Bytes that a run may use on ``device`` now, or None when unknown.

    The environment variable ``DEEPPRIOR_MAX_MEMORY`` (e.g. ``4G``) caps it, for shared
    machines or to leave room for other programs.
    """
    cap = os.environ.get("DEEPPRIOR_MAX_MEMORY")
    found = _available_memory(device)
    if cap:
        limit = parse_size(cap)
        return limit if found is None else min(limit, found)
    return found


def _available_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
