"""NaN and infinity are refused wherever a float comes in, and every JSON written is strict."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import click
import numpy as np
import pytest
import torch

import deepprior
from deepprior.cli import cli
from deepprior.cli.diag import _floats
from deepprior.errors import DeepPriorError
from deepprior.finite import dumps_strict, json_safe
from deepprior.fit import Schedule
from deepprior.io import save_image
from deepprior.tasks import get_preset

from ._inproc import run_main

SRC = Path(deepprior.__file__).parent
BAD = ("nan", "NaN", "inf", "-inf", "Infinity")


def _float_options() -> list[tuple[str, click.Parameter]]:
    """Every (command path, option) of the CLI that takes a float."""
    found: list[tuple[str, click.Parameter]] = []

    def walk(cmd: click.Command, path: str) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), f"{path} {name}".strip())
            return
        found.extend((path, p) for p in cmd.params if p.type.name == "float")

    walk(cli, "")
    return found


def test_every_float_option_refuses_nan_and_inf() -> None:
    options = _float_options()
    commands = {path for path, _ in options}
    # restoration, task, tools, bench and diagnostics options are all covered
    assert {"denoise", "inpaint", "deblur", "degrade", "bench denoise", "invert"} <= commands
    for path, param in options:
        assert param.type.convert("0.25", param, None) == 0.25
        for text in BAD:
            with pytest.raises(click.BadParameter, match="not a finite number"):
                param.type.convert(text, param, None)
                pytest.fail(f"{path} {param.opts[0]} accepted {text}")


def test_cli_input_noise_nan_exits_2_before_work(tmp_path: Path, capsys) -> None:
    src = save_image(torch.rand(3, 16, 16), tmp_path / "in.png")
    out = tmp_path / "o.png"
    code, lines = run_main(capsys, "denoise", str(src), "-o", str(out), "--input-noise", "nan")
    assert code == 2 and len(lines) == 1, lines
    assert "--input-noise" in lines[0] and "'nan' is not a finite number" in lines[0]
    assert not out.exists()


def test_diag_number_lists_refuse_nan() -> None:
    assert _floats("0.5, 0.25", "mean") == [0.5, 0.25]
    for text in ("0.5,nan", "inf", "x"):
        with pytest.raises(DeepPriorError, match="--mean needs finite numbers"):
            _floats(text, "mean")


@pytest.mark.parametrize("field", ["lr", "input_noise", "ema", "backtrack_db"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_preset_overrides_refuse_nan_and_inf(field: str, value: float) -> None:
    with pytest.raises(DeepPriorError, match=f"{field} must be a finite number") as info:
        get_preset("denoise").with_overrides(**{field: value})
    assert info.value.param == field


def test_api_refuses_nan_input_noise_before_fitting() -> None:
    with pytest.raises(DeepPriorError, match="input_noise must be a finite number"):
        deepprior.denoise(torch.rand(3, 16, 16), input_noise=math.nan, iters=1, device="cpu")
    for value in (math.nan, math.inf):  # a Schedule built directly is checked too
        with pytest.raises(DeepPriorError, match="input_noise"):
            Schedule(iters=1, input_noise=value).validate()


def test_json_safe_and_strict_dumps() -> None:
    data = {"psnr": math.inf, "l": [1.0, math.nan, np.float32("nan"), np.float64(2.5)], "n": 3}
    assert json_safe(data) == {"psnr": None, "l": [1.0, None, None, 2.5], "n": 3}
    assert json.loads(dumps_strict(data)) == json_safe(data)
    with pytest.raises(ValueError):
        json.dumps(data, allow_nan=False)  # what dumps_strict avoids


def test_every_json_write_in_the_package_is_strict() -> None:
    """No module writes JSON with plain ``json.dump(s)``, which writes NaN and Infinity."""
    offenders = []
    for path in SRC.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bjson\.dumps?\(", line) and "allow_nan=False" not in line:
                if path.name != "finite.py":
                    offenders.append(f"{path.relative_to(SRC)}:{n}")
    assert not offenders, offenders
