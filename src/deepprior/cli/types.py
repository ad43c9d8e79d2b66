"""Click parameter types of the ``deepprior`` command line.

``type=float`` accepts ``nan``, ``inf`` and ``-inf``, which pass most range checks
(``nan < 0`` is False) and then act as some arbitrary value. Every float option uses
:data:`FLOAT` instead (the same spelling, in capitals).
"""

from __future__ import annotations

import math
from typing import Any

import click

__all__ = ["FLOAT", "FiniteFloat"]


class FiniteFloat(click.ParamType):
    """A float that is neither NaN nor infinite (click's usage error, exit 2, otherwise).

    Example:
        >>> FiniteFloat().convert("0.5", None, None)
        0.5
    """

    name = "float"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; give a number such as 0.5", param, ctx)
        return number


#: The float type of every float option: ``type=FLOAT`` where click's is ``type=float``.
FLOAT = FiniteFloat()
