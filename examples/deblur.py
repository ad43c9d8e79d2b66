"""Deblurring through a user-supplied operator with ``deepprior.solve``.

Blur a crop of scikit-image's camera photo with a known Gaussian kernel (plus a little
noise), restore it by fitting ``||A(f(z)) - y||²`` with ``A`` the same blur, and print the
PSNRs. Any differentiable ``torch.nn.Module`` can stand in for ``GaussianBlur`` here.

Run:  python examples/deblur.py [--iters 2000] [--sigma 2] [--size 128]
"""

from __future__ import annotations

import argparse

import torch
from skimage import data

import deepprior
from deepprior.metrics import psnr
from deepprior.tasks.deblur import GaussianBlur


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", type=float, default=2.0, help="blur in px")
    ap.add_argument("--size", type=int, default=128, help="side of the crop")
    ap.add_argument("--iters", type=int, default=None, help="steps (default: the preset's)")
    ap.add_argument("--preset", default="fast", help="paper or fast")
    args = ap.parse_args()

    camera = torch.from_numpy(data.camera()).float() / 255.0
    top = (camera.shape[0] - args.size) // 3
    left = (camera.shape[1] - args.size) // 2
    clean = camera[None, top : top + args.size, left : left + args.size].contiguous()

    blur = GaussianBlur(args.sigma)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        blurred = blur(clean[None])[0] + 0.01 * torch.randn(clean.shape, generator=gen)
    blurred = blurred.clamp(0, 1)

    res = deepprior.solve(blurred, operator=blur, preset=args.preset, iters=args.iters,
                          gt=clean)  # fmt: skip
    print(f"blurred input: {psnr(blurred, clean):.2f} dB")
    print(f"restored:      {res.metrics['psnr']:.2f} dB ({res.report['iters_run']} steps, "
          f"{res.report['seconds']:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
