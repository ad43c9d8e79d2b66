"""The help's time estimates: FLOPs per preset at the throughput measured by this machine's fits."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from deepprior.device import resolve_precision
from deepprior.tasks import estimate, get_preset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPPRIOR_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_the_measured_throughput_is_the_median_of_the_last_fits(cache):
    assert estimate.measured_gflops("cpu/float32/1 threads") is None
    for g in (10.0, 1000.0, 30.0, 20.0, 25.0, 40.0):  # the first drops out (KEEP = 5)
        estimate.record_throughput("cpu/float32/1 threads", g)
    assert estimate.measured_gflops("cpu/float32/1 threads") == 30.0
    estimate.record_throughput("cpu/float32/1 threads", float("nan"))  # ignored
    assert len(json.loads((cache / "throughput.json").read_text())["cpu/float32/1 threads"]) == 5


def test_a_damaged_cache_is_ignored_and_a_readonly_one_does_not_fail(cache):
    (cache / "throughput.json").write_text("{not json")
    assert estimate.measured_gflops("x") is None
    estimate.record_throughput("x", 12.0)
    assert estimate.measured_gflops("x") == 12.0


#: What a default fit computes in here: bf16 on a CPU with bf16 units, else fp32.
CPU_DTYPE = resolve_precision("auto", torch.device("cpu"))


def test_a_fit_records_what_it_reached(cache, monkeypatch, photo):
    import deepprior

    monkeypatch.setattr(estimate, "MIN_FIT_SECONDS", 0.0)
    deepprior.denoise(photo[:, :32, :32], preset="fast", iters=12, progress=False,
                      net_kwargs={"n_d": [8, 8], "n_s": 2, "depth": 2})  # fmt: skip
    ((key, values),) = json.loads((cache / "throughput.json").read_text()).items()
    assert key == estimate.machine_key("cpu", CPU_DTYPE) and values[0] > 0


def test_the_help_times_use_the_measured_throughput(cache):
    from deepprior.cli import cli as main
    from deepprior.cli.helptext import throughput_here

    assert "assumed 30 GFLOP/s" in " ".join(
        CliRunner().invoke(main, ["denoise", "--help"]).output.split()
    )
    gflops, _ = throughput_here()
    key = estimate.machine_key("cpu", CPU_DTYPE)
    for _ in range(3):
        estimate.record_throughput(key, 3.0)  # a machine 10x slower than assumed
    out = " ".join(CliRunner().invoke(main, ["denoise", "--help"]).output.split())
    assert "3 GFLOP/s as measured by recent fits" in out
    slow = estimate.preset_seconds(get_preset("denoise", "paper"), gflops=3.0)
    assert slow == pytest.approx(10 * estimate.preset_seconds(get_preset("denoise", "paper"),
                                                              gflops=gflops))  # fmt: skip
    from deepprior.callbacks import _duration

    assert f"1800 steps, ~{_duration(slow)}" in out  # from the measured throughput
