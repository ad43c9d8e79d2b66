"""The SIGTERM handler of the command line: stop like Ctrl-C.

The fitting loop recognises it (and Python's default Ctrl-C handler) and defers both to the
next step boundary, so that the state it saves resumes exactly; other handlers a program
installs are left alone. The command line installs it through one context manager,
:func:`deepprior.cli.common.sigterm_as_interrupt`, around every fit it runs.
"""

from __future__ import annotations

import time
from typing import Any

# A second SIGTERM this soon after the first is the same stop sent twice: ``timeout`` and
# process managers signal the process and then its whole group, and a second interrupt
# raised while the first unwinds breaks the clean-up (a lock released twice).
DUPLICATE_WINDOW_S = 2.0
_last_term = -float("inf")


def sigterm_to_interrupt(signum: int, frame: Any) -> None:
    """A SIGTERM handler that stops like Ctrl-C (the fit saves what it has).

    A repeat within :data:`DUPLICATE_WINDOW_S` seconds is ignored; a later one interrupts
    again (e.g. the clean-up itself).
    """
    global _last_term
    now = time.monotonic()
    if now - _last_term < DUPLICATE_WINDOW_S:
        return
    _last_term = now
    raise KeyboardInterrupt
