"""Tiling on real photo sizes: seams on a 512² image, and a 12-megapixel photo with
``--tile auto`` (the printed estimate against the real time, and the peak memory).

    OMP_NUM_THREADS=1 python benchmarks/photos.py seams 150   # -> photos_seams.json
    OMP_NUM_THREADS=1 python benchmarks/photos.py corner 300  # -> photos_corner.json + PNG
    OMP_NUM_THREADS=1 python benchmarks/photos.py photo 5     # -> photos_photo.json
    python benchmarks/photos.py render                        # -> photos.md

writes ``benchmarks/results/photos.md`` and ``docs/img/tile_seam.png``. The
12 MP photo is made at run time by upscaling a shared image (never committed); its fit
runs only the given steps per tile (default 5): a full fit would take many hours here.
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


#: The corner figure: a 128² crop of F16 with a small net (16 filters, 3 levels), which
#: converges in a few hundred steps even on this CPU, in 2x2 tiles of 72 px.
SMALL = {"crop": 128, "tile": 72, "overlap": 16, "preset": "fast",
         "net_kwargs": {"n_d": [16, 16, 16], "n_s": 4, "depth": 3}}  # fmt: skip


def seams(iters: int, small: bool = False) -> dict:
    """Untiled and tiled (2x2 tiles) denoising of F16 at sigma 25 with the same settings:
    the 512² image with the default preset, or (``small``) a 128² crop with a small net
    (which also writes the corner figure)."""
    clean = load_image(SOURCE)
    tile, overlap, kw = TILE, OVERLAP, {"iters": iters, "progress": False, "seed": 0}
    if small:
        c, tile, overlap = SMALL["crop"], SMALL["tile"], SMALL["overlap"]
        top = (clean.shape[-1] - c) // 2
        clean = clean[:, top : top + c, top : top + c]
        kw.update(preset=SMALL["preset"], net_kwargs=SMALL["net_kwargs"])
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    t0 = time.perf_counter()
    whole = deepprior.denoise(noisy, **kw).image
    t1 = time.perf_counter()
    tiled = solve_tiled("denoise", noisy, tile=tile, overlap=overlap, **kw).image
    t2 = time.perf_counter()
    tiles = plan_tiles(tuple(noisy.shape[-2:]), tile, overlap)
    a, b = tiles[0].core, tiles[-1].core
    corner = (a[1] + b[0]) // 2, (a[3] + b[2]) // 2
    if small:
        _save_crop(noisy, whole, tiled, corner)
    return {
        "iters": iters, "size": clean.shape[-1], "tiles": len(tiles), "tile": tile,
        "overlap": overlap, "psnr_input": psnr(noisy, clean), "psnr_untiled": psnr(whole, clean),
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


def photo(iters: int, measured: int = 0) -> dict:
    """A 4000x3000 noisy photo restored by the CLI with --tile auto and ``iters`` steps per
    tile; with ``measured``, stopped (SIGTERM, as Ctrl-C) after that many tiles, and the
    whole run's time extrapolated from them (start-up + tiles x the mean time per tile)."""
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
                if measured and len(starts) == measured + 1:
                    proc.send_signal(signal.SIGTERM)  # like Ctrl-C (SIGINT is ignored in
                    # a background job's children)
        proc.wait()
        seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    count = int(re.search(r"(\d+) tiles", plan).group(1))  # type: ignore[union-attr]
    done = measured or len(starts) - 1
    per_tile = (starts[done] - starts[0]) / done
    return {"iters": iters, "plan": plan, "tiles": count, "measured_tiles": done,
            "startup_seconds": round(starts[0], 1), "seconds_per_tile": round(per_tile, 1),
            "extrapolated_seconds": round(starts[0] + count * per_tile, 1),
            "estimated_seconds": _estimate(plan), "peak_rss_mib": round(rss / 1024),
            "exit_code": proc.returncode, "seconds": round(seconds, 1)}  # fmt: skip


def _estimate(plan: str) -> float:
    """The estimate in a plan line: tiles x steps x seconds per step."""
    tiles = int(re.search(r"(\d+) tiles", plan).group(1))  # type: ignore[union-attr]
    steps, step = re.search(r"\((\d+) steps x ([\d.]+) s", plan).groups()  # type: ignore[union-attr]
    return round(tiles * int(steps) * float(step), 1)


def render(s: dict, c: dict, p: dict) -> str:
    """The Markdown report of the three parts."""
    return f"""# Tiling on photos

Machine: 2 CPU cores shared with other jobs (load average about 10-12 during these runs, so
every wall-clock second here is several times slower than the machine idle),
`OMP_NUM_THREADS=1`, fp32, the default `auto` denoising preset (32-filter net). Made by
`benchmarks/photos.py seams {s["iters"]}`, `corner {c["iters"]}` and `photo {p["iters"]}`.

## Seams: tiled against untiled, 512² F16, Gaussian noise sigma 25

Both runs use the same seed and exactly {s["iters"]} steps: all this shared CPU allowed
(below the stopping rule's 200-step minimum, so neither stops early). **At {s["iters"]} steps
neither fit has converged: both are still below the noisy input**, so this compares two
early iterates, not two restorations. The tiled run cuts the image into {s["tiles"]} tiles of
at most {s["tile"]} px with {s["overlap"]} px overlap.

| | PSNR vs clean (dB) | wall seconds |
|---|---|---|
| noisy input | {s["psnr_input"]:.2f} | |
| untiled | {s["psnr_untiled"]:.2f} | {s["seconds_untiled"]} |
| tiled | {s["psnr_tiled"]:.2f} | {s["seconds_tiled"]} |

Tiled minus untiled: **{s["psnr_tiled"] - s["psnr_untiled"]:+.2f} dB** (target: within
0.2 dB; not met at this step count, in the tiled run's favour: the smaller fits progress
faster per step). PSNR of the tiled result against the untiled one:
{s["psnr_tiled_vs_untiled"]:.2f} dB. A converged comparison (300+ steps) is still to be run
on a less loaded machine.

## Seams where the fits converge: a 128² crop with a small net

The centre 128² of the same noisy F16, a small net (16 filters, 3 levels) and the `fast`
preset's fixed {c["iters"]} steps (EMA output), untiled and in {c["tiles"]} tiles of
{c["tile"]} px with {c["overlap"]} px overlap:

| | PSNR vs clean (dB) | wall seconds |
|---|---|---|
| noisy input | {c["psnr_input"]:.2f} | |
| untiled | {c["psnr_untiled"]:.2f} | {c["seconds_untiled"]} |
| tiled | {c["psnr_tiled"]:.2f} | {c["seconds_tiled"]} |

Tiled minus untiled: **{c["psnr_tiled"] - c["psnr_untiled"]:+.2f} dB**; tiled against
untiled: {c["psnr_tiled_vs_untiled"]:.2f} dB.

`docs/img/tile_seam.png`: noisy | untiled | tiled, a 96 px crop of this run centred on the
corner where the four tiles meet (pixel {c["corner"][1]}, {c["corner"][0]}), shown 2x.

## A 12-megapixel photo with `--tile auto`

F16 upscaled to 4000x3000 with Pillow (bicubic) and noised (sigma 25) at run time.
`deepprior denoise big.png -o out.png --tile auto --iters {p["iters"]}`: **only {p["iters"]}
steps per tile** (a full fit, hundreds of steps per tile, would take many hours on this
CPU). {_photo_run(p)}

- plan printed before the start: `{p["plan"]}`
- estimated fitting time (tiles x steps x measured step): **{p["estimated_seconds"]} s**
- measured: start-up (reading the PNG, 3 probe fits, planning) {p["startup_seconds"]} s,
  then {p["seconds_per_tile"]} s per tile (mean over {p["measured_tiles"]} tiles)
- peak memory (ru_maxrss of the command): **{p["peak_rss_mib"]} MiB**

The estimate was {p["estimated_seconds"] / p["seconds"]:.2f}x the real time. It counts only
the fitting steps, which would make it low, but its step time comes from two steps of the
first tile (the first step includes warm-up) measured under the machine's changing load,
which here made it high. With hundreds of steps per tile the warm-up matters less.

The peak memory is far above one tile's estimated fit. The process also holds the 12 MP
input, the blend buffer and the finished tiles (about 0.6 GB in float32); the rest was
memory the allocator kept from the finished tiles' fits. Tiling now releases it after every
tile (`gc.collect()` and glibc's `malloc_trim`), which took a 9-tile 1024² run from a
1.67 GB to a 0.97 GB peak; the 12 MP run above was made before that change.
"""


def _photo_run(p: dict) -> str:
    if p["exit_code"] == 0:
        return (f"It ran all {p['tiles']} tiles: real time **{p['seconds']} s** from start to "
                "exit, written output included.")  # fmt: skip
    return (f"It was stopped (SIGTERM, as Ctrl-C) after {p['measured_tiles']} of its "
            f"{p['tiles']} tiles; the whole run extrapolated from them: "
            f"**{p['extrapolated_seconds']} s**.")  # fmt: skip


def main(part: str, iters: int = 0) -> None:
    """``seams N`` or ``photo N`` (each saves its JSON), then ``render`` (the Markdown)."""
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if part in ("seams", "corner", "photo"):
        out = photo(iters or 5) if part == "photo" else seams(iters or 150, part == "corner")
        (RESULTS / f"photos_{part}.json").write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out), flush=True)
        return
    parts = [json.loads((RESULTS / f"photos_{k}.json").read_text())
             for k in ("seams", "corner", "photo")]  # fmt: skip
    (RESULTS / "photos.md").write_text(render(*parts))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
