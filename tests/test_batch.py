"""Batches: several files, folders and globs in one command; skip, --force, --jobs, --gt-dir,
the summary table, the exit codes and the bad-input messages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from deepprior.batch import FileJob, TaskRestorer, expand_inputs, plan_jobs, run_batch
from deepprior.cli import cli
from deepprior.cli.batches import EXIT_FAILED
from deepprior.errors import DeepPriorError
from deepprior.io import load_image, save_image
from deepprior.metrics import psnr

TINY_NET = ("n_d=[8, 8]", "n_s=2", "depth=2")
FAST = {"iters": 4, "net_args": TINY_NET, "quiet": True}
FAST_ARGS = ["--iters", "4", *(a for arg in TINY_NET for a in ("--net-arg", arg)), "-q"]


@pytest.fixture
def folder(tmp_path: Path, photo: torch.Tensor) -> Path:
    """Two noisy 24 px photos and a corrupt PNG in ``in/``; their clean images in ``gt/``."""
    d, gt = tmp_path / "in", tmp_path / "gt"
    d.mkdir()
    gt.mkdir()
    g = torch.Generator().manual_seed(0)
    for name, clean in {"a": photo[:, :24, :24], "b": photo[:, 30:54, 30:54]}.items():
        save_image(clean, gt / f"{name}.png")
        noisy = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
        save_image(noisy, d / f"{name}.png")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    return d


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_corrupt_file_fails_alone_and_is_named(folder, tmp_path, one_thread):
    out = tmp_path / "out"
    gt = tmp_path / "gt"
    res = invoke("denoise", folder, "-o", f"{out}/", "--gt-dir", gt, *FAST_ARGS[:-1])  # no -q
    assert res.exit_code == EXIT_FAILED, res.output
    rows = {ln.split()[0]: ln.split() for ln in res.stdout.splitlines()[1:]}
    assert rows[str(folder / "broken.png")][1] == "failed"
    assert "corrupt" in " ".join(rows[str(folder / "broken.png")][4:])
    assert str(folder / "broken.png") in res.stderr  # the closing line names it too
    for name in ("a", "b"):  # one output per input, named after it, and its PSNR measured
        assert rows[str(folder / f"{name}.png")][1] == "ok"
        result, clean = load_image(out / f"{name}.png"), load_image(tmp_path / "gt" / f"{name}.png")
        assert result.shape == clean.shape
        assert float(rows[str(folder / f"{name}.png")][3]) == pytest.approx(
            psnr(result, clean), abs=0.01
        )
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # no state left


def test_a_rerun_skips_what_is_done_and_force_redoes_it(folder, tmp_path, one_thread):
    fitted: list[str] = []
    restore = TaskRestorer("denoise", FAST)

    def counting(job: FileJob) -> None:
        fitted.append(job.input.name)
        restore(job)

    inputs = [folder / "a.png", str(folder / "b.*")]  # a file and a glob
    first = run_batch(counting, inputs, tmp_path / "out")
    assert [r.status for r in first] == ["ok", "ok"] and fitted == ["a.png", "b.png"]
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = run_batch(counting, inputs, tmp_path / "out")
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert fitted == ["a.png", "b.png"]  # no fit ran
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == before
    forced = run_batch(counting, inputs, tmp_path / "out", force=True)
    assert [r.status for r in forced] == ["ok", "ok"] and len(fitted) == 4


def test_an_unfinished_output_is_not_skipped(folder, tmp_path, one_thread):
    # An interrupted fit leaves its result so far and its state: a rerun must take it up.
    out = tmp_path / "out"
    run_batch("denoise", [folder / "a.png"], out, **FAST)
    (out / "a.state.pt").write_bytes(b"not a state")
    rec = run_batch("denoise", [folder / "a.png"], out, **FAST)[0]
    assert rec.status == "failed" and "saved fit state" in rec.message


def test_jobs_2_gives_the_outputs_of_jobs_1(folder, tmp_path, one_thread):
    inputs = [folder / "a.png", folder / "b.png"]
    one = run_batch("denoise", inputs, tmp_path / "one", jobs=1, **FAST)
    two = run_batch("denoise", inputs, tmp_path / "two", jobs=2, **FAST)
    assert {r.status for r in one + two} == {"ok"}
    for name in ("a.png", "b.png"):
        a, b = load_image(tmp_path / "one" / name), load_image(tmp_path / "two" / name)
        assert (a - b).abs().max().item() <= 1 / 255 + 1e-6


def test_folders_give_their_images_sorted_and_globs_their_matches(folder, tmp_path):
    (folder / "notes.txt").write_text("not an image\n")
    assert [p.name for p in expand_inputs([folder])] == ["a.png", "b.png", "broken.png"]
    assert [p.name for p in expand_inputs([folder / "[ab].png", folder / "a.png"])] == [
        "a.png", "b.png",
    ]  # fmt: skip


def test_two_inputs_with_one_output_name_are_refused(tmp_path):
    with pytest.raises(DeepPriorError, match="both be written to"):
        plan_jobs([Path("x/im.png"), Path("y/im.jpg")], tmp_path)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("empty", "holds no images"),
        ("glob", "matches no file"),
        ("file_output", "names a file, but there are several inputs"),
        ("into_input", "refusing to overwrite the input"),
        ("ray_address", "no Ray cluster answers at 127.0.0.1:9"),
    ],
)
def test_bad_batch_input_is_one_line_and_status_2(case, fragment, folder, tmp_path):
    (tmp_path / "empty").mkdir()
    args = {
        "empty": [tmp_path / "empty", "-o", tmp_path / "out/"],
        "glob": [tmp_path / "nothing*.png", "-o", tmp_path / "out/"],
        "file_output": [folder / "a.png", folder / "b.png", "-o", tmp_path / "out.png"],
        "into_input": [folder / "a.png", folder / "b.png", "-o", folder],
        "ray_address": [folder / "a.png", "-o", tmp_path / "out/", "--ray", "127.0.0.1:9"],
    }[case]
    res = invoke("denoise", *args, *FAST_ARGS)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("deepprior: error: "), res.stderr
    assert fragment in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_single_input_keeps_its_output_file_name(folder, tmp_path, one_thread):
    res = invoke("denoise", folder / "a.png", "-o", tmp_path / "restored.png", *FAST_ARGS)
    assert res.exit_code == 0, res.output
    noisy, restored = load_image(folder / "a.png"), load_image(tmp_path / "restored.png")
    assert restored.shape == noisy.shape and not np.array_equal(restored, noisy)
