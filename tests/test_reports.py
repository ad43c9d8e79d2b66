"""Run reports one can look at: the sampled history, best PSNR, timestamps, --plot, --gif and
the one-line plan printed before the fit."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pytest
import torch
from PIL import Image

import deepprior
from deepprior.io import save_image
from deepprior.tasks.report import sample_history
from deepprior.views import geometric_steps

NET = {"n_d": [8, 8], "n_s": 2, "depth": 2}


@pytest.fixture(scope="module")
def fitted(photo):
    torch.manual_seed(0)
    clean = photo[:, :32, :32]
    noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    return deepprior.denoise(noisy, preset="fast", iters=40, gt=clean, metrics_every=10,
                             progress=False, net_kwargs=NET)  # fmt: skip


def _numbers(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _numbers(v)
    elif isinstance(x, list):
        for v in x:
            yield from _numbers(v)
    elif isinstance(x, (int, float)):
        yield x


def test_history_is_strict_finite_json_and_best_psnr_is_its_max(fitted):
    rep = fitted.report
    h = json.loads(json.dumps(rep["history"], allow_nan=False))
    assert all(math.isfinite(v) for v in _numbers(h))
    assert h["step"][-1] == rep["iters_run"] == 40 and len(h["loss"]) == len(h["step"])
    assert h["psnr_step"] == list(range(10, 41, 10)) and len(h["psnr_ema"]) == 4
    values = [
        (v, s) for k in ("psnr", "psnr_ema") for v, s in zip(h[k], h["psnr_step"], strict=True)
    ]
    assert rep["best_psnr"] == max(values)[0] and rep["best_psnr_step"] == max(values)[1]
    # the loss is the fit's own, rounded: the last value is the final loss
    assert h["loss"][-1] == pytest.approx(rep["final_loss"], rel=1e-4)


def test_report_has_timestamps_and_peak_memory(fitted):
    rep = fitted.report
    start, end = (datetime.fromisoformat(rep[k]) for k in ("started_at", "finished_at"))
    assert start.tzinfo is not None and start <= end
    assert (end - start).total_seconds() >= rep["fit_seconds"] - 1
    assert rep["peak_memory_mib"] > 10 and rep["peak_memory_of"] == "ru_maxrss"


def test_long_histories_are_sampled_small_keeping_the_last_step_and_the_best():
    loss = [float(v) for v in np.linspace(1, 0.1, 5003)]
    psnr = [20.0] * 900
    psnr[333] = 31.0
    h = sample_history({"loss": loss, "psnr_step": list(range(1, 901)), "psnr": psnr})
    assert h["every"] == 26 and len(h["step"]) <= 201 and h["step"][-1] == 5003
    assert h["loss"][-1] == pytest.approx(0.1)
    assert max(h["psnr"]) == 31.0 and 334 in h["psnr_step"] and len(h["psnr"]) <= 203
    json.dumps(h, allow_nan=False)
    assert sample_history({"loss": [math.inf, 1.0]})["loss"] == [None, 1.0]


def test_geometric_steps_have_growing_gaps():
    steps = geometric_steps(2000, frames=40)
    gaps = np.diff(steps)
    assert steps[0] == 1 and steps[-1] == 2000 and 20 <= len(steps) <= 45
    assert (np.diff(gaps[:-1]) >= 0).all() and gaps[-2] > 50 * gaps[0]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, photo):
    from click.testing import CliRunner

    from deepprior.cli import cli

    d = tmp_path_factory.mktemp("views")
    torch.manual_seed(1)
    save_image((photo + 0.1 * torch.randn_like(photo)).clamp(0, 1), d / "noisy.png")
    save_image(photo, d / "clean.png")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(cli, [
            "denoise", str(d / "noisy.png"), "-o", str(d / "out.png"), "--gt", str(d / "clean.png"),
            "--preset", "fast", "--iters", "30", "--net-arg", "n_d=[8,8]", "--net-arg", "n_s=2",
            "--net-arg", "depth=2", "--report", str(d / "r.json"), "--plot", "--timelapse",
        ])  # fmt: skip
    finally:
        torch.set_num_threads(old)
    assert res.exit_code == 0, res.output
    return d, res


def test_plot_is_a_png_with_curves(cli_run):
    d, _ = cli_run
    img = Image.open(d / "out.curves.png")
    assert img.format == "PNG" and img.width >= 400
    arr = np.asarray(img.convert("RGB")).astype(float)
    assert arr.std() > 10 and len(np.unique(arr.reshape(-1, 3), axis=0)) > 50
    assert str(d / "out.curves.png") in json.loads((d / "r.json").read_text())["outputs"]


def test_gif_has_frames_at_growing_gaps_that_change(cli_run):
    import imageio.v3 as iio

    d, _ = cli_run
    frames = iio.imread(d / "out.gif", index=None)
    steps = json.loads((d / "r.json").read_text())["timelapse_steps"]
    assert len(frames) == len(steps) > 2 and steps[0] == 1 and steps[-1] == 30
    gaps = np.diff(steps)
    assert (np.diff(gaps[:-1]) >= 0).all() and gaps[-2] > gaps[0]
    diffs = [np.abs(a.astype(float) - b).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert min(diffs) >= 0 and np.abs(frames[0].astype(float) - frames[-1]).mean() > 5
    assert sum(v > 0 for v in diffs) >= len(diffs) // 2


def test_the_plan_line_comes_before_the_fit(cli_run):
    _, res = cli_run
    line = next(ln for ln in res.stderr.splitlines() if "preset fast" in ln)
    assert line.startswith("denoise: preset fast, net skip (")
    assert "parameters), 30 steps, cpu" in line and "MiB estimated, ~" in line
    assert line.endswith(" s/step)")


def test_mp4_without_ffmpeg_is_refused_before_the_fit(tmp_path, photo):
    pytest.importorskip("imageio")
    import importlib.util

    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        pytest.skip("imageio-ffmpeg is installed")
    from click.testing import CliRunner

    from deepprior.cli import cli

    save_image(photo, tmp_path / "in.png")
    res = CliRunner().invoke(cli, ["denoise", str(tmp_path / "in.png"), "-o",
                                    str(tmp_path / "o.png"), "--gif", "mp4"])  # fmt: skip
    assert res.exit_code == 2 and "pip install imageio-ffmpeg" in res.stderr
    assert not (tmp_path / "o.png").exists()


def test_progress_log_prints_the_plan_and_plain_lines_without_a_bar(monkeypatch, capsys):
    """``progress="log"`` (the CLI's ``--no-progress``): the plan line, then a progress line
    every ``LOG_SECONDS`` with no carriage-return bar."""
    import deepprior
    from deepprior.tasks import base

    monkeypatch.setattr(base, "LOG_SECONDS", 0.0)
    deepprior.denoise(torch.rand(3, 32, 32), iters=12, progress="log",
                      net_kwargs={"n_d": [8, 8], "n_s": 2})  # fmt: skip
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert any(ln.startswith("denoise: preset ") for ln in lines)
    assert any(ln.startswith("denoise: step 10/12") for ln in lines), lines
