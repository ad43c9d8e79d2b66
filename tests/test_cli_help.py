"""The help shows what matters (presets with steps and time, defaults, choices); one name
means one thing; --invert-mask reads OpenCV/LaMa masks."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import deepprior
from deepprior.cli import cli
from deepprior.errors import DeepPriorError
from deepprior.io import load_image, save_image
from deepprior.tasks import get_task


def _help(*args: str) -> str:
    res = CliRunner().invoke(cli, [*args, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def test_task_help_lists_its_presets_with_steps_and_time():
    text = _help("denoise")
    task = get_task("denoise")
    for name, p in task.presets.items():
        steps = f"at most {p.iters}" if p.stop else str(p.iters)
        assert re.search(rf"{name} {steps} steps, ~[\d.]+ (s|min|h)", text), name
    assert "(the default)" in text and "times at 512x512 px" in text


def test_help_shows_the_defaults_and_choices():
    text = _help("sr")
    assert "--iters INTEGER Number of fitting steps. [default: 3000, the auto preset's]" in text
    assert "--lr FLOAT Adam learning rate. [default: 0.01, the auto preset's]" in text
    assert "--precision [auto|fp32|bf16]" in text and "auto, cpu, cuda or cuda:N" in text
    assert "--gif, --timelapse [gif|mp4]" in text and "--plot" in text


def test_paper_times_scale_with_the_steps():
    from deepprior.tasks.estimate import preset_seconds

    paper, fast = get_task("sr").presets["paper"], get_task("sr").presets["fast"]
    assert preset_seconds(paper) == pytest.approx(preset_seconds(paper, side=256) * 4)
    assert preset_seconds(fast) < preset_seconds(paper) / 2  # 64 filters, half the steps


def test_speed_counts_iters_and_keeps_its_old_spelling():
    text = _help("speed")
    assert "--iters INTEGER Timed steps per run." in text and "--steps" not in text


def test_precision_outside_the_choices_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(cli, ["denoise", "x.png", "-o", "y.png", "--precision", "fp16"])
    assert res.exit_code == 2 and "'fp16' is not one of 'auto', 'fp32', 'bf16'" in res.output


@pytest.fixture
def masks(tmp_path, photo):
    mask = torch.ones(1, 64, 64)
    mask[:, 20:36, 24:44] = 0  # black = fill (deepprior's convention)
    save_image(photo, tmp_path / "in.png")
    save_image(mask, tmp_path / "keep.png")
    save_image(1 - mask, tmp_path / "fill.png")  # white = fill (OpenCV / LaMa)
    return tmp_path, mask


def test_invert_mask_in_the_api_equals_a_pre_inverted_mask(masks, photo, one_thread):
    _, mask = masks
    kw = {"iters": 2, "progress": False, "net_kwargs": {"n_d": [8, 8], "n_s": 2, "depth": 2}}
    a = deepprior.inpaint(photo, mask, **kw)
    b = deepprior.inpaint(photo, 1 - mask, invert_mask=True, **kw)
    c = deepprior.inpaint(photo, 1 - mask, **kw)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    assert a.report["known_fraction"] == b.report["known_fraction"] > 0.9
    with pytest.raises(DeepPriorError, match="invert_mask applies to a mask file"):
        deepprior.restore(photo, p_known=0.5, invert_mask=True, **kw)


def test_invert_mask_on_the_command_line(masks, one_thread):
    d, _ = masks
    common = ["--iters", "2", "--net-arg", "n_d=[8,8]", "--net-arg", "n_s=2", "--net-arg",
              "depth=2", "-q"]  # fmt: skip
    for task in ("inpaint", "restore"):
        base = [task, str(d / "in.png"), *common, "--mask"]
        r1 = CliRunner().invoke(cli, [*base, str(d / "keep.png"), "-o", str(d / f"{task}1.png")])
        r2 = CliRunner().invoke(cli, [*base, str(d / "fill.png"), "--invert-mask",
                                      "-o", str(d / f"{task}2.png")])  # fmt: skip
        assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
        one, two = load_image(d / f"{task}1.png"), load_image(d / f"{task}2.png")
        np.testing.assert_array_equal(one.numpy(), two.numpy())
    assert "--invert-mask" in _help("inpaint") and "OpenCV/LaMa" in _help("restore")
