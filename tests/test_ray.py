"""Batches on a local Ray cluster started here: one task per image, and a worker killed in
the middle of an image, whose task Ray runs again and which resumes from the saved state."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from deepprior.batch import FileJob, TaskRestorer, run_batch, state_path
from deepprior.fit import load_state
from deepprior.io import load_image, save_image

ray = pytest.importorskip("ray")

# Enough steps that the kill (at the first saved state, every 5 steps) lands mid-image.
TINY_NET = ("n_d=[8, 8]", "n_s=2", "depth=2")
OPTIONS = {"iters": 40, "net_args": TINY_NET, "quiet": True, "state_every": 5}


@pytest.fixture(scope="module")
def cluster():
    src = str(Path(__file__).resolve().parents[1] / "src")
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([src, root, os.environ.get("PYTHONPATH", "")])
    # Ray renices its workers to 15: on a busy shared machine they would hardly run.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(
        num_cpus=2, include_dashboard=False, logging_level="warning",
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )  # fmt: skip
    yield
    ray.shutdown()


def _exit_when_saved(state: Path) -> None:
    while not state.exists():
        time.sleep(0.002)
    os._exit(1)  # the worker dies with the state saved and the image unfinished


@dataclass
class KilledOnce:
    """Restores a file; for ``a.png``, the first attempt's worker dies at the first saved state.
    Each attempt leaves a line in ``OUTPUT.attempts``: the step of the state it started from."""

    restore: TaskRestorer

    def __call__(self, job: FileJob) -> None:
        log = job.output.with_suffix(".attempts")
        state = state_path(job.output)
        start = int(load_state(state)[0]["step"]) if state.exists() else 0
        first = not log.exists() and job.input.name == "a.png"
        with open(log, "a") as f:
            f.write(f"{start}\n")
        if first:
            threading.Thread(target=_exit_when_saved, args=(state,), daemon=True).start()
        self.restore(job)


def test_a_killed_worker_is_retried_and_resumes(cluster, tmp_path, photo, one_thread):
    inp = tmp_path / "in"
    inp.mkdir()
    save_image(photo[:, :24, :24], inp / "a.png")
    save_image(photo[:, 24:48, 24:48], inp / "b.png")
    work = KilledOnce(TaskRestorer("denoise", OPTIONS))
    records = run_batch(work, [inp], tmp_path / "out", ray="local")
    assert sorted((Path(r.file).name, r.status) for r in records) == [
        ("a.png", "ok"),
        ("b.png", "ok"),
    ]
    starts = [int(s) for s in (tmp_path / "out" / "a.attempts").read_text().split()]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] >= 5  # resumed, not redone
    assert (tmp_path / "out" / "b.attempts").read_text().split() == ["0"]
    assert not state_path(tmp_path / "out" / "a.png").exists()  # finished
    # The resumed fit ends where an uninterrupted one does.
    run_batch(TaskRestorer("denoise", OPTIONS), [inp / "a.png"], tmp_path / "here")
    resumed, straight = (
        load_image(tmp_path / "out" / "a.png"),
        load_image(tmp_path / "here" / "a.png"),
    )
    assert (resumed - straight).abs().max().item() <= 1 / 255 + 1e-6


def test_a_batch_on_ray_skips_what_is_done(cluster, tmp_path, photo):
    save_image(photo[:, :24, :24], tmp_path / "a.png")
    first = run_batch(
        "denoise", [tmp_path / "a.png"], tmp_path / "out", ray="local", iters=3, quiet=True
    )
    again = run_batch(
        "denoise", [tmp_path / "a.png"], tmp_path / "out", ray="local", iters=3, quiet=True
    )
    assert [r.status for r in first] == ["ok"] and [r.status for r in again] == ["skipped"]
