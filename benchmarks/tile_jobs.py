"""Wall time of a tiled restoration with its tiles fitted in turn (all threads on one fit)
against side by side (``tile_jobs``: one process per thread), on a held-out photo.

    python benchmarks/tile_jobs.py astronaut 288 benchmarks/results/tile_jobs.json

The centre SIZE² crop of a scikit-image photo, Gaussian noise of sigma 25 (seed 0), the auto
denoiser (tiles of at most 160 px, each stopping by itself); both runs use every thread torch
is given (``torch.get_num_threads()``), so the comparison is the machine's, not a thread's.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from deepprior.io import atomic_write_text
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise
from deepprior.tasks import get_task


def _crop(name: str, size: int) -> torch.Tensor:
    from skimage import data

    img = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float() / 255
    h, w = img.shape[-2:]
    t, left = (h - size) // 2, (w - size) // 2
    return img[:, t : t + size, left : left + size].contiguous()


def main(photo: str, size: int, out: str) -> None:
    clean = _crop(photo, size)
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    threads = torch.get_num_threads()
    rows = []
    for jobs in (1, threads):
        t0 = time.perf_counter()
        res = get_task("denoise").solve(noisy, tile_jobs=jobs, progress=False, device="cpu")
        wall = time.perf_counter() - t0
        rows.append({"tile_jobs": jobs, "wall_seconds": round(wall, 1),
                     "psnr": round(psnr(res.image, clean), 3),
                     "steps": res.report["iters_run"],
                     "tiles": res.report["tiles"]["count"], "dtype": res.report.get("dtype"),
                     "hosts": res.report.get("hosts")})  # fmt: skip
        print(rows[-1], flush=True)
    doc = {"photo": photo, "size": size, "threads": threads,
           "torch": torch.__version__, "runs": rows,
           "speed-up": round(rows[0]["wall_seconds"] / rows[1]["wall_seconds"], 2)}  # fmt: skip
    atomic_write_text(out, json.dumps(doc, indent=2) + "\n")
    print(f"speed-up with {threads} tile jobs: {doc['speed-up']}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
