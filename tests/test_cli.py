"""The command line through a subprocess: every subcommand, every bad-input case, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepprior.io import load_image, save_image

from .conftest import DATA

SMALL_NET = ["--net", "hourglass2", "--net-arg", "width=16"]  # fast: 16 filters


def run(*args: str, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "deepprior.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=full_env,
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("deepprior: error: ")
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory, photo) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    paths = {}
    for name, img in {
        "clean": photo,
        "small": photo[:, :10, :10],
        "lr": torch.nn.functional.avg_pool2d(photo[None], 2)[0],
        "dark": photo * 0.6,
    }.items():
        paths[name] = save_image(img, d / f"{name}.png")
    mask = torch.ones(1, 64, 64)
    mask[:, 20:40, 20:40] = 0
    paths["mask"] = save_image(mask, d / "mask.png")
    paths["mask_small"] = save_image(mask[:, :32, :32], d / "mask_small.png")
    paths["mask_black"] = save_image(torch.zeros(1, 64, 64), d / "black.png")
    paths["mask_white"] = save_image(torch.ones(1, 64, 64), d / "white.png")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    paths["corrupt"] = d / "corrupt.png"
    (d / "notes.jpg").write_text("not an image\n")
    paths["text"] = d / "notes.jpg"
    paths["dir"] = d
    return paths


def test_the_click_group_has_every_subcommand_on_import():
    # CliRunner users (and tests) get the diagnostics and bench commands without set-up.
    from click.testing import CliRunner

    from deepprior.cli import cli

    assert {"invert", "actmax", "samples", "curves", "bench", "speed", "sr"} <= set(cli.commands)
    res = CliRunner().invoke(cli, ["bench", "sr", "--help"])
    assert res.exit_code == 0 and "--dataset" in res.output


def test_help_lists_every_subcommand():
    proc = run("--help")
    assert proc.returncode == 0
    subs = (
        "denoise",
        "jpeg",
        "sr",
        "inpaint",
        "restore",
        "enhance",
        "flash",
        "degrade",
        "speed",
        "info",
    )
    for sub in (*subs, "invert", "actmax", "samples", "curves"):
        assert sub in proc.stdout


@pytest.mark.parametrize(
    "args, written",
    [
        (["denoise", "{clean}"], []),
        (["jpeg", "{clean}"], []),
        (["sr", "{lr}", "--factor", "2"], ["bicubic"]),
        (["inpaint", "{clean}", "--mask", "{mask}"], []),
        (["inpaint", "{clean}", "--mask-kind", "text"], ["masked", "mask"]),
        (["restore", "{clean}", "--keep", "0.5", "--gray"], ["masked", "mask"]),
        (["enhance", "{clean}"], ["coarse"]),
        (["flash", "--flash", "{clean}", "--no-flash", "{dark}"], []),
    ],
)  # fmt: skip
def test_every_subcommand_writes_its_outputs_and_report(images, tmp_path, args, written):
    out = tmp_path / "out.png"
    report = tmp_path / "run.json"
    argv = [a.format(**images) for a in args]
    proc = run(*argv, "-o", str(out), "--iters", "3", "--report", str(report), *SMALL_NET,
               "--gt", str(images["clean"] if args[0] != "flash" else images["dark"]))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    img = load_image(out)
    assert img.shape[-2:] == (64, 64)
    for extra in written:
        assert (tmp_path / f"out.{extra}.png").exists()
    rep = json.loads(report.read_text())
    assert rep["task"] == args[0] and rep["iters_run"] == 3
    assert rep["settings"]["iters"] == 3 and rep["device"] == "cpu"
    for key in ("preset", "seconds", "dtype", "final_loss", "metrics", "command"):
        assert key in rep
    assert "psnr" in rep["metrics"] and "ssim" in rep["metrics"]
    assert "PSNR" in proc.stderr  # the summary line


def test_degrade_then_denoise_improves_psnr(images, tmp_path):
    noisy = tmp_path / "noisy.png"
    proc = run("degrade", str(images["clean"]), "-o", str(noisy), "--noise", "25", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "noisy2.png"
    run("degrade", str(images["clean"]), "-o", str(again), "--noise", "25", "--seed", "1")
    assert noisy.read_bytes() == again.read_bytes()  # seeded
    out = tmp_path / "den.png"
    report = tmp_path / "den.json"
    args = ["--iters", "300", "--report", str(report), "--gt", str(images["clean"])]
    args += ["--net-arg", "n_d=16", "--net-arg", "depth=3", "-q"]
    proc = run("denoise", str(noisy), "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(report.read_text())["metrics"]
    assert m["psnr"] > m["psnr_input"] + 2


def test_degrade_all_kinds(images, tmp_path):
    out = tmp_path / "d.png"
    mask_out = tmp_path / "m.png"
    proc = run("degrade", str(images["clean"]), "-o", str(out), "--factor", "2", "--noise", "5",
               "--jpeg", "50", "--mask-kind", "bernoulli", "--mask-out", str(mask_out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert load_image(out).shape == (3, 32, 32)
    m = load_image(mask_out)
    assert 0.3 < float(m.mean()) < 0.7


def test_snapshots_every_k_steps(images, tmp_path):
    out = tmp_path / "o.png"
    proc = run("denoise", str(images["clean"]), "-o", str(out), "--iters", "4", "--save-every",
               "2", *SMALL_NET, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    snaps = sorted(p.name for p in (tmp_path / "o_steps").iterdir())
    assert snaps == ["step_000002.png", "step_000004.png"]


def test_16_bit_output(images, tmp_path):
    out = tmp_path / "o.png"
    proc = run("denoise", str(images["clean"]), "-o", str(out), "--iters", "1", "--bits", "16",
               *SMALL_NET, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import png

    assert png.Reader(filename=str(out)).read()[3]["bitdepth"] == 16


def test_no_progress_drops_the_bar_and_keeps_the_plan_and_summary(images, tmp_path):
    # For a log file: no carriage-return bar lines, but the plan line and the run's summary.
    args = ["denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--iters", "3",
            *SMALL_NET]  # fmt: skip
    with_bar, without = run(*args), run(*args, "--no-progress")
    assert with_bar.returncode == without.returncode == 0, without.stderr
    assert "3/3" in with_bar.stderr and "3/3" not in without.stderr and "\r" not in without.stderr
    plan, summary = without.stderr.strip().splitlines()
    assert plan.startswith("denoise: preset ") and "3 steps" in plan
    assert summary.startswith("wrote ") and "3 steps" in summary
    assert run(*args, "--quiet").stderr == ""


# --- bad input: one line, exit status 2 ------------------------------------------------------


def test_missing_file(tmp_path):
    proc = run("denoise", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc, "nope.png", "no such file")


def test_corrupt_file(images, tmp_path):
    proc = run("denoise", str(images["corrupt"]), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc, "corrupt.png")


def test_not_an_image(images, tmp_path):
    proc = run("denoise", str(images["text"]), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc, "notes.jpg")


def test_directory_as_input(images, tmp_path):
    proc = run("denoise", str(images["dir"]), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc)


def test_mask_size_mismatch(images, tmp_path):
    proc = run("inpaint", str(images["clean"]), "--mask", str(images["mask_small"]), "-o",
               str(tmp_path / "o.png"))  # fmt: skip
    assert_one_line_error(proc, "32x32", "64x64")


def test_mask_without_known_pixels(images, tmp_path):
    proc = run("inpaint", str(images["clean"]), "--mask", str(images["mask_black"]), "-o",
               str(tmp_path / "o.png"))  # fmt: skip
    assert_one_line_error(proc, "no known pixels")


def test_stop_arg_sets_the_presets_stopping_rule(photo, tmp_path):
    gen = torch.Generator().manual_seed(0)
    noisy = save_image((photo + 0.2 * torch.randn(photo.shape, generator=gen)).clamp(0, 1),
                       tmp_path / "noisy.png")  # fmt: skip
    report = tmp_path / "r.json"
    stop = ["--stop-arg", "patience=20", "--stop-arg", "min_steps=0", "--stop-arg", "every=1"]
    net = ["--net-arg", "n_d=8", "--net-arg", "depth=3"]
    proc = run("denoise", str(noisy), "-o", str(tmp_path / "o.png"), "--iters", "400", *stop,
               *net, "--report", str(report), "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(report.read_text())
    # the preset's other settings stay (its held-out fraction)
    assert rep["preset"]["stop_kwargs"] == {"fraction": 0.05, "patience": 20, "every": 1,
                                            "min_steps": 0}  # fmt: skip
    assert rep["iters_run"] < 400 and "20 steps" in rep["stop_reason"]
    assert rep["iters_run"] - rep["best_step"] == 20


def test_stop_arg_errors_name_the_flag(images, tmp_path):
    out = str(tmp_path / "o.png")
    proc = run("denoise", str(images["clean"]), "-o", out, "--stop-arg", "patiense=5")
    assert_one_line_error(proc, "--stop-arg", "no setting 'patiense'", "patience")
    proc = run("denoise", str(images["clean"]), "-o", out, "--stop-arg", "patience")
    assert_one_line_error(proc, "--stop-arg 'patience' must look like KEY=VALUE")
    proc = run("denoise", str(images["clean"]), "-o", out, "--preset", "paper",
               "--stop-arg", "patience=5")  # fmt: skip
    assert_one_line_error(proc, "--stop-arg", "preset 'paper' has no stopping rule")


def test_mask_without_unknown_pixels(images, tmp_path):
    proc = run("inpaint", str(images["clean"]), "--mask", str(images["mask_white"]), "-o",
               str(tmp_path / "o.png"))  # fmt: skip
    assert_one_line_error(proc, "no unknown pixels")


def test_inpaint_needs_a_mask(images, tmp_path):
    proc = run("inpaint", str(images["clean"]), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc, "--mask")


def test_unsupported_factor(images, tmp_path):
    proc = run("sr", str(images["lr"]), "--factor", "3", "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc, "unsupported SR factor 3")


def test_image_too_small_for_the_net(images, tmp_path):
    proc = run("denoise", str(images["small"]), "-o", str(tmp_path / "o.png"))
    assert_one_line_error(proc, "10x10 px", "at least 16 px")


def test_memory_estimate_refusal(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"),
               env={"DEEPPRIOR_MAX_MEMORY": "20M"})  # fmt: skip
    assert_one_line_error(proc, "GiB", "--no-memory-check")


def test_output_directory_missing(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "no" / "o.png"))
    assert_one_line_error(proc, "does not exist")


def test_output_under_a_file_is_unwritable(images, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    proc = run("denoise", str(images["clean"]), "-o", str(f / "o.png"))
    assert_one_line_error(proc, "cannot write")


def test_never_overwrites_the_input(images):
    before = images["clean"].read_bytes()
    proc = run("denoise", str(images["clean"]), "-o", str(images["clean"]))
    assert_one_line_error(proc, "refusing to overwrite the input")
    assert images["clean"].read_bytes() == before


def test_bad_output_extension(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.xyz"))
    assert_one_line_error(proc, ".xyz")


def test_bad_option_value(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--iters", "x")
    assert_one_line_error(proc, "--iters")


def test_bad_net_arg(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--net-arg", "x")
    assert_one_line_error(proc, "KEY=VALUE")
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--net-arg",
               "depth=0")  # fmt: skip
    assert_one_line_error(proc, "at least one level")
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--net-arg",
               "n_d=abc")  # fmt: skip
    assert_one_line_error(proc, "n_d must be an integer >= 1")


def test_outputs_keep_the_inputs_colour_profile(images, tmp_path):
    from PIL import Image, ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "tagged.png"
    Image.open(images["clean"]).save(src, icc_profile=icc)
    out = tmp_path / "o.png"
    proc = run("sr", str(src), "--factor", "2", "-o", str(out), "--iters", "1", "-q",
               *SMALL_NET)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for p in (out, tmp_path / "o.bicubic.png"):
        assert Image.open(p).info.get("icc_profile") == icc
    # --gray: an RGB profile does not describe the gray output, so it is left out.
    proc = run("denoise", str(src), "--gray", "-o", str(out), "--iters", "1", "-q", *SMALL_NET)
    assert proc.returncode == 0 and "icc_profile" not in Image.open(out).info


def test_negative_save_every(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"),
               "--save-every", "-3")  # fmt: skip
    assert_one_line_error(proc, "--save-every")


def test_bad_device(images, tmp_path):
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--device", "tpu")
    assert_one_line_error(proc, "unknown device")


def test_cuda_requested_without_gpu(images, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = run("denoise", str(images["clean"]), "-o", str(tmp_path / "o.png"), "--device", "cuda")
    assert_one_line_error(proc, "no CUDA GPU")


# --- Ctrl-C ---------------------------------------------------------------------------------


def _interrupt_when_running(
    cmd: list[str], total: int, sig: int = signal.SIGINT
) -> tuple[int, str]:
    """Start ``deepprior CMD``, send ``sig`` once the progress bar shows a step, wait."""

    # The child gets the default Ctrl-C disposition even when this runs in a background job,
    # where the shell starts it with SIGINT ignored (and Python then never installs its handler).
    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-m", "deepprior.cli", *cmd],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)  # fmt: skip
    deadline = time.time() + 120
    buf = ""
    while time.time() < deadline:
        ch = proc.stderr.read(1)
        if not ch:
            break
        buf += ch
        if re.search(rf"\b[1-9]\d*/{total}", buf[-200:]):
            break
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, buf + err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_writes_result_and_report(images, tmp_path, sig):
    out = tmp_path / "o.png"
    report = tmp_path / "r.json"
    rc, err = _interrupt_when_running(
        ["denoise", str(images["clean"]), "-o", str(out), "--iters", "100000",
         "--report", str(report), *SMALL_NET], 100000, sig,
    )  # fmt: skip
    assert rc == 130, err
    assert "interrupted at step" in err
    rep = json.loads(report.read_text())
    assert rep["interrupted"] is True and 0 < rep["iters_run"] < 100000
    assert load_image(out).shape == (3, 64, 64)


def test_resume_after_ctrl_c_gives_the_uninterrupted_result(images, tmp_path):
    out, whole = tmp_path / "o.png", tmp_path / "whole.png"
    args = [
        "denoise",
        str(images["clean"]),
        "--iters",
        "200",
        *SMALL_NET,
        "--seed",
        "3",
        "--preset",
        "paper",
    ]  # a fixed step count: the auto preset may stop by itself
    rc, err = _interrupt_when_running([*args, "-o", str(out)], 200)
    state = tmp_path / "o.state.pt"
    assert rc == 130 and "run the same command with --resume" in err, err
    assert state.is_file()

    report = tmp_path / "r.json"
    proc = run(*args, "-o", str(out), "--resume", "--report", str(report), "-q")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(report.read_text())
    assert 0 < rep["resumed_from"] < 200 and rep["iters_run"] == 200
    assert not state.exists()  # the result is written: the state is gone
    assert run(*args, "-o", str(whole), "-q").returncode == 0
    assert torch.equal(load_image(out), load_image(whole))


def test_tiles_in_parallel_stop_on_sigterm_and_resume_to_the_serial_result(images, tmp_path):
    """Two tiles at a time (``--tile-jobs 2``): SIGTERM stops the running tiles, which save
    their state; ``--resume`` finishes the run with the result of the tiles fitted in turn."""
    args = ["denoise", str(images["clean"]), "--tile", "48", "--overlap", "16", "--preset",
            "paper", "--iters", "150", "--net-arg", "n_d=8,8", "--net-arg", "n_s=2", "--seed",
            "3", "--state-every", "10", "--no-progress"]  # fmt: skip
    out = tmp_path / "par.png"
    proc = subprocess.Popen([sys.executable, "-m", "deepprior.cli", *args, "-o", str(out),
                             "--tile-jobs", "2"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: list[str] = []
    deadline = time.time() + 120
    while time.time() < deadline:  # the third tile's fit has begun: a tile is mid-fit
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("denoise:") and any(ln.startswith("tile 3/4") for ln in lines):
            time.sleep(0.5)
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    log = "".join(lines) + err
    assert proc.returncode == 130, log
    assert "tiling: 2 tiles at a time, in processes of 1 thread" in log
    # the estimate: two rounds of 150 steps at a worker's measured step time (1 thread)
    est = re.search(r"1 thread, at most (\d+) s \((\d+\.\d+) s per tile step on 1 thread", log)
    assert est and abs(int(est[1]) - 2 * 150 * float(est[2])) <= 1, log
    tiles = tmp_path / "par.tiles"
    done = json.loads((tiles / "manifest.json").read_text())["done"]
    assert 2 not in done and len(done) >= 1, log
    assert (tiles / "tile_002.state.pt").is_file(), sorted(p.name for p in tiles.iterdir())

    resumed = run(*args, "-o", str(out), "--tile-jobs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not tiles.exists()
    serial = tmp_path / "serial.png"
    assert run(*args, "-o", str(serial), "--tile-jobs", "1").returncode == 0
    assert torch.equal(load_image(out), load_image(serial))
    bad = run(*args, "-o", str(serial), "--tile-jobs", "0")
    assert bad.returncode == 2 and "is not 'auto' or a number of processes" in bad.stderr


def test_resume_refuses_another_runs_state(images, tmp_path):
    out = tmp_path / "o.png"
    args = ["denoise", str(images["clean"]), "-o", str(out), "--iters", "200", *SMALL_NET]
    proc = run(*args, "--resume")
    assert_one_line_error(proc, "no saved fit state at", "run without --resume")
    rc, err = _interrupt_when_running(args, 200)
    assert rc == 130, err
    proc = run(*args, "--resume", "--seed", "5")
    assert_one_line_error(proc, "is from another run (it differs in seed)")
    proc = run(*args, "--resume", "--iters", "1")
    assert_one_line_error(proc, "beyond the 1 steps asked for")


# --- the authors' example images -------------------------------------------------------------

EXAMPLES = DATA / "dip-examples"


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/data is not present")
@pytest.mark.parametrize(
    "args",
    [
        ["jpeg", "denoising/snail.jpg"],
        ["sr", "sr/zebra_crop.png", "--factor", "4"],
        ["inpaint", "inpainting/vase.png", "--mask", "inpainting/vase_mask.png",
         "--preset", "holes"],
        ["restore", "restoration/barbara.png", "--keep", "0.5"],
        ["flash", "--flash", "flash_no_flash/cave01_00_flash.jpg", "--no-flash",
         "flash_no_flash/cave01_01_noflash.jpg"],
    ],
)  # fmt: skip
def test_example_images_run(tmp_path, args):
    argv = [str(EXAMPLES / a) if "/" in a else a for a in args]
    out = tmp_path / "o.png"
    proc = run(*argv, "-o", str(out), "--iters", "1", "-q", "--net", "hourglass4",
               "--net-arg", "width=8", "--no-memory-check")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    ref = Image.open(EXAMPLES / (args[1] if args[0] != "flash" else args[4]))
    factor = 4 if args[0] == "sr" else 1
    assert Image.open(out).size == (ref.size[0] * factor, ref.size[1] * factor)
    assert np.asarray(Image.open(out)).std() > 0


# --- deepprior info ---------------------------------------------------------------------------


def test_info_reports_the_precision_the_cpu_gets(monkeypatch):
    from click.testing import CliRunner

    from deepprior import device
    from deepprior.cli import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2"}))
    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    assert "native bf16: no (fp32 is faster here)" in res.output
    assert "default device: cpu, precision: float32" in res.output
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"amx_bf16", "avx512_bf16"}))
    res = CliRunner().invoke(cli, ["info", "--json"])
    d = json.loads(res.output)
    assert d["default_precision"] == "bfloat16" and d["cpu"]["amx_bf16"] is True
    assert d["versions"]["torch"] == torch.__version__ and d["gpus"] == []


# --- the package: one SIGTERM handler, library errors said as flags ---------------------------


def test_python_m_deepprior_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "deepprior", "--version"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("deepprior, version"), proc.stderr


def test_sigterm_stops_like_ctrl_c_and_the_old_handler_comes_back():
    from deepprior.cli.common import sigterm_as_interrupt

    def mine(signum, frame):
        raise AssertionError("the outer handler ran inside the block")

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs between bytecodes; never reached
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


@pytest.mark.parametrize(
    ("message", "param", "printed"),
    [
        ("restarts must be at least 1, got 0", "restarts", "--restarts must be at least 1, got 0"),
        ("p_known must be in (0, 1), got 2", "p_known", "--keep must be in (0, 1), got 2"),
        ("must be a list\n of ints", "net_kwargs", "--net-arg: must be a list of ints"),
        ("input_noise must be >= 0", None, "input_noise must be >= 0"),
    ],
)
def test_library_errors_are_printed_with_the_flag(message, param, printed):
    import click
    from click.testing import CliRunner

    from deepprior.cli.common import task_command
    from deepprior.errors import DeepPriorError

    @click.command()
    @task_command
    def broken() -> None:
        raise DeepPriorError(message, param=param)

    res = CliRunner().invoke(broken, [])
    assert res.exit_code == 2
    assert res.output == f"deepprior: error: {printed}\n"


def test_renamed_options_keep_their_old_spelling(images, tmp_path):
    from click.testing import CliRunner

    from deepprior.cli import cli

    img, out = str(images["clean"]), str(tmp_path / "x.png")
    for flag in ("--classifier", "--net", "--net=resnet9000"):
        args = [flag, "resnet9000"] if "=" not in flag else [flag]
        res = CliRunner().invoke(cli, ["invert", img, "-o", out, *args])
        assert res.exit_code == 2 and "unknown network 'resnet9000'" in res.output, res.output
    help_text = CliRunner().invoke(cli, ["invert", "--help"]).output
    assert "--classifier" in help_text and "--net " not in help_text
    for flag in ("--report", "--json"):
        res = CliRunner().invoke(cli, ["speed", flag, str(tmp_path / "t.txt")])
        assert res.exit_code == 2 and "--report" in res.output and "must end in .json" in res.output
    # "--" ends the options: an old spelling after it is left as it is.
    res = CliRunner().invoke(cli, ["speed", "--", "--json"])
    assert res.exit_code == 2 and "unexpected extra argument (--json)" in res.output


def test_shared_options_mean_the_same_in_every_family():
    from deepprior.cli import cli

    def spec(cmd, name):
        p = next(p for p in cmd.params if p.name == name)
        return tuple(p.opts), p.type.name, p.default

    commands = [cli.commands[n] for n in ("denoise", "invert", "curves", "speed", "degrade")]
    commands.append(cli.commands["bench"].commands["sr"])
    for name in ("seed", "device", "precision", "quiet"):
        specs = {spec(c, name) for c in commands if any(p.name == name for p in c.params)}
        assert len(specs) == 1, (name, specs)
