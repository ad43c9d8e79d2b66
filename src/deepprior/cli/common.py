"""What every ``deepprior`` subcommand module shares: exit codes, one-line errors, the Ctrl-C /
SIGTERM handling, ``--net-arg`` parsing and input / JSON-output checks. The command modules
(restore, tools, diag, bench) import from here, so none of them needs another."""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import DeepPriorError
from ..signals import sigterm_to_interrupt

if TYPE_CHECKING:
    import torch

__all__ = [
    "EXIT_INTERRUPTED", "EXIT_USAGE", "fail", "json_output", "load_input", "parse_net_args",
    "sigterm_to_interrupt", "task_command",
]  # fmt: skip

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def fail(message: str) -> None:
    """Print ``deepprior: error: MESSAGE`` on one line and exit with status 2."""
    click.echo(f"deepprior: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def parse_net_args(items: tuple[str, ...]) -> dict[str, Any]:
    """``("n_d=64", "upsample='nearest'")`` -> ``{"n_d": 64, "upsample": "nearest"}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise DeepPriorError(f"--net-arg {item!r} must look like KEY=VALUE, e.g. n_d=64")
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value  # a bare word such as nearest
    return out


def task_command(fn: Callable) -> Callable:
    """Turn DeepPriorError and Ctrl-C outside the fit into one-line exits."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except DeepPriorError as e:
            fail(str(e))
        except KeyboardInterrupt:
            click.echo("deepprior: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except MemoryError:
            fail("out of memory; use a smaller image or a lighter --preset")

    return wrapper


def load_input(path: str, gray: bool) -> torch.Tensor:
    """Read an input image (as grayscale with ``--gray``)."""
    from ..io import load_image

    return load_image(path, channels=1 if gray else None)


def json_output(path: str, option: str) -> Path:
    """Check, before a long run, that a JSON output can be written."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        raise DeepPriorError(f"{option} {p} must end in .json")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise DeepPriorError(f"cannot write {p}: directory {parent} does not exist")
    return p
