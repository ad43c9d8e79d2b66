"""The SIGTERM handler of the command line: stop like Ctrl-C.

The fitting loop recognises it (and Python's default Ctrl-C handler) and defers both to the
next step boundary, so that the state it saves resumes exactly; other handlers a program
installs are left alone. The command line installs it through one context manager,
:func:`deepprior.cli.common.sigterm_as_interrupt`, around every fit it runs.
"""

from __future__ import annotations

from typing import Any


def sigterm_to_interrupt(signum: int, frame: Any) -> None:
    """A SIGTERM handler that stops like Ctrl-C (the fit saves what it has)."""
    raise KeyboardInterrupt
