"""Small helpers shared by the io modules: path type and one-line error text."""

from __future__ import annotations

import os
from collections.abc import Iterable

PathLike = str | os.PathLike


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """Return an exception's message squeezed onto one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_list(items: Iterable[str]) -> str:
    return ", ".join(items)
