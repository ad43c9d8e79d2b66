"""Throughput of a batch, in images per hour: one process, ``--jobs 2`` and ``--ray`` on a local
cluster, on the same 8 noisy crops and the same settings.

    OMP_NUM_THREADS=2 python benchmarks/batch_throughput.py [ITERS] [SIZE]

The crops (SIZE x SIZE, default 96) come from the CBM3D9 photos in $DEEPPRIOR_DATA (default
../shared/data), with
Gaussian noise (sigma 25/255, seed 0); every fit runs ITERS steps (default 100) of the
denoise preset. The Ray cluster's start is timed apart from the batch. The results go under
"## Batches" in benchmarks/results/photos.md (the file's other sections are kept).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from deepprior.batch import run_batch
from deepprior.io import load_image, save_image

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DEEPPRIOR_DATA", ROOT.parent / "shared" / "data")) / "CBM3D9"
RESULTS = ROOT / "benchmarks" / "results" / "photos.md"
N = 8


def make_inputs(folder: Path, size: int) -> None:
    """8 noisy crops: the centre and a corner of 4 photos."""
    g = torch.Generator().manual_seed(0)
    photos = sorted(DATA.glob("*.png"))[:4]
    for p in photos:
        img = load_image(p)
        h, w = img.shape[-2:]
        for j, (y, x) in enumerate([((h - size) // 2, (w - size) // 2), (0, 0)]):
            crop = img[:, y : y + size, x : x + size]
            noisy = (crop + 25 / 255 * torch.randn(crop.shape, generator=g)).clamp(0, 1)
            save_image(noisy, folder / f"{p.stem}_{j}.png")
    assert len(list(folder.iterdir())) == N


def timed(label: str, folder: Path, out: Path, **kw) -> tuple[str, float]:
    t0 = time.perf_counter()
    recs = run_batch("denoise", [folder], out, quiet=True, **kw)
    seconds = time.perf_counter() - t0
    assert [r.status for r in recs] == ["ok"] * N, recs
    print(f"{label}: {seconds:.1f} s, {N / seconds * 3600:.0f} images/h", flush=True)
    return label, seconds


def write_results(rows: list[tuple[str, float]], ray_start: float, iters: int, size: int) -> None:
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    lines = [
        "## Batches",
        "",
        f"Throughput of a batch of {N} noisy {size}x{size} crops (CBM3D9, sigma 25), "
        f"`deepprior denoise`, {iters} steps each (`--iters {iters}`, default net), on this "
        f"machine's {cores} CPU cores (load average {load:.1f} at the end: the machine was "
        f"shared). Command: `python benchmarks/batch_throughput.py {iters} {size}`.",
        "",
        "| run | seconds | images per hour |",
        "| --- | ---: | ---: |",
        *(f"| {label} | {s:.1f} | {N / s * 3600:.0f} |" for label, s in rows),
        "",
        f"Starting the local Ray cluster (`ray.init`) took {ray_start:.1f} s more, not counted "
        "above; each Ray worker also imports torch and deepprior once.",
        "",
    ]
    text = RESULTS.read_text() if RESULTS.exists() else "# Photos and batches\n\n"
    head, _, rest = text.partition("## Batches")
    tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + ("\n" + tail if tail else ""))


def main(iters: int = 100, size: int = 96) -> None:
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "in").mkdir()
        make_inputs(d / "in", size)
        rows = [timed("one process", d / "in", d / "one", iters=iters)]
        rows.append(timed("--jobs 2", d / "in", d / "jobs2", iters=iters, jobs=2))
        os.environ.setdefault("RAY_worker_niceness", "0")  # as the other runs (Ray's is 15)
        t0 = time.perf_counter()
        ray.init(include_dashboard=False, logging_level="warning")
        ray_start = time.perf_counter() - t0
        rows.append(timed("--ray (local cluster)", d / "in", d / "ray", iters=iters, ray="local"))
        ray.shutdown()
    write_results(rows, ray_start, iters, size)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
