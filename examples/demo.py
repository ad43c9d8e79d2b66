"""Denoise a photo with the Deep Image Prior: no training data, just one noisy image.

The clean image is a 128x128 crop of scikit-image's bundled ``astronaut()`` photo (rows 30-157,
columns 190-317 of the 512x512 original: the astronaut's face). The demo adds Gaussian noise of
sigma = 25/255, fits a randomly initialised ConvNet to the noisy image with the default
``auto`` preset (a light net that stops by itself near its best iterate, judged on a few
per cent of the pixels held out of the fit; no clean image is used for that) and writes,
into ``--out``:

    clean.png          the crop
    noisy.png          the crop with noise
    restored.png       the Deep Image Prior result
    before_after.png   noisy | restored | clean, side by side

Run it with ``make demo`` or ``python examples/demo.py --out demo_out [--preset fast --iters 300]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from skimage import data

import deepprior
from deepprior.io import save_image
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise

CROP = (slice(30, 158), slice(190, 318))  # (rows, columns) of the 512x512 astronaut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--preset", default=None, help="denoising preset (default: auto)")
    parser.add_argument(
        "--iters", type=int, default=None, help="most fitting steps (default: the preset's)"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # A (3, 128, 128) float tensor in [0, 1]; the library also accepts arrays, PIL images, paths.
    clean = torch.from_numpy(data.astronaut()[CROP].copy()).permute(2, 0, 1).float() / 255
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)

    # gt= is optional: it only adds PSNR/SSIM to the progress bar and to result.metrics.
    result = deepprior.denoise(noisy, preset=args.preset, iters=args.iters, gt=clean)

    save_image(clean, out / "clean.png")
    save_image(noisy, out / "noisy.png")
    result.save(out / "restored.png")
    save_image(torch.cat([noisy, result.image, clean], dim=-1), out / "before_after.png")

    print(f"noisy:    PSNR {psnr(noisy, clean):.2f} dB")
    rep = result.report
    print(f"restored: PSNR {psnr(result.image, clean):.2f} dB "
          f"({rep['iters_run']} steps, {rep['seconds']:.1f} s on {rep['device']})")  # fmt: skip
    if rep.get("stop_reason"):
        print(f"stopped by itself at step {rep['iters_run']}: {rep['stop_reason']}")
    print(f"wrote {out / 'before_after.png'} (noisy | restored | clean)")


if __name__ == "__main__":
    main()
