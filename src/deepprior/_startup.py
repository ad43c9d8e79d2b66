"""Ctrl-C while the ``deepprior`` command is still importing (torch takes a moment): exit
with the interrupted status and one line, not a traceback from inside an import.

:func:`quiet_interrupt_while_importing` runs when this module is imported, first thing in
``deepprior/__init__.py``, and acts only in the ``deepprior`` command's own process (the
console script, ``python -m deepprior`` or ``python -m deepprior.cli``);
:func:`end_of_imports` gives the previous Ctrl-C handler back once the command starts, so
the fit's own handling is unchanged.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["end_of_imports", "is_cli_process", "quiet_interrupt_while_importing"]

EXIT_INTERRUPTED = 130
_previous: Any = None


def is_cli_process(argv: list[str] | None = None, orig_argv: list[str] | None = None) -> bool:
    """True when this process is the ``deepprior`` command.

    Example:
        >>> is_cli_process(["/venv/bin/deepprior", "sr"], ["python", "/venv/bin/deepprior"])
        True
        >>> is_cli_process(["-m"], ["python", "-m", "deepprior", "sr"])
        True
        >>> is_cli_process(["script.py"], ["python", "script.py"])
        False
    """
    argv = sys.argv if argv is None else argv
    orig = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if argv and Path(argv[0]).stem == "deepprior":
        return True
    pairs = zip(orig, orig[1:], strict=False)
    return any(a == "-m" and b in ("deepprior", "deepprior.cli") for a, b in pairs)


def _interrupted(signum: int, frame: Any) -> None:
    sys.stderr.write("deepprior: interrupted\n")
    raise SystemExit(EXIT_INTERRUPTED)


def quiet_interrupt_while_importing() -> None:
    """In the command's process, make Ctrl-C during the imports a one-line exit (130)."""
    global _previous
    if not is_cli_process() or threading.current_thread() is not threading.main_thread():
        return
    if multiprocessing.parent_process() is not None:  # a worker (spawned with our argv)
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (not when ignored)
        _previous = signal.signal(signal.SIGINT, _interrupted)


def end_of_imports() -> None:
    """Give Ctrl-C its previous handler back (the command is about to run)."""
    global _previous
    if _previous is not None and signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, _previous)
    _previous = None


quiet_interrupt_while_importing()
