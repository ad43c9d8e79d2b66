"""The docstrings' examples run: every module of the package that has some (they use tiny
images and a few steps)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import deepprior

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(deepprior.__path__, "deepprior.")
    if not m.name.endswith("__main__")  # importing it runs the command line
)  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, one_thread) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as e:  # an optional extra that is not installed
        pytest.skip(f"{name}: {e}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_task_functions_have_examples_that_run() -> None:
    tested = {m for m in MODULES if doctest.DocTestFinder().find(importlib.import_module(m))}
    assert {"deepprior.tasks.denoise", "deepprior.tasks.generic", "deepprior.views",
            "deepprior.tasks.base"} <= tested  # fmt: skip
