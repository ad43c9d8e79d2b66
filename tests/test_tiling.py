"""Tiling: the blend is a partition of unity, tiles reassemble the image exactly, a tiled
fit matches an untiled one, SR tiles have no seam, and an interrupted run resumes per tile."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import torch

from deepprior.errors import DeepPriorError
from deepprior.metrics import psnr
from deepprior.ops import add_gaussian_noise
from deepprior.tasks import Result
from deepprior.tasks.presets import Preset
from deepprior.tasks.registry import Option, Task
from deepprior.tiling import plan_tiles, solve_tiled, warm_sources


class Echo(Task):
    """A stand-in task whose 'fit' returns its input (nearest-upscaled for SR): it counts
    the tile fits (those with a state file) and can stop like Ctrl-C at a given one."""

    summary = "identity"
    presets = {"paper": Preset("paper", "", iters=3)}
    inputs = (Option("image", kind="image", positional=True),)

    def __init__(self, name: str = "denoise", interrupt_at: int | None = None,
                 host: str = "A") -> None:  # fmt: skip
        self.name, self.host = name, {"cpu": host}
        self.fits: list[dict[str, Any]] = []
        self.interrupt_at = interrupt_at

    def run(self, image: torch.Tensor, *mask: torch.Tensor, factor: int = 1, **kw: Any) -> Result:
        out = image.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
        out = out * mask[0] if mask else out  # inpainting: "fill" the holes with 0
        if kw.get("state_file") is not None:
            self.fits.append(kw)
        stop = self.interrupt_at is not None and len(self.fits) == self.interrupt_at
        h, w = out.shape[-2:]
        report = {"canvas": [w, h], "estimated_memory_mib": h * w / 1e4,
                  "seconds_per_iter": 1e-3, "iters_run": 3, "fit_seconds": 0.5,
                  "backtracks": len(self.fits) % 2, "hosts": [self.host]}  # fmt: skip
        return Result(out, out, None, report=report, interrupted=stop)


@pytest.mark.parametrize(
    "size, tile, overlap, scale, context",
    [((100, 70), 48, 16, 1, 0), ((37, 200), 40, 8, 1, 3), ((30, 50), 16, 4, 4, 2),
     ((129, 64), 64, 31, 1, 0)],
)  # fmt: skip
def test_blend_weights_are_a_partition_of_unity(size, tile, overlap, scale, context):
    tiles = plan_tiles(size, tile, overlap, scale=scale, context=context)
    assert len(tiles) > 1
    total = torch.zeros(size[0] * scale, size[1] * scale, dtype=torch.float64)
    for t in tiles:
        w = t.weight()
        assert w.min() >= 0 and w.max() <= 1
        total[t.out_slices] += w
        assert t.core[1] - t.core[0] <= tile and t.core[3] - t.core[2] <= tile
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


def test_a_too_large_overlap_is_refused():
    with pytest.raises(DeepPriorError, match="more than twice the overlap"):
        plan_tiles((100, 100), 40, 20)


@pytest.mark.parametrize("task, factor", [("denoise", 1), ("sr", 2)])
def test_tiling_an_identity_fit_reproduces_the_image_exactly(task, factor):
    img = torch.rand(3, 70, 53, generator=torch.Generator().manual_seed(0))
    echo = Echo(task)
    res = solve_tiled(echo, img, tile=24, overlap=6, progress=False,
                      **({"factor": factor} if factor > 1 else {}))  # fmt: skip
    expected = img.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    assert res.report["tiles"]["count"] == 12  # 4 rows x 3 columns
    assert torch.allclose(res.image, expected, atol=1e-6)


def test_tiled_denoise_is_close_to_untiled_and_both_beat_the_input(photo, tiny, one_thread):
    import deepprior

    clean = photo[:, :40]  # 40x64: two 40x40 tiles
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    # fp32: in bf16 (the default on a CPU with bf16 units) the one fit of the whole image
    # lands about 1 dB lower, which is the precision's doing, not the tiles'
    kw = {**tiny, "preset": "fast", "iters": 150, "precision": "fp32"}
    whole = deepprior.denoise(noisy, **kw).image
    tiled = solve_tiled("denoise", noisy, tile=40, overlap=12, gt=clean, **kw)
    assert tiled.report["tiles"]["count"] == 2
    # each tile's fit is measured against its own clean crop: its output and best PSNR
    assert tiled.report["metrics"]["psnr"] == pytest.approx(psnr(tiled.image, clean), abs=1e-3)
    fits = tiled.report["tiles"]["fits"]
    assert [f["index"] for f in fits] == [0, 1] and all(f["iters_run"] == 150 for f in fits)
    for f in fits:
        top, bottom, left, right = f["fit"]
        crop = clean[:, top:bottom, left:right]
        assert f["best_psnr"] >= f["psnr"] - 0.5 and f["psnr"] > psnr(noisy, clean) + 1, f
        assert crop.shape[-1] < clean.shape[-1]  # a tile's crop, not the whole image
    base = psnr(noisy, clean)
    p_whole, p_tiled = psnr(whole, clean), psnr(tiled.image, clean)
    # measured: input 20.3 dB, untiled 22.9 dB, tiled 23.4 dB
    assert p_whole > base + 2 and p_tiled > base + 2, (base, p_whole, p_tiled)
    assert abs(p_tiled - p_whole) < 1.0, (p_whole, p_tiled)


def test_tile_records_keep_the_stop_rules_curve(photo, tiny, one_thread):
    # what another patience would have done can be replayed from the record alone
    clean = photo[:, :40]
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    res = solve_tiled("denoise", noisy, tile=40, overlap=12, gt=clean,
                      metrics_every=10, **{**tiny, "preset": "auto", "iters": 60})  # fmt: skip
    for f in res.report["tiles"]["fits"]:
        c = f["curve"]
        assert c["rule"] == "holdout" and c["rule_step"][-1] <= f["iters_run"] == 60
        assert len(c["rule_step"]) == len(c["rule_score"]) >= 5
        best = c["rule_step"][min(range(len(c["rule_score"])), key=c["rule_score"].__getitem__)]
        assert best == f["best_step"]
        # measured at the rule's steps (as the bench does), so the kept EMA's PSNR is on it
        assert c["psnr_step"] == c["rule_step"] and len(c["psnr_ema"]) == len(c["rule_step"])


def _smooth(h: int, w: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([0.5 + 0.3 * torch.sin(3 * x + 2 * y), 0.4 + 0.2 * x * y,
                        0.5 + 0.3 * torch.cos(4 * y)])  # fmt: skip


def test_sr_tiles_have_no_seam(one_thread):
    import deepprior

    lr = _smooth(32, 32)
    kw = {"prior": "none", "iters": 40, "progress": False, "preset": "paper"}
    whole = deepprior.super_resolve(lr, 2, **kw).image
    tiled = solve_tiled("sr", lr, factor=2, tile=16, overlap=6, **kw)
    assert tiled.report["tiles"]["count"] == 9
    seams = sorted({t.out_slices[1].start for t in plan_tiles((32, 32), 16, 6, scale=2)} - {0})
    for c in range(2, 62):  # no column step is larger than the untiled result's there
        jump = (tiled.image[..., c] - tiled.image[..., c - 1]).abs().max()
        ref = (whole[..., c] - whole[..., c - 1]).abs().max()
        assert jump <= ref + 0.01, (c, seams, float(jump), float(ref))
    assert (tiled.image - whole).abs().max() < 0.03


def test_masks_are_cut_alongside_the_image():
    img = torch.rand(3, 60, 60, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.5
    mask = torch.ones(1, 60, 60)
    mask[:, 5:20, 30:58] = 0  # a hole in the top right; the other tiles are fully known
    echo = Echo("inpaint")
    echo.inputs = (*Echo.inputs, Option("mask", kind="mask"))
    res = solve_tiled(echo, img, mask, tile=32, overlap=6, progress=False)
    assert torch.allclose(res.image, img * mask, atol=1e-6)
    mask[:, :36, 24:] = 0  # now the top-right tile has nothing known
    with pytest.raises(DeepPriorError, match="no known pixels; use a larger --tile"):
        solve_tiled(echo, img, mask, tile=32, overlap=6, progress=False)


def test_an_interrupted_run_resumes_at_the_tile_it_stopped_in(tmp_path):
    img = torch.rand(3, 70, 53, generator=torch.Generator().manual_seed(2))
    state = tmp_path / "out.tiles"
    first = Echo(interrupt_at=3)
    res = solve_tiled(first, img, tile=24, overlap=6, state_dir=state, progress=False)
    assert res.interrupted and len(first.fits) == 3
    assert json.loads((state / "manifest.json").read_text())["done"] == [0, 1]
    # the finished tiles' backtracks (1, 0) and the interrupted tile's own (1)
    assert res.report["backtracks"] == 2
    with pytest.raises(DeepPriorError, match="from another run"):
        solve_tiled(Echo(), img.flip(-1), tile=24, overlap=6, state_dir=state, resume=True,
                    progress=False)  # fmt: skip
    second = Echo(host="B")  # resumed on another machine
    res = solve_tiled(second, img, tile=24, overlap=6, state_dir=state, resume=True,
                      progress=False)  # fmt: skip
    assert not res.interrupted and len(second.fits) == 12 - 2
    assert res.report["hosts"] == [{"cpu": "A"}, {"cpu": "B"}]  # the seconds of two machines
    assert torch.allclose(res.image, img, atol=1e-6)
    # the totals count the tiles the first run finished too
    assert res.report["iters_run"] == 12 * 3 and res.report["fit_seconds"] == 12 * 0.5
    # backtracks: each tile's own (odd-numbered fits of each run backtracked once), summed
    per_tile = [f["backtracks"] for f in res.report["tiles"]["fits"]]
    assert per_tile == [1, 0] + [1, 0] * 5
    assert res.report["backtracks"] == sum(per_tile) == 6
    assert not state.exists()  # removed once the whole image is done


def test_cli_tiles_and_refuses_what_it_cannot_tile(tmp_path, photo):
    from click.testing import CliRunner

    from deepprior.cli import cli
    from deepprior.io import save_image

    src = save_image(photo, tmp_path / "in.png")
    out = tmp_path / "out.png"
    args = ["denoise", str(src), "-o", str(out), "--tile", "40", "--overlap", "8",
            "--iters", "2", "--net-arg", "n_d=8,8", "--net-arg", "n_s=2"]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--state-every", "1"])  # a state before any tile ends
    assert res.exit_code == 0, res.output
    assert "tiling: 4 tiles of at most 40x40 px" in res.output
    assert "4 tiles: 4 ran to their cap (at most 2 each)" in res.output  # how the fits ended
    tiling = next(ln for ln in res.output.splitlines() if ln.startswith("tiling:"))
    assert "estimated" not in tiling and "measured" in tiling, tiling
    res = CliRunner().invoke(cli, [*args[:4], "--tile", "big"])
    assert res.exit_code == 2 and "is not 'auto', 'off' or a tile side" in res.output
    bad = ["inpaint", str(src), "-o", str(out), "--mask-kind", "text", "--tile", "40"]
    res = CliRunner().invoke(cli, bad)
    assert res.exit_code == 2 and "--tile needs a mask file" in res.output


def test_an_image_that_does_not_fit_is_tiled_automatically(monkeypatch, capsys):
    from deepprior.tiling import solve_maybe_tiled

    monkeypatch.setenv("DEEPPRIOR_MAX_MEMORY", "20M")  # Echo's "fit" of 520² needs 27 MiB
    img = torch.rand(3, 520, 520, generator=torch.Generator().manual_seed(4))
    res = solve_maybe_tiled(Echo(), img, device="cpu")
    err = capsys.readouterr().err
    assert "needs about 0.0 GiB" in err and "restoring it in tiles (--tile auto)" in err
    assert "tiling: 4 tiles of at most 424x424 px" in err  # the largest under 90 % of 20 MiB
    assert res.report["tiles"]["count"] == 4 and res.report["tiles"]["tile"] == 424
    assert torch.allclose(res.image, img, atol=1e-6)
    small = solve_maybe_tiled(Echo(), img[:, :64, :64], device="cpu")
    assert "tiles" not in small.report


def test_a_task_declares_its_footprint_and_the_default_is_untileable():
    from deepprior.tasks.registry import Task
    from deepprior.tiling import footprint

    class Coupled(Task):  # not registered: a task whose operator couples the whole image
        name, summary, presets = "coupled", "", {}

        def run(self, *images, **kw):
            raise AssertionError("not run")

    with pytest.raises(DeepPriorError, match="coupled cannot be tiled"):
        footprint(Coupled(), {})
    assert footprint("deblur", {"sigma": 2.0}) == (1, 7)  # ceil(3 sigma) + 1
    with pytest.raises(DeepPriorError, match="needs a mask file"):
        footprint("restore", {"mask": None})


def test_an_unfinished_tile_shows_the_image_the_task_fits():
    """Flash/no-flash fits the no-flash photo (the flash photo is z): an interrupted tiled
    run shows the no-flash photo where a tile is missing, not the flash one."""
    from deepprior.tasks import get_task
    from deepprior.tiling import _fallback

    flash, no_flash = torch.zeros(3, 8, 8), torch.ones(3, 8, 8)
    assert torch.equal(_fallback(get_task("flash"), [flash, no_flash], 1), no_flash)
    assert torch.equal(_fallback(get_task("denoise"), [no_flash], 1), no_flash)
    assert _fallback(get_task("sr"), [no_flash], 4).shape[-2:] == (32, 32)


def test_the_auto_denoiser_tiles_a_large_image_by_itself_and_fits_a_small_one_whole(capsys):
    """The auto preset's tile size (160 px): an image wider than it plus the overlap is
    restored in tiles each stopping on its own (said once, before the plan); a smaller one in
    one fit."""
    from deepprior.tasks import get_preset, get_task
    from deepprior.tiling import solve_maybe_tiled

    assert get_preset("denoise", "auto").tile == 160 and get_preset("denoise", "paper").tile is None
    kw = {"iters": 2, "progress": False, "net_kwargs": {"n_d": [8, 8], "n_s": 2}}
    capsys.readouterr()
    loud = {**kw, "progress": True}  # the notices are on stderr
    wide = solve_maybe_tiled(get_task("denoise"), torch.rand(3, 48, 200), **loud)
    assert wide.report["tiles"]["count"] == 2 and wide.image.shape[-2:] == (48, 200)
    said = capsys.readouterr().err.splitlines()
    notices = [i for i, line in enumerate(said) if "restoring in tiles of at most 160 px" in line]
    plans = [i for i, line in enumerate(said) if line.startswith("tiling: ")]
    assert len(notices) == 1 and plans and notices[0] < plans[0]
    narrow = solve_maybe_tiled(get_task("denoise"), torch.rand(3, 48, 190), **kw)
    assert "tiles" not in narrow.report
    paper = solve_maybe_tiled(get_task("denoise"), torch.rand(3, 48, 200), preset="paper", **kw)
    assert "tiles" not in paper.report
    whole = solve_maybe_tiled(get_task("denoise"), torch.rand(3, 48, 200), tile="off", **kw)
    assert "tiles" not in whole.report


def test_the_python_denoise_tiles_as_the_cli_does():
    """``deepprior.denoise`` follows the preset's tile size like the CLI; ``tile="off"``
    fits the whole image, ``tile=N`` sets the size."""
    import deepprior

    kw = {"iters": 2, "progress": False, "net_kwargs": {"n_d": [8, 8], "n_s": 2}}
    img = torch.rand(3, 48, 200)
    assert deepprior.denoise(img, **kw).report["tiles"]["count"] == 2
    assert "tiles" not in deepprior.denoise(img, tile="off", **kw).report
    assert deepprior.denoise(img, tile=72, overlap=8, **kw).report["tiles"]["count"] == 3


def test_the_python_restore_tiles_with_a_mask_and_fits_a_generated_one_whole(monkeypatch):
    """``deepprior.restore`` goes through the same runner: a preset's tiles cut the image and
    its mask; a mask it generates (``p_known``) cannot be cut, so that image runs whole."""
    from dataclasses import replace

    import deepprior
    from deepprior.ops import bernoulli_mask
    from deepprior.tasks import get_task

    task = get_task("restore")
    assert task.presets["auto"].tile == 160 and task.presets["paper"].tile is None
    monkeypatch.setitem(task.presets, "auto", replace(task.presets["auto"], tile=64))
    kw = {"iters": 2, "progress": False, "net_kwargs": {"n_d": [8, 8], "n_s": 2}}
    img, mask = torch.rand(1, 48, 130), bernoulli_mask((48, 130), 0.5, seed=1)
    tiled = deepprior.restore(img * mask, mask, overlap=8, **kw)
    assert tiled.report["tiles"]["count"] == 3
    known = mask.bool()
    assert torch.allclose(tiled.image[known], img[known], atol=1e-6)  # each tile keeps them
    assert "tiles" not in deepprior.restore(img * mask, mask, tile="off", **kw).report
    simulated = deepprior.restore(img, p_known=0.5, **kw)
    assert "tiles" not in simulated.report and sorted(simulated.extras) == ["mask", "masked"]


def test_the_python_inpaint_takes_tiles_and_refuses_them_for_a_generated_mask():
    """``deepprior.inpaint`` goes through the runner too: ``tile=`` cuts the image and its
    mask, each tile keeping its known pixels; a generated mask cannot be cut."""
    import deepprior
    from deepprior.ops import bernoulli_mask

    kw = {"iters": 2, "progress": False, "net_kwargs": {"n_d": [8, 8], "n_s": 2}}
    img, mask = torch.rand(1, 48, 130), bernoulli_mask((48, 130), 0.5, seed=1)
    tiled = deepprior.inpaint(img * mask, mask, tile=64, overlap=8, **kw)
    assert tiled.report["tiles"]["count"] == 3
    known = mask.bool()
    assert torch.allclose(tiled.image[known], img[known], atol=1e-6)
    assert "tiles" not in deepprior.inpaint(img * mask, mask, **kw).report  # auto: whole
    with pytest.raises(DeepPriorError, match="needs a mask file"):
        deepprior.inpaint(img, mask_kind="bernoulli", tile=64, **kw)


def test_a_run_tiled_by_its_preset_resumes_where_it_stopped(tmp_path):
    """The preset chose the tiles (no --tile): the same call with resume=True continues at
    the unfinished tile instead of refusing the saved tiles as another run's."""
    from deepprior.tiling import solve_maybe_tiled

    class Tiled(Echo):
        presets = {"paper": Preset("paper", "", iters=3, tile=24)}

    img = torch.rand(3, 70, 53, generator=torch.Generator().manual_seed(2))
    state = tmp_path / "out.state.pt"
    first = Tiled(interrupt_at=4)
    res = solve_maybe_tiled(first, img, overlap=6, state_file=state, progress=False)
    assert res.interrupted and res.report["tiles"]["tile"] == 24
    second = Tiled()
    res = solve_maybe_tiled(second, img, overlap=6, state_file=state, resume=True, progress=False)
    assert not res.interrupted and len(second.fits) == res.report["tiles"]["count"] - 3
    assert torch.allclose(res.image, img, atol=1e-6)


TINY = {"net_kwargs": {"n_d": [8, 8], "n_u": [8, 8], "n_s": 2}}


def test_whole_image_callbacks_see_a_tiled_run_as_one_fit(one_thread):
    from deepprior.fit import Callback

    img = torch.rand(3, 64, 56, generator=torch.Generator().manual_seed(3))
    frames: dict[int, torch.Tensor] = {}

    class Watch(Callback):
        def __init__(self) -> None:
            self.tiles: list[int] = []
            self.steps: list[int] = []

        def on_tile(self, tile, plan) -> None:
            self.tiles.append(tile.index)

        def on_start(self, schedule) -> None:
            self.iters = schedule.iters

        def on_step(self, info) -> None:
            self.steps.append(info.step)
            frames[info.step] = info.output[0].clone()

        def on_end(self, result) -> None:
            self.end = result

    watch = Watch()
    res = solve_tiled("denoise", img, tile=32, overlap=8, iters=3, progress=False,
                      callbacks=[watch], **TINY)  # fmt: skip
    n = res.report["tiles"]["count"]
    assert n > 2 and watch.tiles == list(range(n))
    # one step axis over the tiles, each frame the whole image
    assert watch.iters == 3 * n and watch.steps == list(range(1, 3 * n + 1))
    assert {tuple(f.shape) for f in frames.values()} == {(3, 64, 56)}
    # while the first tile runs, the last tile's corner still shows the input
    assert torch.equal(frames[3][:, -6:, -6:], img[:, -6:, -6:])
    assert not torch.equal(frames[3][:, :6, :6], img[:, :6, :6])
    # while the last tile runs, the first tile's corner is already as in the result
    assert torch.allclose(frames[3 * n][:, :6, :6], res.image[:, :6, :6], atol=1e-6)
    assert torch.equal(watch.end.image[0], res.image) and watch.end.iters_run == 3 * n
    # the report's curves join the tiles' on that axis
    assert res.report["history"]["tile_start"] == [3 * k for k in range(n)]


def test_a_whole_image_callback_that_stops_ends_the_tiled_run(one_thread):
    from deepprior.fit import Callback

    img = torch.rand(3, 64, 56, generator=torch.Generator().manual_seed(4))

    class StopAt(Callback):
        def on_step(self, info) -> None:
            if info.step == 4:  # the second tile's first step
                info.stop("enough")

    res = solve_tiled("denoise", img, tile=32, overlap=8, iters=3, progress=False,
                      callbacks=[StopAt()], **TINY)  # fmt: skip
    assert res.interrupted and res.report["stop_reason"] == "enough"
    assert res.report["iters_run"] == 3 + 1  # no third tile was fitted
    assert torch.equal(res.image[:, -6:, -6:], img[:, -6:, -6:])  # the last tile: the input


def test_cli_writes_the_time_lapse_and_curves_of_a_tiled_run(tmp_path, photo):
    from click.testing import CliRunner
    from PIL import Image

    from deepprior.cli import cli
    from deepprior.io import save_image

    src = save_image(photo, tmp_path / "in.png")
    out, report = tmp_path / "out.png", tmp_path / "out.json"
    args = ["denoise", str(src), "-o", str(out), "--tile", "40", "--overlap", "8",
            "--iters", "2", "--net-arg", "n_d=8,8", "--net-arg", "n_s=2",
            "--timelapse", "gif", "--plot", "--report", str(report)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    gif = Image.open(tmp_path / "out.gif")
    assert gif.size == Image.open(src).size  # frames of the whole image, not of one tile
    assert gif.n_frames >= 4  # every tile's fit shows in it
    rep = json.loads(report.read_text())
    assert rep["history"]["tile_start"] == [0, 2, 4, 6]
    assert rep["timelapse_steps"][-1] == 8
    assert Image.open(tmp_path / "out.curves.png").size[0] > 300


def test_a_tiled_step_pastes_the_whole_image_only_when_a_callback_reads_it(monkeypatch, one_thread):
    import deepprior.tiling as tiling
    from deepprior.fit import Callback

    pastes = []
    paste = tiling.Mosaic._paste
    monkeypatch.setattr(
        tiling.Mosaic, "_paste", lambda self, im: pastes.append(1) or paste(self, im)
    )

    class ReadsEvery5(Callback):
        every = 5

        def on_step(self, info) -> None:
            assert info.output.shape[-2:] == (64, 56)

    class ReadsNothing(Callback):
        def on_step(self, info) -> None:
            pass

    img = torch.rand(3, 64, 56, generator=torch.Generator().manual_seed(5))
    res = solve_tiled("denoise", img, tile=32, overlap=8, iters=10, progress=False,
                      callbacks=[ReadsNothing()], **TINY)  # fmt: skip
    assert res.report["iters_run"] == 10 * res.report["tiles"]["count"] and not pastes
    solve_tiled("denoise", img, tile=32, overlap=8, iters=10, progress=False,
                callbacks=[ReadsEvery5()], **TINY)  # fmt: skip
    assert len(pastes) == 2 * res.report["tiles"]["count"]  # steps 5 and 10 of each tile


def test_an_error_in_a_tile_fitted_in_a_worker_process_reaches_the_caller(tmp_path):
    """A tile with no known pixels fails in its worker; the caller gets the library's error
    (with its ``param``), and the tiles finished before it stay saved."""
    img = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, 64, 64)
    mask[..., 40:, 40:] = 0  # the last tile has nothing to fit to
    with pytest.raises(DeepPriorError, match="has no known pixels; use a larger --tile") as e:
        solve_tiled("restore", img * mask, mask, tile=24, overlap=6, tile_jobs=2, iters=2,
                    progress=False, preset="paper", state_dir=tmp_path / "t",
                    net_kwargs={"n_d": [8, 8], "n_s": 2})  # fmt: skip
    assert e.value.param == "tile"
    done = json.loads((tmp_path / "t" / "manifest.json").read_text())["done"]
    assert 0 in done and 15 not in done  # tiles are started in order; the last one failed


class Crash(Echo):
    """Echo in this process (the plan's probes); a worker process that runs it dies."""

    def __init__(self) -> None:
        super().__init__()
        self.parent = os.getpid()

    def run(self, image: torch.Tensor, *mask: torch.Tensor, **kw: Any) -> Result:
        if os.getpid() != self.parent:
            os._exit(3)
        return super().run(image, *mask, **kw)


def test_a_worker_process_that_dies_is_an_error_not_an_interruption():
    img = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(DeepPriorError, match="ended abruptly .* tile_jobs=1") as e:
        solve_tiled(Crash(), img, tile=24, overlap=6, tile_jobs=2, progress=False)
    assert e.value.param == "tile_jobs"


class WarmEcho(Echo):
    """Echo whose fits end with the weights ``{"n": k}`` (k: the fit's number in its run)."""

    def run(self, image: torch.Tensor, *mask: torch.Tensor, **kw: Any) -> Result:
        res = super().run(image, *mask, **kw)
        if kw.get("state_file") is not None:
            res.weights = {"n": torch.tensor(len(self.fits))}
        return res


def _tile_of(fit_kw: dict[str, Any]) -> int:
    return int(fit_kw["state_file"].name.split("_")[1].split(".")[0])


def test_warm_tiles_start_from_their_left_neighbours_weights_also_after_a_resume(tmp_path):
    img = torch.rand(3, 70, 53, generator=torch.Generator().manual_seed(2))
    state, kw = tmp_path / "out.tiles", {"tile": 24, "overlap": 6, "progress": False}
    sources = warm_sources(plan_tiles((70, 53), 24, 6))
    assert sources == {1: 0, 2: 1, 4: 3, 5: 4, 7: 6, 8: 7, 10: 9, 11: 10}  # 4 rows of 3
    first = WarmEcho(interrupt_at=3)  # tiles 0 and 1 finish, tile 2 is interrupted
    assert solve_tiled(first, img, state_dir=state, tile_warm=True, **kw).interrupted
    with pytest.raises(DeepPriorError, match="from another run"):  # a cold run's tiles differ
        solve_tiled(WarmEcho(), img, state_dir=state, resume=True, tile_warm=False, **kw)
    second = WarmEcho()
    res = solve_tiled(second, img, state_dir=state, resume=True, tile_warm=True, **kw)
    assert not res.interrupted and res.report["tiles"]["warm"]
    # the end weights of each tile: fits 1, 2 of the first run, then 1, 2 ... of the second
    end = {0: 1, 1: 2, **{k: k - 1 for k in range(2, 12)}}
    for fit in first.fits[:2] + second.fits:
        t = _tile_of(fit)
        if t in sources:  # tile 2 starts from tile 1's weights, saved by the first run
            assert int(fit["init_weights"]["n"]) == end[sources[t]], t
        else:
            assert "init_weights" not in fit, t
    assert [f.get("warm_from") for f in res.report["tiles"]["fits"]] == [
        sources.get(k) for k in range(12)]  # fmt: skip


def test_warm_tiles_start_from_fitted_weights_whatever_the_worker_count(photo, tiny, one_thread):
    clean = photo[:, :40]  # 40x64: two 40x40 tiles in a row
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    kw = {**tiny, "preset": "fast", "iters": 60, "tile": 40, "overlap": 12, "progress": False}
    cold = solve_tiled("denoise", noisy, tile_warm=False, tile_jobs=1, **kw)
    warm = solve_tiled("denoise", noisy, tile_warm=True, tile_jobs=1, **kw)
    # two workers: tile 2 waits for tile 1's weights, so each tile's fit is the same
    warm2 = solve_tiled("denoise", noisy, tile_warm=True, tile_jobs=2, **kw)
    assert torch.allclose(warm.image, warm2.image, atol=1e-5)
    assert [f["warm_from"] for f in warm2.report["tiles"]["fits"]] == [None, 0]

    # tile 1 started from other weights than the cold run's; tile 0 is the same fit
    assert torch.equal(warm.image[..., :20], cold.image[..., :20])
    assert not torch.allclose(warm.image[..., 44:], cold.image[..., 44:], atol=1e-3)


class HoldoutEcho(Echo):
    """Echo whose preset stops by held-out pixels."""

    presets = {"paper": Preset("paper", "", iters=3, stop="holdout", stop_kwargs={"patience": 5})}


def test_warm_tiles_hold_out_pixels_by_their_place_in_the_image(tmp_path):
    img = torch.rand(3, 40, 64, generator=torch.Generator().manual_seed(0))
    for warm in (False, True):
        task = HoldoutEcho()
        solve_tiled(task, img, tile=24, overlap=6, state_dir=tmp_path / str(warm),
                    tile_warm=warm, progress=False)  # fmt: skip
        tiles = plan_tiles((40, 64), 24, 6)
        assert len(task.fits) == len(tiles) > 2
        if not warm:  # each tile draws its own held-out pixels
            assert all("stop_kwargs" not in kw for kw in task.fits)
            continue
        # the preset's settings, and each tile's place: overlapping tiles hold out the same
        # pixels, so a tile's source net was never fitted to the pixels it is judged on
        origins = sorted(kw["stop_kwargs"]["origin"] for kw in task.fits)
        assert origins == sorted((t.fit[0], t.fit[2]) for t in tiles)
        assert all(kw["stop_kwargs"]["patience"] == 5 for kw in task.fits)


class StopInProbe(Echo):
    """Echo whose plan probe (a 2-step fit) is stopped by Ctrl-C, which the fit defers to its
    step boundary and reports as ``interrupted``."""

    def run(self, image: torch.Tensor, *mask: torch.Tensor, **kw: Any) -> Result:
        res = super().run(image, *mask, **kw)
        res.interrupted = kw.get("iters") == 2 and kw.get("state_file") is None
        return res


def test_a_ctrl_c_during_the_plans_probe_stops_the_tiled_run(tmp_path):
    img = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    task = StopInProbe()
    with pytest.raises(KeyboardInterrupt):
        solve_tiled(task, img, tile=24, overlap=6, state_dir=tmp_path / "t", progress=False)
    assert task.fits == []  # no tile was started after the stop
