"""``deepprior speed`` on a tiny size: the table, the JSON and the counted FLOPs (no timing)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from deepprior.bench import speed
from deepprior.bench.speed import CONFIGS, count_flops, run_speed
from deepprior.cli import cli
from deepprior.device import host_summary
from deepprior.errors import DeepPriorError


def test_flop_count_of_one_conv_matches_the_formula():
    net = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    z = torch.rand(1, 4, 16, 16)
    forward = 2 * 4 * 8 * 9 * 16 * 16
    # backward: the weight gradient only (z does not need a gradient) costs one forward.
    assert count_flops(net, z, lambda x: x.sum()) == 2 * forward


def test_speed_command_writes_table_and_json(tmp_path):
    out = tmp_path / "speed.json"
    res = CliRunner().invoke(
        cli,
        ["speed", "--size", "64", "--steps", "2", "--warmup", "1", "--preset", "fast",
         "--configs", "baseline,deepprior,checkpoint", "--json", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    rows = {r["config"]: r for r in data["rows"]}
    assert set(rows) == {"baseline", "deepprior", "checkpoint"}
    assert rows["baseline"]["dtype"] == "float32" and rows["baseline"]["channels_last"] is False
    assert rows["checkpoint"]["checkpoint"] is True
    for r in rows.values():
        assert r["s_per_step"] > 0 and r["steps"] == 2 and r["gflop_per_step"] > 0
    assert set(data["speedups"]) == {"64/deepprior", "64/checkpoint"}
    assert "| 64 | baseline | float32 |" in res.output
    # the machine it ran on, as bench records name it (CPU model and speed flags)
    assert data["machine"]["cpu"] == host_summary()["cpu"]
    assert data["machine"]["cpu_flags"] == host_summary()["cpu_flags"]


def test_speed_rejects_bad_settings():
    with pytest.raises(DeepPriorError, match="unknown config"):
        run_speed([32], ["turbo"])
    with pytest.raises(DeepPriorError, match="multiple of 32"):
        run_speed([48], ["baseline"])


def test_every_listed_config_builds_and_runs(monkeypatch, one_thread):
    # Each config runs two fit steps on a tiny net (the preset's net, made shallow and
    # narrow) and its record must show the settings it asked for. torch.compile is stubbed:
    # the check is that the compile config reaches it, not Inductor's compile time.
    assert {"baseline", "deepprior", "bf16", "bf16-cl", "compile", "checkpoint"} <= set(CONFIGS)
    real_problem, nets, compiled = speed._problem, [], []

    def tiny_problem(*args, **kwargs):
        problem = real_problem(*args, **{"n_d": [8, 8], "n_s": 2, "depth": 2, **kwargs})
        nets.append(problem[1])
        return problem

    monkeypatch.setattr(speed, "_problem", tiny_problem)
    modes = []
    monkeypatch.setattr(
        torch,
        "compile",
        lambda net, **kw: modes.append(kw.get("mode")) or compiled.append(net) or net,
    )
    dtypes = {"fp32": "float32", "bf16": "bfloat16"}
    for name, config in CONFIGS.items():
        rec = speed.time_config(config, size=16, steps=1, warmup=1, device="cpu")
        net = nets[-1]
        assert rec["config"] == name and rec["size"] == 16 and rec["steps"] == 1
        assert rec["s_per_step"] > 0 and math.isfinite(rec["final_loss"]), name
        if config.precision in dtypes:
            assert rec["dtype"] == dtypes[config.precision], name
        if config.channels_last is not None:
            assert rec["channels_last"] is config.channels_last, name
        assert rec["compile"] is bool(config.compile), name
        assert (compiled[-1:] == [net]) is bool(config.compile), name
        assert net.checkpoint is config.checkpoint, name
    assert len(nets) == len(CONFIGS) and len(compiled) == 2
    assert modes == [None, "reduce-overhead"]  # compile, then cudagraphs (CUDA graphs)


def test_speed_times_the_paper_net_unless_told_otherwise():
    from deepprior.bench.speed import _problem

    paper, _, _, _ = _problem("sr", None, 64, 4)
    auto, _, _, _ = _problem("sr", "auto", 64, 4)
    assert paper.name == "paper" and paper.net_kwargs == {}  # the 128-filter SR-default net
    assert auto.name == "auto" and auto.net_kwargs["n_d"] == [32] * 5
