"""Seconds per fit step of a skip net of a given width and image side (one thread; fp32, or
with a fourth argument bf16 as a fit runs it by default: autocast and channels-last).

Used for same-machine time ratios when a full paper-preset fit is too long to run:

    python benchmarks/step_time.py 128 256 15       # width 128 (the paper's), 256x256, 15 steps
    python benchmarks/step_time.py 128 224x320 4    # a non-square image (H x W)
    python benchmarks/step_time.py 32 160 50 bf16   # bf16 channels-last: fast with bf16 units
    python benchmarks/step_time.py 32 256 20 fp32 8 # a z of 8 channels (default 32)
"""

from __future__ import annotations

import resource
import sys

import torch

from deepprior.device import available_memory
from deepprior.fit import Schedule, fit
from deepprior.memory import estimate_fit_memory, keep_cpu_heap
from deepprior.nets import create_net
from deepprior.ops import DataTerm
from deepprior.plan import channels_last_for


def main(width: int, size: str, steps: int, precision: str = "fp32", z_channels: int = 32) -> None:
    h, w = (int(v) for v in size.split("x")) if "x" in size else (int(size), int(size))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = create_net("skip", z_channels, 3, n_d=[width] * 5, n_s=4)
    y = torch.rand(3, h, w)
    z = torch.rand(1, z_channels, h, w) * 0.1
    # as a task's fit does: large activations stay in the heap when memory allows
    need = estimate_fit_memory(net, z_channels, (h, w), dtype=torch.float32)
    keep_cpu_heap(need, available_memory(torch.device("cpu")))
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    how = {"dtype": dtype, "channels_last": channels_last_for(torch.device("cpu"), dtype)}
    fit(net, z, DataTerm(y), Schedule(iters=3, input_noise=1 / 30), **how)  # warm-up
    res = fit(net, z, DataTerm(y), Schedule(iters=steps, input_noise=1 / 30), **how)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"width {width} z {z_channels} size {size} {precision}: {res.seconds / steps:.3f} s/step "
        f"over {steps} steps, estimate {need / 2**20:.0f} MiB, peak resident {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), *sys.argv[4:5], *map(int, sys.argv[5:6]))
