"""Tests for deepprior.io.files: output-path checks and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from deepprior.errors import DeepPriorError
from deepprior.io import atomic_write_text, check_output_path, save_image
from deepprior.io import files as io_files

from ._helpers import _raises_one_line


def test_check_output_path_ok(tmp_path: Path) -> None:
    inp = save_image(torch.rand(3, 4, 4), tmp_path / "in.png")
    out = check_output_path(str(tmp_path / "out.png"), [inp, None])
    assert out == tmp_path / "out.png" and isinstance(out, Path)
    assert check_output_path(inp, [tmp_path / "other.png"]) == inp  # overwriting is allowed
    _raises_one_line("already exists", check_output_path, inp, (), overwrite=False)


def test_check_output_path_refuses_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    inp = save_image(torch.rand(3, 4, 4), tmp_path / "in.png")
    _raises_one_line(
        "refusing to overwrite the input .*choose another output path",
        check_output_path,
        inp,
        [inp],
    )
    monkeypatch.chdir(tmp_path)
    _raises_one_line("refusing to overwrite the input", check_output_path, "sub/../in.png", [inp])
    _raises_one_line("refusing to overwrite the input", check_output_path, "./in.png", ["in.png"])
    (tmp_path / "link.png").symlink_to(inp)
    _raises_one_line("refusing to overwrite the input", check_output_path, "link.png", [inp])
    os.link(inp, tmp_path / "hard.png")
    _raises_one_line("refusing to overwrite the input", check_output_path, "hard.png", [inp])
    # An input that does not exist yet is compared by resolved path.
    _raises_one_line(
        "refusing to overwrite the input",
        check_output_path,
        "sub/../new.png",
        [tmp_path / "new.png"],
    )


def test_check_output_path_errors(tmp_path: Path) -> None:
    _raises_one_line(
        r"directory .*missing does not exist", check_output_path, tmp_path / "missing" / "x.png"
    )
    (tmp_path / "afile.txt").write_text("x")
    _raises_one_line(
        r"afile\.txt is not a directory", check_output_path, tmp_path / "afile.txt" / "out.png"
    )
    _raises_one_line(
        r"unsupported extension '\.gif'; use one of \.png, \.jpg",
        check_output_path,
        tmp_path / "x.gif",
    )
    _raises_one_line(r"unsupported extension \(none\)", check_output_path, tmp_path / "x")
    _raises_one_line("it is a directory", check_output_path, tmp_path)
    assert check_output_path(tmp_path / "UPPER.PNG") == tmp_path / "UPPER.PNG"


def test_check_output_path_unwritable_dir(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _raises_one_line("is not writable", check_output_path, ro / "x.png")
        _raises_one_line("is not writable", save_image, torch.rand(1, 2, 2), ro / "x.png")
    finally:
        ro.chmod(0o700)


def test_unwritable_dir_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too: os.access is what decides.
    monkeypatch.setattr(io_files.os, "access", lambda path, mode: False)
    msg = _raises_one_line(r"directory .* is not writable", check_output_path, tmp_path / "x.png")
    out = tmp_path / "x.png"
    assert (
        msg
        == f"cannot write {out}: directory {tmp_path} is not writable; choose another output path"
    )


@pytest.mark.parametrize("failure", [OSError("disk full"), RuntimeError("encoder bug")])
def test_save_image_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"original content")

    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise failure

    monkeypatch.setattr(Image.Image, "save", broken_save)
    expected = DeepPriorError if isinstance(failure, OSError) else RuntimeError
    with pytest.raises(expected) as info:
        save_image(torch.rand(3, 8, 8), target)
    if expected is DeepPriorError:
        assert "cannot write" in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"original content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_save_image_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_image(torch.rand(1, 4, 4), tmp_path / "new.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    save_image(torch.rand(1, 4, 4), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["new.png"]


def test_atomic_write_text(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    atomic_write_text(path, '{"psnr": 30.5, "name": "caf\u00e9"}\n')
    atomic_write_text(path, '{"psnr": 31.0}\n')
    assert path.read_text(encoding="utf-8") == '{"psnr": 31.0}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    _raises_one_line("does not exist", atomic_write_text, tmp_path / "no" / "r.json", "{}")
