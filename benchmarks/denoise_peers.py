"""The denoising table's zero-shot peers run apart from the bench's DIP fits.

Each image gets the bench's own noisy version (same noise seed as ``deepprior bench denoise``),
is denoised by the peer (fp32, one thread) and scored against the clean image:

- ``deep_decoder`` (``deepprior.bench.deep_decoder``): the authors' k = 128, five upsamplings,
  1900 Adam steps at LR 0.01;
- ``zs_n2n`` (``deepprior.bench.zsn2n``): as the bench runs it, 2000 steps. For images whose
  record was made with ``--skip zs_n2n``;
- ``bm3d``: CBM3D as the bench runs it (sigma given), for records made where the ``bm3d``
  package was not installed.

Results are merged into ``peers/<peer>.json`` of the table's auto folder, which
``benchmarks/auto_table.py`` shows where the bench's record has no value; an image already
there is skipped.

    python benchmarks/denoise_peers.py deep_decoder image_House256rgb
    python benchmarks/denoise_peers.py zs_n2n kodim01 kodim02
    python benchmarks/denoise_peers.py deep_decoder     # every CBM3D9 image not yet done

Runs of one peer on different images may go in parallel: each merges its result into the file
as it writes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from deepprior.bench import baselines as bl
from deepprior.bench import data as bd
from deepprior.bench.deep_decoder import deep_decoder_denoise
from deepprior.bench.zsn2n import zs_n2n_denoise
from deepprior.device import host_summary
from deepprior.io import load_image
from deepprior.io.files import atomic_write_text
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise

OUT = Path(__file__).parent / "results" / "denoise-CBM3D9-sigma25-auto"
SIGMA = 25.0
#: peer -> (its function of the noisy image, the settings it is called with)
PEERS = {
    "deep_decoder": (deep_decoder_denoise, {"steps": 1900}),
    "zs_n2n": (zs_n2n_denoise, {"steps": 2000}),
    "bm3d": (bl.denoise_bm3d, {"sigma": SIGMA / 255.0}),
}


def main(peer: str, names: list[str]) -> None:
    torch.set_num_threads(1)
    fn, kwargs = PEERS[peer]
    out_file = OUT / "peers" / f"{peer}.json"
    out_file.parent.mkdir(exist_ok=True)
    data_dir = bd.resolve_data_dir()
    names = names or list(bd.DATASETS["CBM3D9"])
    done = json.loads(out_file.read_text()) if out_file.exists() else {}
    for name in names:
        if name in done:
            continue
        gt = load_image(bd.dataset_image(data_dir, "CBM3D9", name), channels=3)
        # the bench's noisy image: same sigma, same per-image seed (bench seed 0)
        noisy = add_gaussian_noise(gt, SIGMA / 255.0, seed=bd.image_seed(0, name))
        t0 = time.perf_counter()
        out = fn(noisy, **kwargs)
        seconds = round(time.perf_counter() - t0, 1)
        rec = {
            "psnr": round(float(psnr(out, gt)), 3), "seconds": seconds,
            "steps": kwargs.get("steps"), "size": list(gt.shape), "host": host_summary(),
            "threads": 1,
        }  # fmt: skip
        print(f"{name}: {peer} {rec['psnr']:.2f} dB in {seconds:.0f} s", flush=True)
        # re-read before writing, so that runs of one peer on other images in parallel merge
        done = json.loads(out_file.read_text()) if out_file.exists() else {}
        done[name] = rec
        atomic_write_text(out_file, json.dumps(done, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in PEERS:
        sys.exit(f"usage: denoise_peers.py {{{'|'.join(PEERS)}}} [IMAGE ...]")
    main(sys.argv[1], sys.argv[2:])
