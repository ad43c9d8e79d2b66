"""The Deep Decoder peer on the denoising table's images, beside the bench's records.

Each image gets the bench's own noisy version (same noise seed as ``deepprior bench denoise``),
is denoised by the deep decoder (``deepprior.bench.deep_decoder``: the authors' k = 128, five
upsamplings, 1900 Adam steps at LR 0.01, fp32, one thread) and scored against the clean image.
Results are merged into ``deep_decoder.json`` of the table's auto folder, which
``benchmarks/auto_table.py`` shows as a column; an image already there is skipped.

    python benchmarks/denoise_peers.py image_House256rgb
    python benchmarks/denoise_peers.py                 # every CBM3D9 image not yet done
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from deepprior.bench import data as bd
from deepprior.bench.deep_decoder import deep_decoder_denoise
from deepprior.device import host_summary
from deepprior.io import load_image
from deepprior.io.files import atomic_write_text
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise

OUT = Path(__file__).parent / "results" / "denoise-CBM3D9-sigma25-auto" / "deep_decoder.json"
SIGMA = 25.0
STEPS = 1900


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    data_dir = bd.resolve_data_dir()
    names = names or list(bd.DATASETS["CBM3D9"])
    done = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in names:
        if name in done:
            continue
        gt = load_image(bd.dataset_image(data_dir, "CBM3D9", name), channels=3)
        # the bench's noisy image: same sigma, same per-image seed (bench seed 0)
        noisy = add_gaussian_noise(gt, SIGMA / 255.0, seed=bd.image_seed(0, name))
        t0 = time.perf_counter()
        out = deep_decoder_denoise(noisy, steps=STEPS)
        seconds = round(time.perf_counter() - t0, 1)
        done[name] = {
            "psnr": round(float(psnr(out, gt)), 3), "seconds": seconds, "steps": STEPS,
            "size": list(gt.shape), "host": host_summary(), "threads": 1,
        }  # fmt: skip
        print(f"{name}: deep decoder {done[name]['psnr']:.2f} dB in {seconds:.0f} s", flush=True)
        atomic_write_text(OUT, json.dumps(done, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
