"""The memory guard runs before anything large exists: a fit too big for the machine is
refused from sizes alone (the image header, the net's settings, the restarts), within a
second, with no image decoded, no net built for real and no ``z`` made."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from deepprior.cli import cli
from deepprior.errors import DeepPriorError
from deepprior.memory import estimate_fit_memory
from deepprior.nets import create_net
from deepprior.ops import DataTerm, Identity
from deepprior.tasks import Problem, get_preset

MEMORY_MESSAGE = "needs about"
GiB = 1024**3


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` RGB pixels but holds no pixel data: a
    huge image made in a moment (its header is all the guard may read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if the command decodes an input image (or starts the fit after it)."""

    def decode(*args, **kwargs):
        raise AssertionError("an input image was decoded before the memory guard refused")

    monkeypatch.setattr("deepprior.cli.restore._read_inputs", decode)


@pytest.fixture
def no_allocation(monkeypatch):
    """Fail the test if build_plan builds the nets or draws z before refusing."""

    def made(*args, **kwargs):
        raise AssertionError("the nets or z were made before the memory guard refused")

    monkeypatch.setattr("deepprior.plan.build_generator", made)
    monkeypatch.setattr("deepprior.plan.make_input", made)


def fastest(call, tries: int = 3) -> tuple[float, object]:
    """The shortest wall time of ``call`` over a few tries (a loaded CI machine stalls
    now and then), and the last result."""
    best, out = float("inf"), None
    for _ in range(tries):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
        if best < 1.0:
            break
    return best, out


def one_error_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == 2, (result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("deepprior: error: "), result.stderr
    return lines[0]


def test_a_huge_image_is_refused_from_its_header_within_a_second(tmp_path, no_decoding):
    # A generated mask makes inpainting untileable, so the only answer is a refusal.
    huge = png_header(tmp_path / "huge.png", 12000, 9000)
    out = tmp_path / "out.png"
    args = ["inpaint", str(huge), "--mask-kind", "text", "-o", str(out), "--device", "cpu"]
    seconds, result = fastest(lambda: CliRunner().invoke(cli, args))
    line = one_error_line(result)
    assert MEMORY_MESSAGE in line and "12000x9000 px" in line, line
    assert seconds < 1.0, seconds
    assert not out.exists()


def test_a_huge_image_of_a_tileable_task_goes_to_tiling_within_a_second(tmp_path, monkeypatch):
    # denoise can be tiled: the header check lets it through (no refusal) to the tiled runner.
    reached = []

    def decode(task, opts):
        reached.append(opts["image"])
        raise DeepPriorError("stand-in for decoding")

    monkeypatch.setattr("deepprior.cli.restore._read_inputs", decode)
    huge = png_header(tmp_path / "huge.png", 12000, 9000)
    args = ["denoise", str(huge), "-o", str(tmp_path / "o.png"), "--device", "cpu"]
    seconds, result = fastest(lambda: CliRunner().invoke(cli, args))
    assert "stand-in for decoding" in one_error_line(result)
    assert reached and seconds < 1.0, seconds


@pytest.mark.parametrize(
    "extra", [["--restarts", "1000"], ["--net-arg", "n_d=100000"]], ids=["restarts", "n_d"]
)
def test_huge_settings_are_refused_within_a_second(tmp_path, no_decoding, extra):
    small = png_header(tmp_path / "small.png", 64, 64)
    args = ["denoise", str(small), "-o", str(tmp_path / "o.png"), "--device", "cpu", *extra]
    seconds, result = fastest(lambda: CliRunner().invoke(cli, args))
    assert MEMORY_MESSAGE in one_error_line(result)
    assert seconds < 1.0, seconds


@pytest.mark.parametrize(
    ("size", "restarts", "net_kwargs"),
    [((12000, 9000), 1, {}), ((64, 64), 1000, {}), ((64, 64), 1, {"n_d": 100000})],
    ids=["image", "restarts", "n_d"],
)
def test_solve_refuses_before_making_the_nets_or_z(no_allocation, size, restarts, net_kwargs):
    # The library's own guard (the API has no header to read: the problem's size is enough).
    from deepprior.plan import build_plan

    y = torch.rand(3, 8, 8)
    problem = Problem("denoise", DataTerm(y, Identity()), size, 3)
    preset = get_preset("denoise", "paper").with_overrides(net_kwargs=net_kwargs)

    def plan():
        try:
            build_plan(problem, preset, device="cpu", restarts=restarts)
        except DeepPriorError as e:
            return e
        return None

    seconds, err = fastest(plan)
    assert err is not None and MEMORY_MESSAGE in str(err)
    assert seconds < 1.0, seconds


def test_the_size_estimate_equals_the_estimate_of_the_built_net():
    # Same formula as the post-build estimate, plus z (32 channels of float32 per pixel).
    from deepprior.memory import estimate_from_sizes

    net = create_net("skip", 32, 3)
    built = estimate_fit_memory(net, 32, (256, 256), dtype=torch.float32)
    sized = estimate_from_sizes("skip", 32, 3, (256, 256), dtype=torch.float32)
    assert sized == built + 4 * 32 * 256 * 256


def test_a_net_too_large_to_build_is_estimated_on_the_meta_device():
    # n_d=100000: ~10^11 weights per 3x3 layer; counted, never allocated.
    from deepprior.memory import estimate_from_sizes

    need = estimate_from_sizes("skip", 32, 3, (64, 64), dtype=torch.float32,
                               net_kwargs={"n_d": 100000})  # fmt: skip
    assert need > 1000 * GiB


def test_an_allocation_failure_is_a_one_line_error(tmp_path, monkeypatch):
    # With --no-memory-check the fit may still fail to allocate: one line, exit 2.
    def run_task(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 3600000000000 bytes. Error code 12"
        )

    monkeypatch.setattr("deepprior.cli.restore.run_task", run_task)
    small = png_header(tmp_path / "small.png", 64, 64)
    monkeypatch.setattr("deepprior.cli.restore._read_inputs", lambda task, opts: ([None], []))
    result = CliRunner().invoke(
        cli, ["denoise", str(small), "-o", str(tmp_path / "o.png"), "--no-memory-check"]
    )
    assert "out of memory" in one_error_line(result)


def test_other_runtime_errors_are_not_taken_for_allocation_failures():
    from deepprior.memory import is_allocation_error

    assert is_allocation_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not is_allocation_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_large_cpu_tensors_stay_in_the_heap_only_when_memory_is_plentiful(monkeypatch):
    import platform

    import deepprior.memory as mem

    gib = 1024**3
    monkeypatch.setattr(mem, "_heap_kept", False)
    assert not mem.keep_cpu_heap(10 * gib, 16 * gib)  # twice the need would not fit
    assert not mem.keep_cpu_heap(gib, None)  # unknown memory: left alone
    monkeypatch.setenv("DEEPPRIOR_CPU_HEAP", "0")
    assert not mem.keep_cpu_heap(gib, 16 * gib)  # turned off
    monkeypatch.delenv("DEEPPRIOR_CPU_HEAP")
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert mem.keep_cpu_heap(gib, 16 * gib)
        assert mem.keep_cpu_heap(10 * gib, 16 * gib)  # once set, it lasts for the process


def test_direct_fits_ask_for_the_heap_with_their_memory_estimate(monkeypatch):
    import deepprior.memory as mem
    from deepprior.diagnostics.common import fit_image
    from deepprior.nets import create_net
    from deepprior.ops import DataTerm

    asked = []
    monkeypatch.setattr(mem, "_heap_kept", False)  # as in a fresh process
    monkeypatch.setattr(mem, "keep_cpu_heap", lambda need, avail: asked.append(need) or False)
    net, z = create_net("skip", 8, 3), torch.zeros(1, 8, 64, 64)
    assert not mem.keep_cpu_heap_for(net, z, "meta")  # off the CPU: not asked
    assert asked == []
    mem.keep_cpu_heap_for(net, z, "cpu")
    assert asked == [mem.estimate_fit_memory(net, 8, (64, 64), dtype=torch.float32)]
    fit_image(DataTerm(torch.rand(3, 32, 32)), 32, iters=2, device="cpu")  # a diagnostic fit
    assert len(asked) == 2 and asked[1] > 0
