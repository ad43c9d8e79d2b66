"""Promises of docs/reliability.md not held elsewhere: kill -9 then --resume, concurrent writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from deepprior.io import load_image, save_image

from ._inproc import run_main


def test_resume_after_kill_9_with_state_every_is_bit_exact(tmp_path: Path, capsys, one_thread):
    """A run killed outright (no handler runs) resumes from its last --state-every state and
    ends exactly where an uninterrupted run ends."""
    src = save_image(torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)),
                     tmp_path / "in.png")  # fmt: skip
    out, whole, state = tmp_path / "o.png", tmp_path / "whole.png", tmp_path / "o.state.pt"
    args = ["denoise", str(src), "--iters", "16", "--net", "hourglass2", "--net-arg",
            "n_d=[8, 8]", "--seed", "3", "--preset", "paper", "--state-every", "2",
            "-q"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepprior.cli", *args, "-o", str(out)],
        stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    deadline = time.time() + 120
    while not state.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and state.is_file() and not out.exists()

    code, lines = run_main(capsys, *args, "-o", str(out), "--resume")
    assert code == 0 and not state.exists(), lines
    assert run_main(capsys, *args, "-o", str(whole))[0] == 0
    assert torch.equal(load_image(out), load_image(whole))


def test_concurrent_writers_leave_one_whole_file(tmp_path: Path) -> None:
    """Writers racing on one output: every read sees a complete image from one of them, and
    no temporary file is left behind."""
    target = tmp_path / "out.png"
    images = [torch.full((3, 32, 32), v) for v in (0.0, 0.5, 1.0)]
    seen: set[float] = set()
    errors: list[BaseException] = []

    def write(img: torch.Tensor) -> None:
        try:
            for _ in range(15):
                save_image(img, target)
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(img,)) for img in images]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if target.exists():
            got = load_image(target)
            assert float(got.min()) == float(got.max())  # one writer's whole image
            seen.add(round(float(got.mean()), 2))
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen <= {0.0, 0.5, 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
