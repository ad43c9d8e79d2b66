"""The web app (``deepprior ui``): its worker, its API through gradio_client, and a real
browser (Debian's Chromium driven by Playwright) painting a mask and downloading the result."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from deepprior.fit import StepInfo
from deepprior.metrics import psnr
from deepprior.ui.worker import LiveView, Run

TINY_NET = {"net": "skip", "net_kwargs": {"n_d": [8, 8], "n_u": [8, 8], "n_s": 2}}


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    """A 32x32 colour crop of the astronaut, uint8 (H, W, 3)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[40:168:4, 180:308:4])


@pytest.fixture(scope="module")
def hole(clean: np.ndarray) -> np.ndarray:
    """A mask of the clean crop: 255 = known, 0 = a 10x12 hole to fill."""
    mask = np.full(clean.shape[:2], 255, np.uint8)
    mask[10:20, 8:20] = 0
    return mask


def test_standing_of_the_stopping_rule() -> None:
    view = LiveView(rule=("holdout", {"patience": 50, "min_steps": 20}))
    state = {"callbacks": {"HoldoutStop": {"best_step": 30, "steps": [10, 20, 30, 40]}}}
    info = StepInfo(40, 1000, torch.tensor(0.1), torch.zeros(1, 3, 8, 8), None, 0, 1.0,
                    state=lambda: state)  # fmt: skip
    assert "best at step 30; it stops at step 80 unless it improves" in view._standing(info)


def test_two_runs_at_once_each_get_their_own_result(one_thread: None) -> None:
    # Two users: two runs in flight together, each with its own input, folder and result.
    small, wide = torch.rand(3, 32, 32), torch.rand(3, 32, 48)
    runs = [Run("denoise", [x], preset="fast", iters=5, **TINY_NET).start() for x in (small, wide)]
    done = [r.wait(120) for r in runs]
    assert [d.state for d in done] == ["done", "done"]
    assert runs[0].folder != runs[1].folder
    sizes = [Image.open(d.files[0]).size for d in done]
    assert sizes == [(32, 32), (48, 32)]


def test_stop_keeps_the_result_so_far(one_thread: None) -> None:
    image = torch.rand(3, 32, 32)
    run = Run("denoise", [image], preset="fast", iters=100000, **TINY_NET).start()
    deadline = time.time() + 60
    while run.status().step < 5 and time.time() < deadline:
        time.sleep(0.05)
    run.stop()
    status = run.wait(60)
    assert status.state == "stopped"
    assert 5 <= status.step < 100000
    result = np.asarray(Image.open(status.files[0]))
    assert result.shape == (32, 32, 3)
    report = json.loads(open(status.files[1]).read())
    assert report["stop_reason"] == "stopped by the user"
    assert report["iters_run"] == status.step
    gif = Image.open(status.files[2])
    assert gif.n_frames >= 5  # a frame at each early step, then the result


def test_a_large_image_is_restored_in_tiles_as_on_the_command_line(one_thread: None) -> None:
    image = torch.rand(3, 64, 56, generator=torch.Generator().manual_seed(0))
    run = Run("denoise", [image], preset="fast", iters=3, tile=32, overlap=8, **TINY_NET)
    status = run.start().wait(120)
    assert status.state == "done", status.message
    report = json.loads(open(status.files[1]).read())
    n = report["tiles"]["count"]
    assert n > 2 and status.tile == (n, n) and f"({n} tiles)" in status.message
    assert report["iters_run"] == 3 * n and status.step == 3 * n  # one step axis
    assert status.preview.shape == (64, 56, 3)  # the whole image, not a tile
    assert Image.open(status.files[2]).size == (56, 64)
    running = status.__class__(state="running", step=5, iters=12, elapsed=1.0, tile=(2, 4))
    assert running.progress_line().startswith("tile 2/4, step 5/12 (41 %)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_without_gradio_says_how_to_install_it(monkeypatch) -> None:
    from click.testing import CliRunner

    from deepprior.cli import cli

    monkeypatch.setitem(sys.modules, "gradio", None)  # as if not installed
    res = CliRunner().invoke(cli, ["ui", "--port", "7999"])
    assert res.exit_code == 2
    assert "pip install 'deepprior[ui]'" in res.output


@pytest.fixture(scope="module")
def app_url():
    """The app served in this process on a free local port."""
    pytest.importorskip("gradio")
    pytest.importorskip("gradio_client")
    from deepprior.ui.app import build_app

    port = _free_port()
    app = build_app(device="cpu", refresh=0.5)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
               ssr_mode=False, quiet=True)  # fmt: skip
    yield f"http://127.0.0.1:{port}/"
    app.close()


def _inpaint_args(image: str, mask: str, steps: int) -> dict:
    from gradio_client import handle_file

    editor = {"background": handle_file(image), "layers": [], "composite": None, "id": None}
    return {"task": "inpaint", "preset": "fast", "image": None, "editor": editor,
            "mask": handle_file(mask), "no_flash": None, "reference": None, "steps": steps,
            "deblur_sigma": None, "inpaint_mask_kind": None, "restore_p_known": None}  # fmt: skip


def test_api_inpaints_end_to_end(app_url, clean, hole, tmp_path, one_thread) -> None:
    from gradio_client import Client

    Image.fromarray(clean).save(tmp_path / "in.png")
    Image.fromarray(hole).save(tmp_path / "mask.png")
    client = Client(app_url, verbose=False)
    args = _inpaint_args(str(tmp_path / "in.png"), str(tmp_path / "mask.png"), steps=20)
    progress, preview, curve, stopping, files = client.predict(**args, api_name="/run")
    assert "done" in progress and "step 20/20" in progress
    paths = {str(f).rsplit(".", 1)[-1]: str(f) for f in files}
    result = np.asarray(Image.open(paths["png"]).convert("RGB"))
    assert result.shape == clean.shape
    truth = torch.from_numpy(clean).permute(2, 0, 1).float() / 255
    known = torch.from_numpy(hole > 0).float()
    ours = torch.from_numpy(result).permute(2, 0, 1).float() / 255
    # the hole is filled (20 steps; +2.6 dB in bf16, which `auto` picks on a CPU with bf16 units)
    assert psnr(ours, truth) > psnr(truth * known, truth) + 2
    report = json.loads(open(paths["json"]).read())
    assert report["task"] == "inpaint" and report["iters_run"] == 20
    assert Image.open(paths["gif"]).n_frames > 10


def test_api_reports_an_image_too_large(app_url, clean, hole, tmp_path, monkeypatch) -> None:
    from gradio_client import Client

    import deepprior.plan

    monkeypatch.setattr(deepprior.plan, "available_memory", lambda device: 1024)
    Image.fromarray(clean).save(tmp_path / "in.png")
    Image.fromarray(hole).save(tmp_path / "mask.png")
    client = Client(app_url, verbose=False)
    args = _inpaint_args(str(tmp_path / "in.png"), str(tmp_path / "mask.png"), steps=5)
    with pytest.raises(Exception, match="GiB but only 0.0 GiB is available"):
        client.predict(**args, api_name="/run")


def _chromium() -> str:
    """Debian's Chromium (never a downloaded build), or skip."""
    pytest.importorskip("playwright.sync_api")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return path


def _only_own_options(page) -> None:
    """Switching task shows that task's options only (SR's factor), then back to inpainting."""
    factor = page.get_by_role("spinbutton", name="factor")
    assert factor.count() == 0 or not factor.is_visible()
    for task in ("sr", "inpaint"):
        page.get_by_role("combobox", name="Task").click()
        page.get_by_role("option", name=task, exact=True).click()
        (factor.wait_for if task == "sr" else lambda: None)()
    factor.wait_for(state="hidden")
    page.locator("#dp-editor").wait_for()


def _paint_stroke(page, editor) -> None:
    """Pick the brush and drag a short stroke across the middle of the image."""
    editor.get_by_role("button", name="Brush", exact=True).click()
    box = editor.locator("canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 20, y)
    page.mouse.down()
    for i in range(9):
        page.mouse.move(x - 20 + 5 * i, y + 2 * i)
    page.mouse.up()


def _watch(page, seconds: float = 120) -> list[str]:
    """The preview's successive images until the progress says done."""
    seen: list[str] = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        img = page.locator("#dp-preview img")
        src = img.first.get_attribute("src") if img.count() else None
        if src and (not seen or seen[-1] != src):
            seen.append(src)
        progress = page.locator("#dp-progress")
        text = progress.inner_text() if progress.count() else ""
        if "done" in text:
            return seen
        assert "failed" not in text, text
        page.wait_for_timeout(200)
    raise AssertionError(f"the fit did not finish in {seconds} s: {text}")


@pytest.fixture
def served() -> Iterator[tuple[str, str]]:
    """``deepprior ui`` in its own process (as a user runs it), on a free local port."""
    chromium = _chromium()
    pytest.importorskip("gradio")
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "deepprior", "ui", "--port", str(port), "--device", "cpu",
           "--refresh", "0.5"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"deepprior ui did not start: {server.stderr.read().decode()[-2000:]}")
        yield chromium, url
    finally:
        server.terminate()
        server.wait(30)


def test_browser_paints_a_mask_and_inpaints(served, clean, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    chromium, app_url = served
    Image.fromarray(clean).save(tmp_path / "in.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(app_url)
        _only_own_options(page)
        editor = page.locator("#dp-editor")
        editor.locator("input[type=file]").set_input_files(str(tmp_path / "in.png"))
        editor.get_by_role("button", name="Brush", exact=True).wait_for()
        _paint_stroke(page, editor)
        page.get_by_role("combobox", name="Preset").click()
        page.get_by_role("option", name="fast").click()
        # a fit of several seconds (about 6 s here), so that the page shows several previews
        # (the fit makes one a second at most): a 20-step fit (about 1 s) once showed only its
        # final image on a loaded machine
        page.get_by_role("spinbutton", name="Steps (0 or blank: the preset's)").fill("100")
        page.locator("#dp-run").click()
        seen = _watch(page)
        assert len(seen) >= 2  # the preview changed while the fit ran
        assert "step 100/100" in page.locator("#dp-progress").inner_text()
        with page.expect_download() as download:
            page.locator('#dp-files a[download$=".png"]').click()
        path = tmp_path / "result.png"
        download.value.save_as(path)
        browser.close()
    assert Image.open(path).size == (clean.shape[1], clean.shape[0])
