"""What every ``deepprior`` subcommand module shares: exit codes, one-line errors, the Ctrl-C /
SIGTERM handling, ``--net-arg`` parsing and input / JSON-output checks. The command modules
(restore, tools, diag, bench) import from here, so none of them needs another."""

from __future__ import annotations

import ast
import contextlib
import functools
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..device import PRECISIONS
from ..errors import DeepPriorError
from ..signals import sigterm_to_interrupt

if TYPE_CHECKING:
    import torch

__all__ = [
    "EXIT_INTERRUPTED", "EXIT_USAGE", "AliasedCommand", "error_message", "fail", "json_output",
    "load_input", "option", "parse_key_values", "sigterm_as_interrupt", "task_command",
]  # fmt: skip

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: ``--seed``: what torch, numpy and the masks' generators all take.
SEED = click.IntRange(0, 2**63 - 1)


# The options several command families share, with one meaning each (see ``option``).
SHARED_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "seed": (("--seed",), {"type": SEED, "default": 0, "show_default": True,
                           "help": "Random seed."}),
    "device": (("--device",), {"default": "auto", "show_default": True,
                               "help": "auto, cpu, cuda or cuda:N."}),
    "precision": (("--precision",), {"type": click.Choice(PRECISIONS), "default": "auto",
                                     "show_default": True,
                                     "help": "auto (bf16 where the hardware is fast at it), "
                                     "fp32 or bf16."}),
    "quiet": (("-q", "--quiet"), {"is_flag": True, "help": "No progress bar or summary."}),
    "net_args": (("--net-arg", "net_args"), {
        "multiple": True, "metavar": "KEY=VALUE",
        "help": "Generator setting, repeatable: e.g. --net-arg n_d=64 --net-arg depth=4."}),
    "report": (("--report",), {"default": None,
                               "help": "Write a JSON report of the run here (.json)."}),
}  # fmt: skip


def option(name: str, **changes: Any) -> Callable[[Callable], Callable]:
    """One of the shared options (``SHARED_OPTIONS``), so that a flag means one thing in every
    command; ``changes`` adjusts its default or help where a command needs it.

    Example:
        >>> @click.command()
        ... @option("seed", default=3)
        ... def f(seed: int) -> None: ...
        >>> [(p.opts, p.default) for p in f.params]
        [(['--seed'], 3)]
    """
    decls, attrs = SHARED_OPTIONS[name]
    return click.option(*decls, **{**attrs, **changes})


class AliasedCommand(click.Command):
    """A command that still accepts old spellings of renamed options, hidden from ``--help``.

    Example:
        >>> @click.command(cls=AliasedCommand, aliases={"--json": "--report"})
        ... @click.option("--report")
        ... def f(report: str) -> None:
        ...     click.echo(report)
        >>> from click.testing import CliRunner
        >>> CliRunner().invoke(f, ["--json=r.json"]).output
        'r.json\\n'
    """

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.aliases = aliases or {}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Rename the old spellings (``--old V`` and ``--old=V``) before click parses."""
        renamed: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                renamed += args[i:]
                break
            old, eq, value = arg.partition("=")
            renamed.append(self.aliases[old] + eq + value if old in self.aliases else arg)
        return super().parse_args(ctx, renamed)


# Library parameters whose flag is not simply ``--`` + the name with dashes.
FLAG_OF_PARAM = {
    "net_kwargs": "--net-arg",
    "stop_kwargs": "--stop-arg",
    "p_known": "--keep",
    "snapshot_every": "--save-every",
    "snapshot_dir": "--snapshot-dir",
    "memory_check": "--no-memory-check",
    "quality": "--jpeg",
}


def flag_of(param: str) -> str:
    """The command-line flag of a library parameter: ``"input_noise"`` -> ``"--input-noise"``."""
    return FLAG_OF_PARAM.get(param, "--" + param.replace("_", "-"))


def error_message(err: DeepPriorError) -> str:
    """The one-line CLI message of a library error: its ``param`` said as the flag.

    The first mention of ``param`` in the message becomes the flag; a message that does not
    mention it is prefixed with the flag. Other library names with an underscore and their own
    flag (``p_known``: ``--keep``) become that flag wherever they appear.

    Example:
        >>> error_message(DeepPriorError("iters must be >= 0, got -3", param="iters"))
        '--iters must be >= 0, got -3'
        >>> error_message(DeepPriorError("must be at least 1", param="p_known"))
        '--keep: must be at least 1'
    """
    message = " ".join(str(err).split())  # one line
    param = getattr(err, "param", None)
    for other in FLAG_OF_PARAM:  # names no sentence uses (p_known ...) are always flags
        if "_" in other and other != param:
            message = re.sub(rf"(?<![\w-]){other}(?![\w-])", flag_of(other), message)
    if not param:
        return message
    flag = flag_of(param)
    pattern = rf"(?<![\w-]){re.escape(param)}(?![\w-])"
    if re.search(pattern, message):
        return re.sub(pattern, flag, message, count=1)
    return f"{flag}: {message}"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM (e.g. from ``timeout``) stops like Ctrl-C: the fit stops at a
    step boundary and what it has (result, report, state) is saved. The previous handler is
    restored on exit. The one SIGTERM handling of every ``deepprior`` command.

    Example:
        >>> with sigterm_as_interrupt():
        ...     signal.getsignal(signal.SIGTERM) is sigterm_to_interrupt
        True
    """
    old = signal.signal(signal.SIGTERM, sigterm_to_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def fail(message: str) -> None:
    """Print ``deepprior: error: MESSAGE`` on one line and exit with status 2."""
    click.echo(f"deepprior: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def parse_key_values(
    items: tuple[str, ...], flag: str = "--net-arg", example: str = "n_d=64"
) -> dict[str, Any]:
    """``("n_d=64", "upsample='nearest'")`` -> ``{"n_d": 64, "upsample": "nearest"}``; the
    values of a repeatable KEY=VALUE ``flag`` (``--net-arg``, ``--stop-arg``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise DeepPriorError(f"{flag} {item!r} must look like KEY=VALUE, e.g. {example}")
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
            fail(error_message(e))
        except KeyboardInterrupt:
            click.echo("deepprior: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (MemoryError, RuntimeError) as e:
            from ..memory import is_allocation_error

            if not is_allocation_error(e):
                raise
            fail("out of memory; use --checkpoint, a smaller image or a lighter --preset")

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
