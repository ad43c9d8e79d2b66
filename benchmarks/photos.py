"""Tiling on real photo sizes: seams on a 512² image, and a 12-megapixel photo with
``--tile auto`` (the printed estimate against the real time, and the peak memory).

    OMP_NUM_THREADS=1 python benchmarks/photos.py seams 150   # -> photos_seams.json + PNG
    OMP_NUM_THREADS=1 python benchmarks/photos.py photo 5     # -> photos_photo.json
    python benchmarks/photos.py render                        # -> photos.md

writes ``benchmarks/results/photos.md`` and ``docs/img/tile_seam.png``. The
12 MP photo is made at run time by upscaling a shared image (never committed); its fit
runs only ``PHOTO_ITERS`` steps per tile, because a full fit would take many hours here.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import deepprior
from deepprior.io import load_image, save_image
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise
from deepprior.tiling import plan_tiles, solve_tiled

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DEEPPRIOR_DATA", ROOT.parent.parent / "shared" / "data"))
SOURCE = DATA / "dip-examples" / "denoising" / "F16_GT.png"
RESULTS = ROOT / "benchmarks" / "results"
SEAM_PNG = ROOT / "docs" / "img" / "tile_seam.png"
TILE, OVERLAP = 272, 32  # 2x2 tiles on 512 px


def seams(iters: int) -> dict:
    """Untiled and tiled (2x2 tiles) denoising of the 512² F16 at sigma 25, same settings."""
    clean = load_image(SOURCE)
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    kw = {"iters": iters, "progress": False, "seed": 0}
    t0 = time.perf_counter()
    whole = deepprior.denoise(noisy, **kw).image
    t1 = time.perf_counter()
    tiled = solve_tiled("denoise", noisy, tile=TILE, overlap=OVERLAP, **kw).image
    t2 = time.perf_counter()
    tiles = plan_tiles(tuple(noisy.shape[-2:]), TILE, OVERLAP)
    corner = (
        (tiles[0].core[1] + tiles[-1].core[0]) // 2,
        (tiles[0].core[3] + tiles[-1].core[2]) // 2,
    )
    _save_crop(noisy, whole, tiled, corner)
    return {
        "iters": iters, "tiles": len(tiles), "tile": TILE, "overlap": OVERLAP,
        "psnr_input": psnr(noisy, clean), "psnr_untiled": psnr(whole, clean),
        "psnr_tiled": psnr(tiled, clean), "psnr_tiled_vs_untiled": psnr(tiled, whole),
        "seconds_untiled": round(t1 - t0, 1), "seconds_tiled": round(t2 - t1, 1),
        "corner": list(corner),
    }  # fmt: skip


def _save_crop(noisy, whole, tiled, corner, half: int = 48) -> None:
    """noisy | untiled | tiled, a 96 px crop centred on the tiles' common corner, 2x."""
    y, x = corner
    crops = [img[:, y - half : y + half, x - half : x + half] for img in (noisy, whole, tiled)]
    strip = torch.cat([torch.nn.functional.pad(c, (2, 2, 0, 0), value=1.0) for c in crops], -1)
    strip = strip.repeat_interleave(2, -2).repeat_interleave(2, -1)
    SEAM_PNG.parent.mkdir(parents=True, exist_ok=True)
    save_image(strip, SEAM_PNG)


def photo(iters: int, measured: int = 3) -> dict:
    """A 4000x3000 noisy photo restored by the CLI with --tile auto and ``iters`` steps per
    tile, stopped by Ctrl-C (SIGINT) after ``measured`` tiles; the whole run's time is
    extrapolated from them (start-up + tiles x the mean time per tile)."""
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.png"
        im = Image.open(SOURCE).convert("RGB").resize((4000, 3000), Image.BICUBIC)
        arr = np.asarray(im).astype(np.float32) / 255
        rng = np.random.default_rng(0)
        noisy = np.clip(arr + rng.normal(0, 25 / 255, arr.shape), 0, 1)
        Image.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(big)
        cmd = [sys.executable, "-m", "deepprior.cli", "denoise", str(big), "-o",
               str(Path(tmp) / "out.png"), "--tile", "auto", "--iters", str(iters)]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        plan, starts = "", []
        assert proc.stderr is not None
        for line in proc.stderr:
            plan = line.strip() if line.startswith("tiling:") and not plan else plan
            if re.match(r"tile \d+/\d+", line):
                starts.append(time.perf_counter() - t0)
                if len(starts) == measured + 1:
                    proc.send_signal(signal.SIGINT)
        proc.wait()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    count = int(re.search(r"(\d+) tiles", plan).group(1))  # type: ignore[union-attr]
    per_tile = (starts[measured] - starts[0]) / measured
    return {"iters": iters, "plan": plan, "tiles": count, "measured_tiles": measured,
            "startup_seconds": round(starts[0], 1), "seconds_per_tile": round(per_tile, 1),
            "extrapolated_seconds": round(starts[0] + count * per_tile, 1),
            "estimated_seconds": _estimate(plan), "peak_rss_mib": round(rss / 1024),
            "exit_code": proc.returncode}  # fmt: skip


def _estimate(plan: str) -> float:
    """The estimate in a plan line: tiles x steps x seconds per step."""
    tiles = int(re.search(r"(\d+) tiles", plan).group(1))  # type: ignore[union-attr]
    steps, step = re.search(r"\((\d+) steps x ([\d.]+) s", plan).groups()  # type: ignore[union-attr]
    return round(tiles * int(steps) * float(step), 1)


def render(s: dict, p: dict) -> str:
    return f"""# Tiling on photos

Machine: 2 shared CPU cores, `OMP_NUM_THREADS=1`, fp32, the default `auto` denoising preset
(32-filter net). Made by `benchmarks/photos.py seams {s["iters"]}` and `photo {p["iters"]}`.

## Seams: tiled against untiled, 512² F16, Gaussian noise sigma 25

Both runs use the same seed and exactly {s["iters"]} steps (below the stopping rule's
minimum, so neither stops early: a short, affordable fit, not the converged result). The
tiled run cuts the image into {s["tiles"]} tiles of at most {s["tile"]} px with {s["overlap"]} px
overlap.

| | PSNR vs clean (dB) | seconds |
|---|---|---|
| noisy input | {s["psnr_input"]:.2f} | |
| untiled | {s["psnr_untiled"]:.2f} | {s["seconds_untiled"]} |
| tiled | {s["psnr_tiled"]:.2f} | {s["seconds_tiled"]} |

Tiled minus untiled: **{s["psnr_tiled"] - s["psnr_untiled"]:+.2f} dB** (target: within
0.2 dB). PSNR of the tiled result against the untiled one: {s["psnr_tiled_vs_untiled"]:.2f} dB
(two independent DIP fits differ by their noise; this is not a seam measure on its own).

`docs/img/tile_seam.png`: noisy | untiled | tiled, a 96 px crop centred on the corner where
the four tiles meet (pixel {s["corner"][1]}, {s["corner"][0]}), shown 2x.

## A 12-megapixel photo with `--tile auto`

F16 upscaled to 4000x3000 with Pillow (bicubic) and noised (sigma 25) at run time.
`deepprior denoise big.png -o out.png --tile auto --iters {p["iters"]}`: **only {p["iters"]}
steps per tile**, and the run is **stopped with Ctrl-C after {p["measured_tiles"]} of its
{p["tiles"]} tiles** (it then writes the result so far and exits with status
{p["exit_code"]}); the whole run's time is extrapolated from them. A full fit of every tile
(hundreds of steps) would take many hours on this shared CPU.

- plan printed before the start: `{p["plan"]}`
- estimated fitting time (tiles x steps x measured step): {p["estimated_seconds"]} s
- measured: start-up (reading, 3 probe fits, planning) {p["startup_seconds"]} s, then
  {p["seconds_per_tile"]} s per tile; extrapolated whole run: **{p["extrapolated_seconds"]} s**
- peak memory (ru_maxrss of the command, which held the whole 12 MP image, its blend buffer
  and one tile's fit): **{p["peak_rss_mib"]} MiB**

The estimate counts only the fitting steps; each tile also builds its net and its data and
saves its result, which at so few steps per tile is a large share. A full run has hundreds
of steps per tile, where the steps dominate. The machine was shared with other jobs (load
about 6 per core), so the seconds here are slower than the same machine idle; the estimate
and the measurement were taken under the same load.
"""


def main(part: str, iters: int = 0) -> None:
    """``seams N`` or ``photo N`` (each saves its JSON), then ``render`` (the Markdown)."""
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if part in ("seams", "photo"):
        out = seams(iters or 150) if part == "seams" else photo(iters or 5)
        (RESULTS / f"photos_{part}.json").write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out), flush=True)
        return
    s, p = (json.loads((RESULTS / f"photos_{k}.json").read_text()) for k in ("seams", "photo"))
    (RESULTS / "photos.md").write_text(render(s, p))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
