"""The Gradio page of ``deepprior ui``: the tasks and presets come from the task registry, so
a new task shows here with its own inputs and options without a change to this module.

Each browser session holds its own :class:`~deepprior.ui.worker.Run` in a ``gr.State``; the
fit runs in the run's thread and the ``run`` event only polls it every ``refresh`` seconds,
so a fit never blocks the page or another user's run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..errors import DeepPriorError
from ..tasks.registry import Option, Task, get_task, list_tasks
from .worker import Run, RunStatus

__all__ = ["build_app", "curve_image", "painted_mask"]

#: The brush colour of the mask painter (the mask is read from the layer, not the colour).
BRUSH = "#ff00ff"


def _gradio() -> Any:
    """Gradio, or a one-line error saying how to install it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio as gr
    except ImportError:
        raise DeepPriorError(
            "the web app needs Gradio; install it with: pip install 'deepprior[ui]'"
        ) from None
    return gr


def painted_mask(editor: dict[str, Any] | None) -> torch.Tensor | None:
    """The inpainting mask (1, H, W), 1 = known, from an ImageEditor value: painted = fill.

    Args:
        editor: ``{"background": ..., "layers": [...], "composite": ...}`` with numpy images.

    Returns:
        The mask, or ``None`` when nothing was painted.

    Example:
        >>> bg = np.zeros((4, 5, 3), np.uint8)
        >>> layer = np.zeros((4, 5, 4), np.uint8); layer[1, 2, 3] = 255
        >>> m = painted_mask({"background": bg, "layers": [layer], "composite": bg})
        >>> m.shape, int(m.sum())
        (torch.Size([1, 4, 5]), 19)
    """
    if not editor or editor.get("background") is None:
        return None
    painted = np.zeros(np.asarray(editor["background"]).shape[:2], bool)
    for layer in editor.get("layers") or []:
        layer = np.asarray(layer)
        if layer.ndim == 3 and layer.shape[-1] == 4:
            painted |= layer[..., 3] > 0
        elif editor.get("composite") is not None:  # no alpha: where the composite changed
            comp = np.asarray(editor["composite"])[..., :3].astype(int)
            bg = np.asarray(editor["background"])[..., :3].astype(int)
            painted |= np.abs(comp - bg).max(-1) > 0
    if not painted.any():
        return None
    return torch.from_numpy(~painted).float().unsqueeze(0)


def curve_image(status: RunStatus, width: int = 640, height: int = 260) -> np.ndarray | None:
    """The loss curve (log scale) and, when measured, the PSNR, as an RGB image."""
    if not status.loss:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    steps, loss = zip(*status.loss, strict=True)
    ax.semilogy(steps, loss, color="tab:blue", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    ax.set_xlim(0, max(status.iters, steps[-1]))
    if status.psnr:
        ax2 = ax.twinx()
        ax2.plot(*zip(*status.psnr, strict=True), color="tab:red", lw=1)
        ax2.set_ylabel("PSNR (dB)", color="tab:red")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _progress_html(status: RunStatus) -> str:
    """A progress bar with the step, the time so far and the time left."""
    value = status.step / status.iters if status.iters else 0.0
    label = {"stopped": "stopped: ", "error": "failed: ", "done": "done: "}.get(status.state, "")
    return (
        f'<div id="dp-progress"><progress value="{value:.4f}" max="1" style="width:100%">'
        f"</progress><div>{label}{status.progress_line()}</div></div>"
    )


def _view(status: RunStatus) -> tuple[Any, ...]:
    """The page's outputs for one status: progress, preview, curve, stopping line, files."""
    notes = [status.stopping, status.message if status.state != "error" else ""]
    return (
        _progress_html(status), _enlarged(status.preview), curve_image(status),
        "\n\n".join(n for n in notes if n), status.files or None,
    )  # fmt: skip


def _enlarged(image: np.ndarray | None, side: int = 256) -> np.ndarray | None:
    """A small preview repeated pixel by pixel until its longest side reaches ``side``."""
    if image is None or max(image.shape[:2]) >= side:
        return image
    k = -(-side // max(image.shape[:2]))
    return image.repeat(k, axis=0).repeat(k, axis=1)


def _has_mask(task: Task) -> bool:
    return any(o.kind == "mask" for o in task.inputs)


def _value_component(gr: Any, opt: Option) -> Any:
    """The control of one task option: a dropdown for choices, a checkbox for a flag, a
    number, or a text box."""
    label, info = opt.param.replace("_", " "), opt.help or None
    if opt.type is bool:
        return gr.Checkbox(bool(opt.default), label=label, info=info)
    if opt.choices:
        return gr.Dropdown(list(opt.choices), value=opt.default, label=label, info=info)
    if opt.type in (int, float):
        precision = 0 if opt.type is int else None
        return gr.Number(opt.default, label=label, info=info, precision=precision)
    return gr.Textbox(opt.default, label=label, info=info)


def _preset_markdown(task: Task, name: str | None) -> str:
    preset = task.presets.get(name or task.default_preset)
    return f"*{preset.description}*" if preset else ""


class _Page:
    """The page's components and handlers (one instance per app, shared by all sessions;
    everything per session lives in the ``run`` state)."""

    def __init__(self, gr: Any, device: str = "auto", refresh: float = 2.0) -> None:
        self.gr, self.device, self.refresh = gr, device, refresh
        self.tasks = {name: get_task(name) for name in list_tasks()}
        self.default = "inpaint" if "inpaint" in self.tasks else next(iter(self.tasks))
        #: Image inputs beyond a task's first (e.g. flash's ``no_flash``), one control each.
        self.extra_inputs = {
            o.param: o for t in self.tasks.values() for o in t.inputs[1:] if o.kind != "mask"
        }
        self.extra_params = list(self.extra_inputs)
        #: Each session's latest run, to stop it when its page is closed.
        self.sessions: dict[str, Run] = {}
        #: Every task's own options, one control each (shown only for their task).
        self.option_keys = [(t.name, o) for t in self.tasks.values() for o in t.options]

    def _input_label(self, task: Task, i: int) -> str:
        opt = task.inputs[i] if i < len(task.inputs) else None
        return (opt.help or opt.param.replace("_", " ")) if opt and not opt.positional else "Image"

    def build_inputs(self) -> None:
        """The left column: task, preset, images, mask, then steps, options and reference."""
        gr, task = self.gr, self.tasks[self.default]
        self.task = gr.Dropdown(list(self.tasks), value=self.default, label="Task")
        self.preset = gr.Dropdown(list(task.presets), value=task.default_preset, label="Preset")
        self.preset_info = gr.Markdown(_preset_markdown(task, None))
        self.image = gr.Image(label="Image", type="filepath", format="png", image_mode=None,
                              visible=not _has_mask(task), elem_id="dp-image")  # fmt: skip
        self.editor = gr.ImageEditor(
            label="Image: paint the area to fill", type="numpy", format="png",
            image_mode="RGBA", visible=_has_mask(task), layers=False, transforms=(),
            brush=gr.Brush(default_size=8, colors=[BRUSH], default_color=BRUSH, color_mode="fixed"),
            eraser=gr.Eraser(), elem_id="dp-editor",
        )  # fmt: skip
        self.mask_file = gr.Image(
            label="…or a mask file (white = known, black = fill)", type="filepath",
            format="png", image_mode=None, visible=_has_mask(task),
        )  # fmt: skip
        self.extras = [
            gr.Image(label=o.help or p, type="filepath", format="png", image_mode=None,
                     visible=p in [o.param for o in task.inputs])
            for p, o in self.extra_inputs.items()
        ]  # fmt: skip
        self.groups, self.options = {}, []
        with gr.Accordion("Options", open=True):
            self.iters = gr.Number(None, label="Steps (0 or blank: the preset's)", precision=0)
            for name, t in self.tasks.items():
                with gr.Group(visible=name == self.default) as self.groups[name]:
                    self.options += [_value_component(gr, o) for o in t.options]
            self.gt = gr.Image(label="Reference: the clean image (optional, for PSNR)",
                               type="filepath", format="png", image_mode=None)  # fmt: skip

    def build_outputs(self) -> None:
        """The right column: run and stop, progress, preview, curves, stopping rule, downloads."""
        gr = self.gr
        with gr.Row():
            self.run_button = gr.Button("Run", variant="primary", elem_id="dp-run")
            self.stop_button = gr.Button("Stop and keep the result", elem_id="dp-stop")
        self.progress = gr.HTML("Upload an image, pick a task and press Run.", label="Progress")
        self.preview = gr.Image(label="Preview", format="png", interactive=False, height=360,
                                elem_id="dp-preview")  # fmt: skip
        self.curve = gr.Image(label="Loss (and PSNR)", format="png", interactive=False)
        self.stopping = gr.Markdown(label="Stopping rule", elem_id="dp-stopping")
        self.files = gr.File(
            label="Downloads: result, report, time-lapse",
            file_count="multiple",
            interactive=False,
            elem_id="dp-files",
        )

    def on_task(self, name: str, image: Any, editor: Any) -> tuple[Any, ...]:
        """Show the chosen task's inputs, presets and options; carry the image over."""
        gr, task = self.gr, self.tasks[name]
        mask = _has_mask(task)
        background = (editor or {}).get("background")
        # The image carries over to the other control when that one is empty.
        to_image = {"value": background} if image is None and background is not None else {}
        to_editor = {"value": image} if background is None and image is not None else {}
        params = [o.param for o in task.inputs]
        return (
            gr.update(choices=list(task.presets), value=task.default_preset),
            _preset_markdown(task, None),
            gr.update(visible=not mask, label=self._input_label(task, 0), **to_image),
            gr.update(visible=mask, **to_editor),
            gr.update(visible=mask),
            *[gr.update(visible=p in params) for p in self.extra_params],
            *[gr.update(visible=n == name) for n in self.groups],
        )  # fmt: skip

    def read_images(
        self, task: Task, image: str | None, editor: Any, mask_file: str | None,
        extras: list[str | None],
    ) -> list[torch.Tensor | None]:  # fmt: skip
        """The task's inputs as tensors, in the order of ``task.inputs``."""
        from ..io import load_image, load_mask
        from ..tasks.common import as_image

        if _has_mask(task):
            background = (editor or {}).get("background")
            first = None if background is None else as_image(np.asarray(background), "image")
        else:
            first = None if image is None else load_image(image)
        if first is None:
            raise DeepPriorError(f"upload the {self._input_label(task, 0).lower()} first")
        images: list[torch.Tensor | None] = [first]
        paths = dict(zip(self.extra_params, extras, strict=True))
        for opt in task.inputs[1:]:
            if opt.kind == "mask":
                size = tuple(first.shape[-2:])
                images.append(load_mask(mask_file, size) if mask_file else painted_mask(editor))
            elif paths.get(opt.param):
                images.append(load_image(paths[opt.param]))
            elif opt.required:
                raise DeepPriorError(f"upload {opt.help.rstrip('.').lower() or opt.param} too")
            else:
                images.append(None)
        return images

    def start(self, task_name: str, preset: str, inputs: list[Any], gt: str | None,
              iters: float | None, values: list[Any]) -> Run:  # fmt: skip
        """Read the inputs and start a run of ``task_name`` (raises DeepPriorError)."""
        from ..io import load_image

        task = self.tasks[task_name]
        images = self.read_images(task, *inputs[:3], inputs[3:])
        options = {
            o.param: o.type(v) if o.type in (int, float) else v
            for (name, o), v in zip(self.option_keys, values, strict=True)
            if name == task_name and v not in (None, "")
        }  # fmt: skip
        return Run(
            task_name, images, options, preset=preset or None,
            gt=load_image(gt) if gt else None, iters=int(iters) if iters else None,
            device=self.device,
        ).start()  # fmt: skip

    def run(self, *values: Any) -> Iterator[tuple[Any, ...]]:
        """The ``run`` event: start this session's fit, then report on it every ``refresh``
        seconds until it ends. The inputs are those of :meth:`event_inputs`."""
        from ..cli.common import error_message

        n = 3 + len(self.extra_params)
        task, preset, inputs = values[0], values[1], list(values[2 : 2 + n])
        gt, iters, *options, previous, request = values[2 + n :]
        if previous is not None:
            previous.close()  # one run per session: a new run ends the last one
        try:
            run = self.start(task, preset, inputs, gt, iters, options)
        except DeepPriorError as e:
            raise self.gr.Error(error_message(e)) from None
        session = getattr(request, "session_hash", None)
        if session is not None:
            self.sessions[session] = run
        while True:
            status = run.wait(self.refresh)
            yield (run, *_view(status))
            if status.finished:
                break
        if status.state == "error":
            raise self.gr.Error(status.message)

    def run_endpoint(self) -> Any:
        """:meth:`run` under a signature that names its inputs, for the ``/run`` API."""
        import inspect

        names = ["task", "preset", "image", "editor", "mask", *self.extra_params, "reference",
                 "steps", *(f"{t}_{o.param}" for t, o in self.option_keys), "run"]  # fmt: skip

        def run(*values: Any) -> Iterator[tuple[Any, ...]]:
            yield from self.run(*values)

        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter(n, kind) for n in names]
        params.append(inspect.Parameter("request", kind, annotation=self.gr.Request))
        run.__signature__ = inspect.Signature(params)
        run.__annotations__ = {"request": self.gr.Request}  # how Gradio finds it
        return run

    def close_session(self, request: Any) -> None:
        """The page was closed: stop its fit and delete its files at once (Gradio keeps a
        closed session's state, and so the run, for an hour)."""
        run = self.sessions.pop(getattr(request, "session_hash", None), None)
        if run is not None:
            run.close()

    def event_inputs(self) -> list[Any]:
        return [self.task, self.preset, self.image, self.editor, self.mask_file, *self.extras,
                self.gt, self.iters, *self.options, self.state]  # fmt: skip

    def event_outputs(self) -> list[Any]:
        return [self.state, self.progress, self.preview, self.curve, self.stopping, self.files]


def _stop(run: Run | None) -> None:
    """The ``stop`` event: end this session's fit; its ``run`` event reports the result."""
    if run is not None:
        run.stop()


def _close(run: Run | None) -> None:
    """A session ended: stop its fit and delete its files."""
    if run is not None:
        run.close()


def build_app(device: str = "auto", refresh: float = 2.0) -> Any:
    """Build the Gradio app of ``deepprior ui``.

    Args:
        device: where the fits run (``auto``, ``cpu``, ``cuda``...).
        refresh: seconds between two updates of a running fit's page.

    Returns:
        A ``gradio.Blocks``; ``.launch()`` serves it. Its ``/run`` API endpoint takes the
        task, preset, images, options, reference and steps, and returns the result files.

    Example:
        >>> demo = build_app()  # doctest: +SKIP
        >>> demo.launch(server_name="127.0.0.1")  # doctest: +SKIP
    """
    gr = _gradio()
    page = _Page(gr, device=device, refresh=refresh)
    with gr.Blocks(title="deepprior", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown("## deepprior: restore one image with the Deep Image Prior")
        page.state = gr.State(None, delete_callback=_close)
        with gr.Row():
            with gr.Column():
                page.build_inputs()
            with gr.Column():
                page.build_outputs()
        page.task.change(
            page.on_task, [page.task, page.image, page.editor],
            [page.preset, page.preset_info, page.image, page.editor, page.mask_file,
             *page.extras, *page.groups.values()],
            api_visibility="private",
        )  # fmt: skip
        page.preset.change(
            lambda t, p: _preset_markdown(page.tasks[t], p), [page.task, page.preset],
            page.preset_info, api_visibility="private",
        )  # fmt: skip
        page.run_button.click(
            page.run_endpoint(), page.event_inputs(), page.event_outputs(), api_name="run",
            concurrency_limit=None, show_progress="hidden",
        )  # fmt: skip
        page.stop_button.click(_stop, page.state, None, api_name="stop", concurrency_limit=None)

        def unload(request: Any) -> None:
            page.close_session(request)

        unload.__annotations__ = {"request": gr.Request}  # a real class, not a string
        app.unload(unload)
    return app
