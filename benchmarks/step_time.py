"""Seconds per fit step of a skip net of a given width and image side (fp32, one thread).

Used for same-machine time ratios when a full paper-preset fit is too long to run:

    python benchmarks/step_time.py 128 256 15   # width 128 (the paper's), 256x256, 15 steps
"""

from __future__ import annotations

import sys

import torch

from deepprior.fit import Schedule, fit
from deepprior.nets import create_net
from deepprior.ops import DataTerm


def main(width: int, size: int, steps: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = create_net("skip", 32, 3, n_d=[width] * 5, n_s=4)
    y = torch.rand(3, size, size)
    z = torch.rand(1, 32, size, size) * 0.1
    fit(net, z, DataTerm(y), Schedule(iters=3, input_noise=1 / 30))  # warm-up
    res = fit(net, z, DataTerm(y), Schedule(iters=steps, input_noise=1 / 30))
    print(f"width {width} size {size}: {res.seconds / steps:.3f} s/step over {steps} steps")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
