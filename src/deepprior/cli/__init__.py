"""The ``deepprior`` command line: one click group, ``main``, and its subcommands.

The restoration subcommands live in :mod:`.restore`, ``degrade`` and ``info`` in :mod:`.tools`,
the diagnostics (invert, actmax, samples, curves) in :mod:`.diag`, ``bench`` and ``speed`` in
:mod:`.bench`, the web app ``ui`` in :mod:`.ui`; :mod:`.common` holds what they share (exit
codes, one-line errors, SIGTERM).
"""

from __future__ import annotations

import sys
import warnings
from typing import TextIO

import click

from .. import __version__
from .._startup import end_of_imports
from ..errors import DeepPriorError, DeepPriorWarning
from . import bench, diag, restore, tools, ui
from .common import EXIT_INTERRUPTED, error_message, fail

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deepprior")
def cli() -> None:
    """Restore a single image with the Deep Image Prior (no training data)."""


for _module in (restore, tools, diag, bench, ui):
    _module.register(cli)


_show_python_warning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print deepprior's own warnings on one line, ``deepprior: warning: MESSAGE``."""
    if issubclass(category, DeepPriorWarning):
        click.echo(f"deepprior: warning: {' '.join(str(message).split())}", err=True)
    else:
        _show_python_warning(message, category, filename, lineno, file, line)


def main() -> None:
    """Entry point of the ``deepprior`` script."""
    warnings.showwarning = _show_warning
    end_of_imports()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("deepprior: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        fail(e.format_message().replace("\n", " "))
    except DeepPriorError as e:
        fail(error_message(e))
    sys.exit(0)
