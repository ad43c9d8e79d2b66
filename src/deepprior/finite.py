"""Finite numbers in, strict JSON out.

NaN and infinity slip through ``float()`` and most range checks (``nan < 0`` is False), and
``json.dumps`` writes them as ``NaN`` / ``Infinity``, which is not JSON. Settings therefore
go through :func:`check_finite`, and every JSON file deepprior writes through
:func:`dumps_strict`.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

from .errors import DeepPriorError

__all__ = ["check_finite", "dumps_strict", "json_safe"]


def check_finite(value: Any, param: str) -> Any:
    """Return ``value`` unchanged unless it is a NaN or infinite number.

    Args:
        value: a setting (any type; only real non-integer numbers are checked).
        param: the argument's name, for the message and :attr:`DeepPriorError.param`.

    Returns:
        ``value``.

    Raises:
        DeepPriorError: ``value`` is NaN or infinite.

    Example:
        >>> check_finite(0.5, "lr")
        0.5
        >>> check_finite(float("nan"), "lr")
        Traceback (most recent call last):
        ...
        deepprior.errors.DeepPriorError: lr must be a finite number, got nan
    """
    if _is_real(value) and not math.isfinite(value):
        raise DeepPriorError(f"{param} must be a finite number, got {value}", param=param)
    return value


def json_safe(obj: Any) -> Any:
    """A copy of ``obj`` where every NaN or infinite number is None (JSON ``null``).

    Non-finite values can legitimately occur in results (the PSNR of identical images, the
    loss of a diverged fit); JSON has no spelling for them. Dicts, lists and tuples are
    walked; real numbers of other types (NumPy scalars) become plain floats.

    Example:
        >>> json_safe({"psnr": float("inf"), "losses": [1.0, float("nan")]})
        {'psnr': None, 'losses': [1.0, None]}
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if _is_real(obj):
        return float(obj) if math.isfinite(obj) else None
    return obj


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(obj)`` with ``allow_nan=False``: strict JSON.

    Args:
        obj: what to write.
        **kwargs: passed to :func:`json.dumps` (``indent``, ``default`` ...).

    Example:
        >>> dumps_strict({"ssim": float("nan")})
        '{"ssim": null}'
    """
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def _is_real(value: Any) -> bool:
    """A real, non-integer, non-bool number (float, NumPy floating scalar ...)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, bool))
