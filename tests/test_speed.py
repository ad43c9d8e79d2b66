"""``deepprior speed`` on a tiny size: the table, the JSON and the counted FLOPs (no timing)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from deepprior.bench.speed import CONFIGS, count_flops, run_speed
from deepprior.cli import cli
from deepprior.errors import DeepPriorError
from deepprior.nets import create_net


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


def test_speed_rejects_bad_settings():
    with pytest.raises(DeepPriorError, match="unknown config"):
        run_speed([32], ["turbo"])
    with pytest.raises(DeepPriorError, match="multiple of 32"):
        run_speed([48], ["baseline"])


def test_every_listed_config_builds():
    assert {"baseline", "deepprior", "bf16", "bf16-cl", "compile", "checkpoint"} <= set(CONFIGS)
    assert create_net("skip", 8, 3, n_d=[8, 8], n_s=2, depth=2, checkpoint=True).checkpoint
