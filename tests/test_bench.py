"""``deepprior bench``: every table end to end in --quick mode on the shared data (skipped
when ../shared/data is absent), resuming, the report, the protocols and the errors."""

from __future__ import annotations

import json
import math
import platform
import re
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from deepprior.bench import data as bd
from deepprior.bench.protocols import measure, psnr_region, psnr_y
from deepprior.bench.tables import (
    BenchOptions,
    get_table,
    job_devices,
    list_tables,
    register_table,
    run_table,
    threads_per_job,
)

try:
    from deepprior.cli.bench import register
except ImportError:  # the CLI as single modules (before the cli package)
    from deepprior.cli_bench import register

from .conftest import DATA

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not available")


@pytest.fixture(scope="module")
def group() -> click.Group:
    return register(click.Group("deepprior"))


def invoke(group: click.Group, *args: str):
    return CliRunner().invoke(group, ["bench", *args], catch_exceptions=False)


def run_quick(group: click.Group, table: str, out, *extra: str) -> dict[str, dict]:
    """``deepprior bench TABLE --quick`` on the shared data into ``out``; its records."""
    res = invoke(group, table, "--quick", "--data-dir", str(DATA), "--out", str(out),
                 "--device", "cpu", *extra)  # fmt: skip
    assert res.exit_code == 0, res.output
    return records(out)


def records(folder) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def finite(x) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def check_record(rec: dict, methods: set[str]) -> None:
    assert rec["quick"] is True and rec["settings"]["quick"] is True
    primary = rec["primary"]
    assert primary in rec["protocol"] and "input" in rec["protocol"]
    for key in ("git_commit", "preset", "device", "dtype", "seconds", "threads", "settings"):
        assert key in rec, key
    assert rec["preset"]["name"] and rec["device"] == "cpu" and rec["seconds"] > 0
    assert len(rec["inputs"]["image"]["sha256"]) == 64
    assert rec["inputs"]["image"]["manifest_match"] in (True, None)
    assert methods <= set(rec["metrics"]), set(rec["metrics"])
    for m in methods:
        assert finite(rec["metrics"][m][primary]), (m, rec["metrics"][m])
        assert finite(rec["metrics"][m]["ssim"]), m
    for name, why in rec["skipped"].items():  # optional packages: skipped with the reason
        assert name not in rec["metrics"] and ("pip install" in why or why == "--skip")


def check_report(folder, n_rows: int) -> str:
    text = (folder / "report.md").read_text()
    assert "QUICK RUN" in text
    assert "(paper)" in text and "| **mean** |" in text
    first_table = text.split("### ")[1]
    rows = [ln for ln in first_table.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == 1 + n_rows + 1  # header, images, mean
    return text


# --------------------------------------------------------------------------------------------
# Protocols (no data needed)
# --------------------------------------------------------------------------------------------


def test_y_psnr_with_border_matches_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    x, ref = torch.rand(3, 20, 24, generator=g), torch.rand(3, 20, 24, generator=g)

    def y(a):
        a = a.numpy().astype(np.float64)
        return (16 + 65.481 * a[0] + 128.553 * a[1] + 24.966 * a[2]) / 255.0

    d = (y(x) - y(ref))[4:-4, 4:-4]
    expected = 10 * np.log10(1.0 / np.mean(d**2))
    assert psnr_y(x, ref) == pytest.approx(expected, abs=1e-4)
    # A gray image is taken as R = G = B: Y = (16 + 219 v) / 255, not v itself.
    xg, rg = x[:1], ref[:1]
    dg = (219.0 / 255.0) * (xg[0] - rg[0]).numpy().astype(np.float64)[4:-4, 4:-4]
    assert psnr_y(xg, rg) == pytest.approx(10 * np.log10(1 / np.mean(dg**2)), abs=1e-4)
    m = measure("sr", x, ref)
    assert m["psnr_y"] == pytest.approx(expected, abs=1e-4)
    rgb = (x - ref).numpy().astype(np.float64)[:, 4:-4, 4:-4]
    assert m["psnr_rgb"] == pytest.approx(10 * np.log10(1 / np.mean(rgb**2)), abs=1e-4)


def test_psnr_inside_the_hole_only_counts_hole_pixels():
    ref = torch.zeros(3, 8, 8)
    x = ref.clone()
    mask = torch.ones(1, 8, 8)
    mask[:, 2:4, 2:6] = 0  # an 8-pixel hole
    x[:, 2:4, 2:6] = 0.1  # error 0.1 inside the hole
    x[:, 0, 0] = 1.0  # a large error outside it is ignored
    assert psnr_region(x, ref, 1 - mask) == pytest.approx(20.0, abs=1e-6)
    assert measure("holes", x, ref, mask=mask)["psnr_hole"] == pytest.approx(20.0, abs=1e-6)


def test_sr_hr_is_the_authors_centre_crop_to_multiples_of_32():
    woman = torch.arange(228 * 344, dtype=torch.float32).reshape(1, 228, 344)
    hr = bd.center_crop_to_multiple(woman, 32)
    assert hr.shape[-2:] == (224, 320)
    assert torch.equal(hr, woman[:, 2:226, 12:332])  # offsets (228-224)//2, (344-320)//2
    baby = torch.rand(3, 512, 512)
    assert torch.equal(bd.center_crop_to_multiple(baby, 32), baby)


def test_lr_input_is_the_8bit_pil_lanczos_resize():
    from PIL import Image

    g = torch.Generator().manual_seed(1)
    hr = (torch.rand(3, 32, 48, generator=g) * 255).round() / 255
    lr = bd.lanczos_lr_8bit(hr, 4)
    assert lr.shape == (3, 8, 12)
    pil = Image.fromarray((hr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    ref = np.asarray(pil.resize((12, 8), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    assert torch.equal(lr, torch.from_numpy(ref).permute(2, 0, 1))


def test_default_folders_and_threads():
    assert str(BenchOptions("sr", dataset="Set14", factor=8).out_dir()).endswith(
        "benchmarks/results/sr-Set14-x8"
    )
    assert "quick" in BenchOptions("denoise", quick=True).out_dir().parts
    assert threads_per_job(1) >= 1 and threads_per_job(64) == 1


def test_tables_are_a_registry_in_the_papers_order():
    from deepprior.bench.tables import Table
    from deepprior.errors import DeepPriorError

    assert list_tables() == ["sr", "denoise", "inpaint", "text-inpaint", "holes"]
    assert get_table("holes").default_preset == "holes"
    with pytest.raises(DeepPriorError, match="unknown table 'nope'; choose one of sr, denoise"):
        BenchOptions("nope").validate()

    @register_table("tiny-test")
    class Tiny(Table):
        dataset_of = "Set5"
        name_template = "{kind}-x{factor}"

        def run(self, item, run):
            return {}

    try:
        assert list_tables()[-1] == "tiny-test"
        opts = BenchOptions("tiny-test", preset="fast")
        assert opts.name == "tiny-test-x4-fast" and opts.spec.image_names()[0] == "baby"
        assert Tiny.kind == "tiny-test" and get_table("tiny-test") is Tiny
    finally:
        from deepprior.bench.tables import registry

        del registry._TABLES["tiny-test"]


def test_a_preset_other_than_the_papers_names_the_folder():
    assert str(BenchOptions("denoise", preset="fast").out_dir()).endswith(
        "benchmarks/results/denoise-CBM3D9-sigma25-fast"
    )
    assert BenchOptions("sr", factor=8, preset="fast").name == "sr-Set5-x8-fast"
    # The table's own paper preset is the default: same folder, same settings.
    for table, preset in (("sr", "paper"), ("holes", "holes"), ("text-inpaint", "text")):
        same, default = BenchOptions(table, preset=preset), BenchOptions(table)
        assert same.name == default.name and same.fit_preset == default.fit_preset == preset
    assert BenchOptions("holes").fit_preset == "holes"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_jobs_get_one_gpu_each_round_robin(monkeypatch):
    assert job_devices("cpu", 3) == ["cpu"] * 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert job_devices("cuda", 3) == ["cuda:0", "cuda:1", "cuda:0"]
    assert job_devices("auto", 2) == ["cuda:0", "cuda:1"]
    assert job_devices("cuda:1", 2) == ["cuda:1", "cuda:1"]  # a named GPU is kept


def test_missing_data_dir_is_a_one_line_error(group, tmp_path):
    missing = tmp_path / "nowhere"
    res = invoke(group, "sr", "--quick", "--data-dir", str(missing), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    msg = res.output.strip()
    assert len(msg.splitlines()) == 1 and msg.startswith("deepprior: error:")
    assert str(missing) in msg and "git clone" in msg and "DEEPPRIOR_DATA" in msg


def test_settings_keep_the_dtype_not_the_precision_option():
    from deepprior.bench.tables.options import same_settings, settings_of

    opts = BenchOptions("denoise", preset="auto", precision="fp32", device="cpu")
    settings = settings_of(opts)
    assert settings["precision"] == "float32"
    # records that kept the option: "auto" is read with the dtype the record ran in
    old = {**settings, "precision": "auto"}
    assert same_settings({"settings": old, "dtype": "float32"}, settings)
    assert not same_settings({"settings": old, "dtype": "bfloat16"}, settings)
    assert same_settings({"settings": {**settings, "precision": "fp32"}}, settings)
    assert not same_settings({"settings": {**settings, "precision": "bf16"}}, settings)
    assert not same_settings({"settings": {**settings, "seed": 1}}, settings)


def test_skip_names_a_baseline(group, tmp_path):
    res = invoke(group, "denoise", "--quick", "--skip", "nlm,bm4d", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--skip: no baseline 'bm4d'" in res.output
    assert "zs_n2n" in res.output  # the choices are listed


def test_tile_jobs_are_for_the_tables_that_tile(group, tmp_path):
    res = invoke(group, "sr", "--quick", "--tile-jobs", "2", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--tile-jobs applies to the tables whose fits run in tiles" in (
        res.output
    )
    from deepprior.bench.tables import tiled_tables

    assert tiled_tables() == ["denoise", "inpaint"]  # the tables with a task whose fits tile
    assert "(denoise, inpaint), not sr" in res.output
    res = invoke(group, "denoise", "--quick", "--tile-jobs", "0", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--tile-jobs must be at least 1, got 0" in res.output


def test_warm_tiles_are_for_the_tables_that_tile_and_have_their_own_records(group, tmp_path):
    res = invoke(group, "sr", "--quick", "--warm-tiles", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--warm-tiles applies to the tables whose fits" in res.output
    res = invoke(group, "sr", "--quick", "--cold-tiles", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "--cold-tiles applies to the tables whose fits" in res.output
    from deepprior.bench.tables.options import settings_of
    from deepprior.bench.tables.runner import _Runner

    # denoise's auto preset warm-starts its tiles, restore's does not: the flag or the
    # preset, whichever decides, names the folder and goes into the records' settings
    warm = BenchOptions(table="denoise", preset="auto")
    cold = replace(warm, tile_warm=False)
    assert warm.warm and not cold.warm
    assert warm.name == cold.name + "-warm" == "denoise-CBM3D9-sigma25-auto-warm"
    assert replace(warm, tile_warm=True).name == warm.name
    # a cold run's records are not reused for a warm one (and older cold records still match)
    assert settings_of(warm) == {**settings_of(cold), "table": warm.name, "tile_warm": True}
    assert "tile_warm" not in settings_of(cold)
    gt = torch.zeros(3, 8, 8)
    assert _Runner(warm).fit_kwargs(gt)["tile_warm"] is True
    assert _Runner(cold).fit_kwargs(gt)["tile_warm"] is False
    inpaint = BenchOptions(table="inpaint", preset="auto")
    assert not inpaint.warm and inpaint.name == "inpaint-Heide11-50pct-auto"
    assert replace(inpaint, tile_warm=True).name == "inpaint-Heide11-50pct-auto-warm"
    assert not BenchOptions(table="denoise").warm  # the paper preset: one cold fit
    assert not BenchOptions(table="denoise", preset="auto-tv").warm
    res = invoke(group, "report", "denoise", "--preset", "auto", "--out",
                 str(tmp_path / "none"))  # fmt: skip
    assert res.exit_code == 2 and "no records of table denoise-CBM3D9-sigma25-auto-warm" in (
        res.output
    )
    res = invoke(group, "report", "denoise", "--preset", "auto", "--cold-tiles", "--out",
                 str(tmp_path / "none"))  # fmt: skip
    assert res.exit_code == 2 and "no records of table denoise-CBM3D9-sigma25-auto " in (
        res.output + " "
    )


def test_missing_data_dir_from_the_environment(group, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPPRIOR_DATA", str(tmp_path / "env-data"))
    res = invoke(group, "denoise", "--quick", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "env-data" in res.output and "$DEEPPRIOR_DATA" in res.output


def test_missing_image_names_the_file(group, tmp_path):
    (tmp_path / "Set5").mkdir()
    res = invoke(group, "sr", "--quick", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "baby" in res.output and str(tmp_path / "Set5" / "baby.png") in res.output
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.json"))


# --------------------------------------------------------------------------------------------
# Tables, end to end (--quick)
# --------------------------------------------------------------------------------------------


@needs_data
def test_sr_quick_writes_records_report_and_resumes(group, tmp_path):
    out = tmp_path / "sr"
    args = ["sr", "--dataset", "Set5", "--factor", "4", "--quick", "--limit", "1",
            "--data-dir", str(DATA), "--out", str(out), "--device", "cpu"]  # fmt: skip
    t0 = time.perf_counter()
    res = invoke(group, *args)
    first = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    assert "baby: running (20 steps)" in res.output  # said before the long wait
    recs = records(out)
    assert list(recs) == ["baby"]
    rec = recs["baby"]
    check_record(rec, {"dip", "bicubic", "lanczos", "no_prior", "tv_prior"})
    assert rec["primary"] == "psnr_y" and "border" in rec["protocol"]["psnr_y"]
    assert finite(rec["metrics"]["dip"]["psnr_rgb"])
    assert rec["sizes"] == {"hr": [3, 64, 64], "lr": [3, 16, 16]}
    assert rec["paper"]["per_image"]["dip"] == 31.49  # paper_tables.json, Set5 x4 baby
    assert rec["settings"]["iters"] == 20 and rec["fits"]["dip"]["iters_run"] == 20
    text = check_report(out, 1)
    assert "DIP (paper)" in text and "31.49" in text and "Y" in text

    mtime = (out / "baby.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    res = invoke(group, *args)
    again = time.perf_counter() - t0
    assert res.exit_code == 0 and "0 run, 1 skipped" in res.output
    assert (out / "baby.json").stat().st_mtime_ns == mtime
    assert again < first / 2

    # Other settings: the record is redone, not reused.
    res = invoke(group, *args, "--iters", "3", "--no-baselines", "--progress")
    assert res.exit_code == 0 and "1 run, 0 skipped" in res.output
    assert "3/3" in res.output  # the fit's progress bar
    rec = records(out)["baby"]
    assert rec["settings"]["iters"] == 3 and set(rec["metrics"]) == {"dip"}

    # --only adds another image; the report covers both records made with these settings.
    res = invoke(group, *args, "--iters", "3", "--no-baselines", "--only", "bird")
    assert res.exit_code == 0 and "1 run, 0 skipped" in res.output, res.output
    assert set(records(out)) == {"baby", "bird"}
    text = (out / "report.md").read_text()
    assert "2 of 5 images done" in text and "| baby |" in text and "| bird |" in text
    res = CliRunner().invoke(group, ["bench", *args, "--only", "lena"])
    assert res.exit_code == 2 and "--only: no image 'lena'" in res.output
    assert "baby, bird, butterfly, head, woman" in res.output

    # The report re-renders from the records alone.
    (out / "report.md").unlink()
    res = invoke(group, "report", "sr", "--out", str(out))
    assert res.exit_code == 0 and "| **mean** |" in (out / "report.md").read_text()

    # A record made where paper_tables.json was not found (a lent GPU machine) gets the
    # paper's numbers when the report is rendered where they are.
    rec = json.loads((out / "baby.json").read_text())
    rec["paper"] = {"per_image": {}, "paper_only": {}, "mean_only": {}, "source": None}
    (out / "baby.json").write_text(json.dumps(rec, indent=1))
    res = invoke(group, "report", "sr", "--out", str(out))
    assert res.exit_code == 0
    assert json.loads((out / "baby.json").read_text())["paper"]["per_image"]["dip"] == 31.49
    assert "| baby | " in (out / "report.md").read_text() and "31.49" in res.output


@needs_data
def test_a_preset_reaches_every_fit_and_the_record(group, tmp_path):
    opts = BenchOptions("sr", preset="fast", quick=True, quick_size=32, limit=1, iters=2,
                        data_dir=str(DATA), device="cpu")  # fmt: skip
    rec = run_table(replace(opts, out=str(tmp_path / opts.name)))["records"][0]
    assert rec["table"] == "sr-Set5-x4-fast" and rec["settings"]["preset"] == "fast"
    assert rec["title"].endswith("preset fast")
    assert rec["fits"]["dip"]["preset"]["name"] == "fast"
    # The pixel-space baselines keep the paper preset (no stopping rule, the paper's steps).
    assert {rec["fits"][k]["preset"]["name"] for k in ("no_prior", "tv_prior")} == {"paper"}
    assert rec["preset"]["net_kwargs"]["n_d"] == [64] * 5  # the fast preset's net
    assert {f["iters_run"] for f in rec["fits"].values()} == {2}
    # The paper's run of the same image: another record, another (larger) net.
    paper = run_table(replace(opts, preset=None, baselines=False, out=str(tmp_path / "p")))
    rec0 = paper["records"][0]
    assert rec0["settings"]["preset"] == "paper" and rec0["preset"]["name"] == "paper"
    dip, dip0 = rec["fits"]["dip"], rec0["fits"]["dip"]
    assert dip["net_parameters"] < dip0["net_parameters"]
    # The preset's report re-renders from its records (a records' folder of another table
    # is refused).
    out = tmp_path / opts.name
    res = invoke(group, "report", "sr", "--preset", "fast", "--quick", "--out", str(out))
    text = (out / "report.md").read_text()
    assert res.exit_code == 0 and "preset `fast`" in text
    assert "input `noise` of 32 channels" in text  # z's channels (the SR auto preset has 8)
    assert "other than today's" not in text
    # A record whose preset has changed since is named in the report, with what changed; a
    # setting the record lacks counts as its default, and the preset's prose is not compared.
    rec_file = out / "baby.json"
    rec = json.loads(rec_file.read_text())
    rec["preset"]["lr"] = 0.5
    rec["preset"]["description"] = "an older wording"
    del rec["preset"]["lr_schedule"]  # as a record made before the setting existed
    rec_file.write_text(json.dumps(rec))
    invoke(group, "report", "sr", "--preset", "fast", "--quick", "--out", str(out))
    text = (out / "report.md").read_text()
    assert "Records made with settings of preset `fast` other than today's: baby (in lr)." in text
    res = CliRunner().invoke(group, ["bench", "report", "sr", "--quick", "--out", str(out)])
    assert res.exit_code == 2 and "no records of table sr-Set5-x4" in res.output


@needs_data
def test_an_interrupted_image_resumes_its_fit(group, tmp_path, monkeypatch):
    """Ctrl-C during an image's fit keeps its state; the rerun resumes it to the same result."""
    from deepprior.bench.tables import _Runner
    from deepprior.callbacks import SaveState

    args = ["sr", "--dataset", "Set5", "--factor", "4", "--quick", "--limit", "1",
            "--no-baselines", "--iters", "30", "--data-dir", str(DATA),
            "--device", "cpu"]  # fmt: skip
    whole = run_quick(group, "sr", tmp_path / "whole", "--dataset", "Set5", "--factor", "4",
                      "--limit", "1", "--no-baselines", "--iters", "30")  # fmt: skip
    monkeypatch.setattr(_Runner, "STATE_SECONDS", 0.0)
    out = tmp_path / "cut"
    save = SaveState.on_step

    def save_then_stop(self, info):
        save(self, info)
        if info.step == 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(SaveState, "on_step", save_then_stop)
    res = CliRunner().invoke(group, ["bench", *args, "--out", str(out)])
    assert res.exit_code == 130 and not records(out)
    assert [p.name for p in out.glob("*.state.pt")] == ["baby.dip.state.pt"]

    monkeypatch.setattr(SaveState, "on_step", save)
    res = invoke(group, *args, "--out", str(out))
    assert res.exit_code == 0 and "baby: dip: resuming the fit saved in" in res.output
    rec = records(out)["baby"]
    assert rec["fits"]["dip"]["resumed_from"] == 20 and rec["fits"]["dip"]["iters_run"] == 30
    assert rec["metrics"]["dip"] == whole["baby"]["metrics"]["dip"]
    assert not list(out.glob("*.state.pt"))  # the record is written: the state is gone

    # A state the fit cannot use (here: junk) is kept aside, not saved over, while the image
    # starts afresh; its record written, the image's states go.
    (out / "baby.json").unlink()
    (out / "baby.dip.state.pt").write_bytes(b"junk")
    monkeypatch.setattr(SaveState, "on_step", save_then_stop)
    res = CliRunner().invoke(group, ["bench", *args, "--out", str(out)])
    assert "cannot read the saved fit state" in res.output and "starting afresh" in res.output
    assert res.exit_code == 130 and (out / "baby.dip.stale.state.pt").read_bytes() == b"junk"
    monkeypatch.setattr(SaveState, "on_step", save)
    res = invoke(group, *args, "--out", str(out))
    assert res.exit_code == 0 and records(out)["baby"]["fits"]["dip"]["resumed_from"] == 20
    assert not list(out.glob("*.state.pt"))
    # --force starts over, whatever state there is.
    (out / "baby.dip.state.pt").write_bytes(b"junk")
    res = invoke(group, *args, "--out", str(out), "--force")
    assert res.exit_code == 0 and "cannot read" not in res.output


@needs_data
def test_a_fit_finished_before_an_interruption_is_not_redone(group, tmp_path, monkeypatch):
    """Ctrl-C during a later method of an image keeps the finished DIP fit: the rerun takes
    it (same result, no second fit) and the record's writing removes it; a run with other
    settings fits again."""
    from deepprior.bench.tables import _Runner

    def args(iters):
        return ["sr", "--dataset", "Set5", "--factor", "4", "--quick", "--limit", "1",
                "--iters", str(iters), "--data-dir", str(DATA), "--device", "cpu",
                "--out", str(tmp_path / "cut")]  # fmt: skip

    fit = _Runner.fit

    def stop_at_no_prior(self, name, *a, **kw):
        if name == "no_prior":
            raise KeyboardInterrupt
        return fit(self, name, *a, **kw)

    def interrupted_run(iters):
        with monkeypatch.context() as m:
            m.setattr(_Runner, "fit", stop_at_no_prior)
            res = CliRunner().invoke(group, ["bench", *args(iters)])
        assert res.exit_code == 130 and not records(tmp_path / "cut")
        assert [p.name for p in (tmp_path / "cut").glob("*.done.pt")] == ["baby.dip.done.pt"]

    ref = invoke(group, *args(20)[:-1], str(tmp_path / "whole"))
    assert ref.exit_code == 0
    interrupted_run(20)
    res = invoke(group, *args(20))
    assert res.exit_code == 0 and "baby: dip: taking the finished fit saved in" in res.output
    rec = records(tmp_path / "cut")["baby"]
    assert rec["metrics"]["dip"] == records(tmp_path / "whole")["baby"]["metrics"]["dip"]
    assert rec["fits"]["dip"]["iters_run"] == 20 and rec["seconds_per_method"]["dip"] > 0
    assert not list((tmp_path / "cut").glob("*.done.pt"))

    (tmp_path / "cut" / "baby.json").unlink()
    interrupted_run(20)
    res = invoke(group, *args(21))
    assert res.exit_code == 0 and "taking the finished fit" not in res.output
    assert records(tmp_path / "cut")["baby"]["fits"]["dip"]["iters_run"] == 21


def test_a_tiled_fit_stopped_in_its_first_tile_is_resumed(tmp_path):
    """The tiles' folder holds only the running tile's state (no manifest yet): the rerun
    resumes it rather than starting afresh (which would delete that state)."""
    from deepprior.bench.tables import _Runner
    from deepprior.tasks import Result
    from deepprior.tiling import tiles_dir

    opts = BenchOptions("denoise", preset="auto", out=str(tmp_path), device="cpu")
    lines, seen = [], {}
    run = _Runner(opts, "House", lines.append)
    tiles = tiles_dir(run.state_file("dip"))
    tiles.mkdir(parents=True)
    (tiles / "tile_000.state.pt").write_bytes(b"state")

    def fit(*_, **kw):
        seen.update(kw)
        return Result(torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), None)

    run.fit("dip", fit)
    assert seen["resume"] is True
    assert "House: dip: resuming the tiles saved in House.dip.tiles/" in lines
    seen.clear()
    _Runner(opts, "Other", lines.append).fit("dip", fit)
    assert seen["resume"] is False


@needs_data
def test_without_progress_bars_a_long_fit_logs_how_far_it_is(group, tmp_path, monkeypatch):
    from deepprior.bench.tables import _Runner

    monkeypatch.setattr(_Runner, "LOG_SECONDS", 0.0)  # a line at every check (every 10 steps)
    res = invoke(group, "sr", "--quick", "--limit", "1", "--no-baselines", "--iters", "30",
                 "--data-dir", str(DATA), "--out", str(tmp_path), "--device", "cpu",
                 "--no-progress")  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = re.findall(r"baby: dip: step (\d+)/30 \((\d+) %\), .* so far, about .* left, loss",
                       res.output)  # fmt: skip
    assert lines == [("10", "33"), ("20", "66")]


@needs_data
def test_sigterm_stops_the_bench_with_the_fit_state_saved(tmp_path):
    from deepprior.fit import load_state

    out = tmp_path / "sr"
    cmd = [sys.executable, "-m", "deepprior.cli", "bench", "sr", "--quick", "--limit", "1",
           "--no-baselines", "--iters", "1000000", "--data-dir", str(DATA), "--out", str(out),
           "--device", "cpu", "--progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    buf, deadline = "", time.time() + 120
    while time.time() < deadline and not re.search(r"\b[1-9]\d*/1000000", buf[-200:]):
        ch = proc.stderr.read(1)
        if not ch:
            break
        buf += ch
    proc.terminate()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, buf + err
    assert "run the same command again to resume" in err
    state, meta = load_state(out / "baby.dip.state.pt")
    assert state["step"] > 0 and meta["fingerprint"]["task"] == "sr"


@needs_data
def test_denoise_quick_has_the_three_dip_variants(group, tmp_path):
    out = tmp_path / "dn"
    rec = run_quick(group, "denoise", out, "--limit", "1", "--skip", "zs_n2n")["kodim01"]
    check_record(rec, {"dip_last", "dip_ema", "dip_two_runs", "nlm", "tv_chambolle", "input"})
    assert "zs_n2n" not in rec["metrics"] and rec["skipped"]["zs_n2n"] == "--skip"
    assert "avx2" in rec["host"]["cpu_flags"] or platform.machine() not in ("x86_64", "AMD64")
    assert rec["fits"]["dip_two_runs"]["restarts"] == 2 and rec["fits"]["dip"]["restarts"] == 1
    assert rec["metrics"]["dip_last"]["psnr"] != rec["metrics"]["dip_ema"]["psnr"]
    assert rec["paper"]["mean_only"]["dip_two_runs"] == 31.0
    assert ("bm3d" in rec["metrics"]) != ("bm3d" in rec["skipped"])
    # sigma = 25 noise on a clean image gives about 20 dB.
    assert 19.0 < rec["metrics"]["input"]["psnr"] < 21.5
    text = check_report(out, 1)
    assert "30.43†" in text


@needs_data
def test_inpaint_quick_in_two_processes(group, tmp_path):
    out = tmp_path / "inp"
    recs = run_quick(group, "inpaint", out, "--limit", "2", "--iters", "5", "--jobs", "2")
    assert set(recs) == {"barbara", "boat"}
    for rec in recs.values():
        check_record(rec, {"dip", "biharmonic", "tv_prior", "input"})
        assert rec["primary"] == "psnr" and 0.45 < rec["known_fraction"] < 0.55
        assert rec["sizes"]["image"] == [1, 64, 64]
        assert rec["threads"] == threads_per_job(2)
    assert recs["barbara"]["paper"]["per_image"]["dip"] == 32.22
    assert recs["barbara"]["paper"]["paper_only"]["papyan_csc"] == 28.14
    check_report(out, 2)


@needs_data
def test_text_inpaint_quick(group, tmp_path):
    out = tmp_path / "text"
    rec = run_quick(group, "text-inpaint", out)["kate"]
    check_record(rec, {"dip", "biharmonic", "tv_prior"})
    assert rec["preset"]["name"] == "text" and rec["inputs"]["mask"]["manifest_match"] is True
    check_report(out, 1)


@needs_data
def test_holes_quick_measures_inside_the_hole(group, tmp_path):
    out = tmp_path / "holes"
    rec = run_quick(group, "holes", out, "--limit", "1")["vase"]
    check_record(rec, {"dip", "biharmonic", "tv_prior", "input"})
    assert rec["primary"] == "psnr_hole" and rec["preset"]["name"] == "holes"
    m = rec["metrics"]["input"]
    assert m["psnr_hole"] < m["psnr"]  # the input is black in the hole only
    check_report(out, 1)


@needs_data
def test_run_tables_script_resumes_reports_and_archives(tmp_path):
    """benchmarks/run_tables.sh: tables in order, a report each, one archive of them all."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "run_tables.sh"
    env = {"PATH": "/usr/bin:/bin", "DEEPPRIOR": str(Path(sys.executable).parent / "deepprior")}
    cmd = ["bash", str(script), "-d", "cpu", "-r", str(tmp_path / "res"), "-D", str(DATA),
           "-a", str(tmp_path / "res.tgz"), "-x", "--quick --limit 1 --no-baselines --iters 2",
           "sr:Set5:4", "text-inpaint"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for folder, image in (("sr-Set5-x4", "baby"), ("text-inpaint", "kate")):
        assert (tmp_path / "res" / folder / f"{image}.json").is_file()
        assert image in (tmp_path / "res" / folder / "report.md").read_text()
    with tarfile.open(tmp_path / "res.tgz") as tar:
        names = tar.getnames()
    assert "./sr-Set5-x4/baby.json" in names and "./text-inpaint/report.md" in names
    # A second run finds the records and skips the images; an unknown table is an error.
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and "0 run, 1 skipped" in again.stderr, again.stderr
    bad = subprocess.run([*cmd[:-2], "nope"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown table 'nope'" in bad.stderr


@needs_data
def test_run_tables_time_budget_keeps_the_fit_state(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "run_tables.sh"
    env = {"PATH": "/usr/bin:/bin", "DEEPPRIOR": str(Path(sys.executable).parent / "deepprior")}
    cmd = ["bash", str(script), "-d", "cpu", "-t", "25", "-S", "-r", str(tmp_path / "res"),
           "-D", str(DATA), "-a", str(tmp_path / "res.tgz"), "-x",
           "--quick --limit 1 --no-baselines --iters 1000000", "sr:Set5:4", "holes"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1 and "sr:Set5:4 stopped: the time is up" in proc.stderr, proc.stderr
    assert "time is up before holes" in proc.stderr
    with tarfile.open(tmp_path / "res.tgz") as tar:
        assert "./sr-Set5-x4/baby.dip.state.pt" in tar.getnames()


def test_a_tiled_fit_records_its_tiles_stop_gaps():
    """A tiled fit has no image-level curve: its oracle gap is the mean (and the worst) over
    its tiles of the best PSNR on a tile's curve minus its output's."""
    from types import SimpleNamespace

    from deepprior.bench.tables.runner import _stop_and_curve

    fits = [{"index": 0, "psnr": 30.0, "best_psnr": 30.1}, {"index": 1, "psnr": 28.0,
            "best_psnr": 28.5}, {"index": 2, "psnr": 29.0, "best_psnr": 28.9}]  # fmt: skip
    res = SimpleNamespace(report={"tiles": {"count": 3, "fits": fits}}, history={}, metrics={})
    out = _stop_and_curve(res)
    assert out["stop_reason"] == "per tile" and out["tiles"]["count"] == 3
    assert out["oracle"]["gap"] == pytest.approx((0.1 + 0.5 - 0.1) / 3, abs=1e-3)
    assert out["oracle"]["gap_max"] == pytest.approx(0.5)


def test_curves_of_an_image_without_a_paper_run(tmp_path):
    """The preset's image with no paper record still gets its panel (its own curve only)."""
    from PIL import Image

    from deepprior.bench.compare import plot_curves

    curve = {"step": [10, 20], "seconds": [1.0, 2.0], "psnr": [20.0, 21.0],
             "psnr_ema": [20.5, 21.5]}  # fmt: skip
    rec = {"image": "house", "fits": {"dip": {"curve": curve}}, "metrics": {},
           "seconds_per_method": {"dip": 2.0}}  # fmt: skip
    png = plot_curves([], [rec, {**rec, "image": "peppers"}], tmp_path / "c.png", "auto")
    assert Image.open(png).size[0] == 2 * 4 * 90  # one 4-inch panel per image, 90 dpi


def test_zero_shot_noise2noise_beats_its_noisy_input(photo, one_thread):
    from deepprior.bench.zsn2n import zs_n2n_denoise
    from deepprior.metrics import psnr
    from deepprior.ops import add_gaussian_noise

    noisy = add_gaussian_noise(photo, 25 / 255, seed=0)
    out = zs_n2n_denoise(noisy, steps=300)
    assert out.shape == photo.shape
    assert psnr(out, photo) > psnr(noisy, photo) + 3, (psnr(out, photo), psnr(noisy, photo))


def test_deep_decoder_beats_its_noisy_input(photo, one_thread):
    from deepprior.bench.deep_decoder import DeepDecoder, deep_decoder_denoise
    from deepprior.metrics import psnr
    from deepprior.ops import add_gaussian_noise

    noisy = add_gaussian_noise(photo, 25 / 255, seed=0)
    out = deep_decoder_denoise(noisy, steps=150, channels=64)
    assert out.shape == photo.shape
    assert psnr(out, photo) > psnr(noisy, photo) + 2, (psnr(out, photo), psnr(noisy, photo))
    # any size: the levels' sizes halve (rounding up) from the output's down to the input's
    assert DeepDecoder((45, 70)).sizes == [(2, 3), (3, 5), (6, 9), (12, 18), (23, 35), (45, 70)]
