"""Error messages speak the user's terms: their units, their image's size, their flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepprior.io import save_image

from ._inproc import run_main


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return {
        "img": str(save_image(torch.rand(3, 16, 16), tmp_path / "img.png")),
        "dot": str(save_image(torch.rand(3, 1, 1), tmp_path / "dot.png")),
        "out": str(tmp_path / "out.png"),
    }


def _error(capsys: pytest.CaptureFixture, *args: str) -> str:
    code, lines = run_main(capsys, *args)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("deepprior: error: ")
    return lines[0]


def test_degrade_noise_out_of_range_speaks_0_255(files: dict, capsys) -> None:
    msg = _error(capsys, "degrade", files["img"], "-o", files["out"], "--noise", "300")
    assert "--noise" in msg and "0-255" in msg and "got 300;" in msg
    assert "0.0046" not in msg and "1.176" not in msg  # no internal [0, 1] units


def test_sr_too_small_input_is_described_by_its_own_size(files: dict, capsys) -> None:
    msg = _error(capsys, "sr", files["dot"], "--factor", "2", "-o", files["out"])
    assert "the input is 1x1 px" in msg and "at least 8x8 px" in msg
    assert "image is 2x2" not in msg


def test_no_suggestion_of_the_net_already_in_use(files: dict, capsys) -> None:
    msg = _error(capsys, "denoise", files["dot"], "-o", files["out"], "--net", "hourglass2")
    assert "needs at least 2 px per side" in msg and "shallower" not in msg
    msg = _error(capsys, "denoise", files["dot"], "-o", files["out"])  # the default net
    assert "needs at least 16 px per side" in msg and "'hourglass2'" not in msg  # 1 px: none fits


def test_keep_errors_name_the_flag(files: dict, capsys) -> None:
    msg = _error(capsys, "restore", files["img"], "-o", files["out"])
    assert "--keep" in msg and "--mask" in msg and "p_known" not in msg
    msg = _error(capsys, "inpaint", files["img"], "--mask-kind", "bernoulli", "--keep", "1.5",
                 "-o", files["out"])  # fmt: skip
    assert msg.startswith("deepprior: error: --keep ") and "p_known" not in msg


def test_a_thin_image_is_described_by_its_own_size_not_a_tiles(tmp_path: Path, capsys) -> None:
    thin = str(save_image(torch.rand(3, 200, 3), tmp_path / "thin.png"))  # tiled: over 192 px
    code, lines = run_main(capsys, "denoise", thin, "-o", str(tmp_path / "out.png"))
    assert code == 2 and lines[-1].startswith("deepprior: error: ")
    assert "the image is 3x200 px" in lines[-1] and "needs at least 16 px per side" in lines[-1]
    assert not any("restoring in tiles" in line for line in lines)  # no plan, so no tiling notice
