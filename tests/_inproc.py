"""Run the ``deepprior`` command in this process (no interpreter start-up): exit code, stderr."""

from __future__ import annotations

import sys
import warnings

import pytest

from deepprior.cli import main


def run_main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[str]]:
    """``deepprior ARGS`` through :func:`deepprior.cli.main`: its exit code and stderr lines.

    Warnings are shown as the command shows them (conftest silences them otherwise), and the
    warning printer ``main`` installs is removed afterwards.
    """
    capsys.readouterr()
    old_argv = sys.argv
    sys.argv = ["deepprior", *args]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old_argv
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
