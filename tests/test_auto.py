"""The auto presets: the default of every restoration task, stopping by themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import deepprior
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise
from deepprior.tasks.registry import get_task

from .conftest import DATA


def test_auto_is_the_default_of_every_task():
    for name in deepprior.list_tasks():
        task = get_task(name)
        assert task.default_preset == "auto", name
        assert "paper" in task.presets or name == "inpaint", name  # kept for reproduction


def test_auto_denoiser_stops_by_itself_and_beats_its_input(one_thread):
    from skimage import data

    clean = torch.from_numpy(data.astronaut()[40:104, 200:264].copy()).permute(2, 0, 1)
    clean = clean.float() / 255
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    res = deepprior.denoise(noisy, gt=clean, progress=False)
    rep = res.report
    assert rep["preset"]["name"] == "auto"
    assert rep["stop_reason"] and "no improvement" in rep["stop_reason"]
    assert rep["iters_run"] < rep["settings"]["iters"]  # it stopped before its cap
    assert psnr(res.image, clean) > psnr(noisy, clean) + 3
    # The returned image is the best EMA the rule saw, not the last iterate.
    assert psnr(res.image, clean) > psnr(res.last, clean)
    # Its post-filters (Wiener, then chroma) were each judged on the held-out pixels, and
    # each verdict was followed: the output is the last kept filter's image.
    wiener, chroma = rep["post"]
    assert (wiener["filter"], chroma["filter"]) == ("wiener", "chroma")
    for post in (wiener, chroma):
        assert post["applied"] == (post["heldout_mse"][1] < post["heldout_mse"][0])
    assert chroma["psnr"][0] == wiener["psnr"][1 if wiener["applied"] else 0]
    chosen = chroma["psnr"][1] if chroma["applied"] else chroma["psnr"][0]
    assert psnr(res.image, clean) == pytest.approx(chosen, abs=1e-3)


def test_auto_restoration_keeps_the_known_pixels_and_fills_the_others(gray_photo, one_thread):
    from deepprior.ops import bernoulli_mask

    res = deepprior.restore(gray_photo, p_known=0.5, progress=False, iters=600)
    rep, mask = res.report, bernoulli_mask((64, 64), 0.5, seed=0)
    assert rep["preset"]["name"] == "auto" and rep["preset"]["net_kwargs"]["n_d"] == [32] * 5
    # The known pixels are returned as observed; the others are the fit's.
    assert torch.equal(res.image * mask, gray_photo * mask)
    assert not torch.equal(res.image * (1 - mask), gray_photo * (1 - mask))
    grey_holes = gray_photo * mask + 0.5 * (1 - mask)  # the fit's starting image
    assert psnr(res.image, gray_photo) > psnr(grey_holes, gray_photo) + 15
    # The PSNR curve measures the same image as the output: its best is the output's or more.
    assert max(res.history["psnr_ema"]) >= res.metrics["psnr"] - 1e-6


def test_paper_preset_is_unchanged():
    p = get_task("denoise").preset("paper")
    assert (p.iters, p.lr, p.output, p.stop, p.net_kwargs) == (1800, 0.01, "ema", None, {})
    r = get_task("restore").preset("paper")
    assert (r.iters, r.lr, r.output, r.net_kwargs) == (11000, 0.001, "last", {})
    assert not r.keep_observed  # the paper's output is the net's image
    sr8 = get_task("sr").preset("paper", factor=8)
    assert (sr8.iters, sr8.input_noise) == (4000, 1 / 20)


def test_bench_tiles_side_by_side_record_the_tiles_own_seconds(tmp_path, monkeypatch):
    """``bench --tile-jobs 2``: the auto denoiser's tiles run in two processes, and the record's
    time is the sum of the tiles' own fit seconds (as if one fit per thread), not the wall."""
    from click.testing import CliRunner

    from deepprior.cli import cli

    monkeypatch.chdir(tmp_path)
    args = ["bench", "denoise", "--quick", "--quick-size", "224", "--only", "image_House256rgb",
            "--iters", "20", "--no-baselines", "--device", "cpu", "--data-dir", str(DATA),
            "--preset", "auto", "--tile-jobs", "2", "--no-progress"]  # fmt: skip
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = tmp_path / "benchmarks/results/quick/denoise-CBM3D9-sigma25-auto-warm"
    rec = json.loads((out / "image_House256rgb.json").read_text())
    fit = rec["fits"]["dip"]
    assert fit["tiles"]["count"] == 4 and fit["tiles"]["jobs"] == 2
    tiles = sum(t["fit_seconds"] for t in fit["tiles"]["fits"])
    assert rec["seconds_per_method"]["dip"] == pytest.approx(tiles, rel=1e-3)


def test_bench_auto_quick_and_curves(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from deepprior.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    base = ["bench", "denoise", "--quick", "--only", "image_House256rgb", "--iters", "20",
            "--no-baselines", "-q", "--device", "cpu", "--data-dir", str(DATA)]  # fmt: skip
    for extra in ([], ["--preset", "auto"]):
        res = runner.invoke(cli, [*base, *extra], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    out = tmp_path / "benchmarks/results/quick/denoise-CBM3D9-sigma25-auto-warm"
    rec = json.loads((out / "image_House256rgb.json").read_text())
    fit = rec["fits"]["dip"]
    assert fit["preset"]["name"] == "auto"
    assert len(fit["curve"]["step"]) == 2  # PSNR every 10 of the 20 steps
    assert fit["oracle"]["psnr"] == max(fit["curve"]["psnr_ema"])
    loss = fit["curve"]["loss"]  # the training loss at the PSNR's steps: an MSE to the input
    assert len(loss) == 2 and all(0 < v < 1 for v in loss), loss
    (out / "peers.json").write_text('{"image_House256rgb": {"psnr": 30.0}}')  # not a record
    res = runner.invoke(cli, ["bench", "curves", "denoise", "--quick"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    table = (out / "comparison.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| image_House256rgb"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1]) == pytest.approx(rec["metrics"]["dip"]["psnr"], abs=0.01)
    assert np.isfinite(float(cells[-1]))  # the time ratio
    assert (out / "curves.png").stat().st_size > 1000
