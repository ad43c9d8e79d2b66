"""The README's commands stay in step with the CLI: every ``deepprior ...`` line of its shell
examples names a real subcommand and only options that subcommand has, with valid values."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from deepprior.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """The ``deepprior`` command lines of the README's ``sh`` blocks (continuations joined,
    comments dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    commands = [ln.split("  #")[0].strip() for ln in lines]
    return [c for c in commands if c.startswith("deepprior ")]


def parse(argv: list[str]) -> click.Context:
    """Parse ``argv`` through the command tree as click would, without running anything
    (the groups here take no options before their subcommand)."""
    command: click.Command = cli
    name, args = "deepprior", list(argv)
    while isinstance(command, click.Group):
        name, *args = args
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"no subcommand {name!r}"
        command = sub
    return command.make_context(name, args)


def test_the_readme_has_an_example_per_restoration_task():
    from deepprior.tasks import list_tasks

    shown = {shlex.split(c)[1] for c in readme_commands()}
    missing = set(list_tasks()) - shown
    assert not missing, f"README lacks an example of {sorted(missing)}"


@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_parses(command):
    argv = shlex.split(command.replace("$D", "data"))[1:]
    try:
        parse(argv)
    except click.UsageError as e:  # an unknown option, a bad value, a missing argument
        pytest.fail(f"{command!r}: {e.format_message()}")
