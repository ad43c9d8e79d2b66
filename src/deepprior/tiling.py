"""Restore an image of any size in bounded memory: overlapping tiles, each its own fit.

The Deep Image Prior fits one network to one image, so a large photo can be cut into
overlapping tiles that are restored independently and blended back. The blend weights are
a raised-cosine (Hann) partition of unity: across each overlap one tile's weight falls as
``cos²`` while its neighbour's rises as ``sin²``, so the weights sum to exactly 1 at every
pixel and no seam shows.

Operators with a footprint see the pixels they need: super-resolution tiles are planned in
the low-resolution image and every fit gets ``context`` extra input pixels around its tile
(the Lanczos2 kernel's support), cropped away before the blend; a mask is cut alongside its
image. :func:`solve_tiled` is a plain function call (the CLI's ``--tile`` uses it), and an
interrupted run resumes at the tile it stopped in (see ``state_dir``).

Example:
    >>> import torch
    >>> tiles = plan_tiles((100, 70), tile=48, overlap=16)
    >>> len(tiles), tiles[0].core
    (6, (0, 44, 0, 43))
    >>> total = torch.zeros(100, 70)
    >>> for t in tiles:
    ...     total[t.out_slices] += t.weight()
    >>> bool(torch.allclose(total, torch.ones(100, 70)))
    True
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DeepPriorError, ImageTooSmall
from .finite import dumps_strict
from .fit import Callback, FitResult, Schedule, StepInfo, merge_hosts
from .tasks.base import Result
from .tasks.registry import Task, get_task, list_tasks

__all__ = [
    "AUTO_MAX_TILE", "DEFAULT_OVERLAP", "Mosaic", "Tile", "TilePlan", "footprint", "plan_tiles",
    "choose_tile", "solve_tiled", "solve_maybe_tiled",
]  # fmt: skip

#: ``auto`` never makes tiles larger than this many output pixels per side: larger fits
#: gain little and make each resumable unit long.
AUTO_MAX_TILE = 512
#: The default overlap between neighbouring tiles, in output pixels.
DEFAULT_OVERLAP = 32
#: Tasks whose operator is pixel-wise (identity or a mask): a tile needs no context.
#: Settings that are not the fit's own and stay out of a tile's run and its fingerprint.
_RUN_ONLY = ("progress", "callbacks", "state_file", "state_every", "state_seconds", "resume",
             "snapshot_dir", "snapshot_every", "gt")  # fmt: skip


def footprint(task: str | Task, settings: dict[str, Any]) -> tuple[int, int]:
    """``(scale, context)`` of a task: output pixels per input pixel, and the input pixels a
    tile's fit needs beyond the tile so that its operator is exact at the tile's border (the
    task declares it: :meth:`~deepprior.tasks.registry.Task.tile_footprint`).

    Raises :class:`DeepPriorError` for a task whose operator cannot be tiled.

    Example:
        >>> footprint("sr", {"factor": 4}), footprint("denoise", {})
        ((4, 2), (1, 0))
    """
    t = get_task(task) if isinstance(task, str) else task
    found = t.tile_footprint(**settings)
    if found is None:
        tiled = [n for n in list_tasks() if get_task(n).pointwise
                 or type(get_task(n)).tile_footprint is not Task.tile_footprint]  # fmt: skip
        raise DeepPriorError(
            f"{t.name} cannot be tiled (its operator couples the whole image); run it without "
            f"--tile. Tiled tasks: {', '.join(tiled)}", param="tile",
        )  # fmt: skip
    return found


@dataclass(frozen=True)
class Tile:
    """One tile: where it lies in the input, what its fit sees, and its blend weights.

    Attributes:
        index: position in the plan (row-major).
        core: ``(top, bottom, left, right)`` of the tile in input pixels.
        fit: the same with the context around it (clipped to the image): what is fitted.
        scale: output pixels per input pixel.
        ramps: ``(top, bottom, left, right)`` blend ramps, each ``(start, width)`` in output
            pixels or None at the image's border.
    """

    index: int
    core: tuple[int, int, int, int]
    fit: tuple[int, int, int, int]
    scale: int
    ramps: tuple[tuple[int, int] | None, ...]

    @property
    def out_slices(self) -> tuple[slice, slice]:
        """The tile's rows and columns in the output image."""
        t, b, left, r = (v * self.scale for v in self.core)
        return slice(t, b), slice(left, r)

    @property
    def crop_slices(self) -> tuple[slice, slice]:
        """The tile's rows and columns within its fit's output (the context cropped away)."""
        s = self.scale
        dt, dl = (self.core[0] - self.fit[0]) * s, (self.core[2] - self.fit[2]) * s
        return (slice(dt, dt + (self.core[1] - self.core[0]) * s),
                slice(dl, dl + (self.core[3] - self.core[2]) * s))  # fmt: skip

    def weight(self) -> torch.Tensor:
        """The (H, W) blend weights over the tile's output pixels (a partition of unity)."""
        rows, cols = self.out_slices
        wy = _weight_1d(rows.start, rows.stop, self.ramps[0], self.ramps[1])
        wx = _weight_1d(cols.start, cols.stop, self.ramps[2], self.ramps[3])
        return wy[:, None] * wx[None, :]


def _weight_1d(
    start: int, stop: int, rise: tuple[int, int] | None, fall: tuple[int, int] | None
) -> torch.Tensor:
    """1 inside, ``sin²`` up over ``rise``, ``cos²`` down over ``fall`` (global coordinates)."""
    x = torch.arange(start, stop, dtype=torch.float64) + 0.5
    w = torch.ones_like(x)
    if rise is not None:
        r0, width = rise
        w = w * torch.sin(0.5 * math.pi * ((x - r0) / width).clamp(0, 1)) ** 2
    if fall is not None:
        f0, width = fall
        w = w * (1 - torch.sin(0.5 * math.pi * ((x - f0) / width).clamp(0, 1)) ** 2)
    return w.float()


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Evenly spread ``[start, stop)`` spans of at most ``tile`` px covering ``length`` px,
    neighbours overlapping by at least ``overlap`` px (up to rounding)."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, math.ceil((length + (n - 1) * overlap) / n))
    starts = [round(i * (length - size) / (n - 1)) for i in range(n)]
    return [(s, s + size) for s in starts]


def _ramps(spans: list[tuple[int, int]], overlap: int, scale: int) -> list[tuple[Any, Any]]:
    """Each span's (rise, fall) ramp: ``overlap`` wide (or the actual overlap when smaller),
    centred in the overlap with its neighbour, in output pixels."""
    joins = []
    for (_, stop), (nxt, _) in zip(spans, spans[1:], strict=False):
        width = min(overlap, stop - nxt)
        joins.append(((nxt + (stop - nxt - width) / 2) * scale, width * scale))
    return [(joins[i - 1] if i else None, joins[i] if i < len(joins) else None)
            for i in range(len(spans))]  # fmt: skip


def plan_tiles(
    size: tuple[int, int], tile: int, overlap: int, *, scale: int = 1, context: int = 0
) -> list[Tile]:
    """Cut an input of ``size`` (H, W) into overlapping tiles.

    Args:
        size: the input image's (H, W) in pixels (the low-resolution image for SR).
        tile: the largest tile side, in input pixels.
        overlap: the overlap of neighbouring tiles (and the width of the blend), input px.
        scale: output pixels per input pixel (the SR factor; 1 otherwise).
        context: input pixels each fit sees beyond its tile, cropped before the blend.

    Returns:
        The tiles in row-major order; their :meth:`Tile.weight` s sum to 1 at every output
        pixel.

    Example:
        >>> [t.core for t in plan_tiles((40, 64), tile=40, overlap=8)]
        [(0, 40, 0, 36), (0, 40, 28, 64)]
    """
    if tile < 2 * overlap + 1 or overlap < 1:
        raise DeepPriorError(
            f"the tile ({tile} px) must be more than twice the overlap ({overlap} px), and "
            "the overlap at least 1 px; use a larger --tile or a smaller --overlap",
            param="tile",
        )  # fmt: skip
    h, w = size
    rows, cols = _spans(h, tile, overlap), _spans(w, tile, overlap)
    rrows, rcols = _ramps(rows, overlap, scale), _ramps(cols, overlap, scale)
    tiles = []
    for (t, b), (rise_y, fall_y) in zip(rows, rrows, strict=True):
        for (left, r), (rise_x, fall_x) in zip(cols, rcols, strict=True):
            fit = (max(t - context, 0), min(b + context, h), max(left - context, 0),
                   min(r + context, w))  # fmt: skip
            tiles.append(Tile(len(tiles), (t, b, left, r), fit, scale,
                              (rise_y, fall_y, rise_x, fall_x)))  # fmt: skip
    return tiles


def warm_sources(tiles: Sequence[Tile]) -> dict[int, int]:
    """For a warm-started run (:attr:`~deepprior.tasks.presets.Preset.tile_warm`): each
    tile's left neighbour in its row, whose end weights its fit starts from. The first tile
    of each row starts cold, so the rows are chains that can be fitted side by side, and a
    tile's start does not depend on how many are fitted at once.

    Example:
        >>> warm_sources(plan_tiles((40, 64), tile=24, overlap=8))
        {1: 0, 2: 1, 3: 2, 5: 4, 6: 5, 7: 6}
    """
    return {t.index: p.index for p, t in zip(tiles, tiles[1:], strict=False)
            if p.core[0] == t.core[0]}  # fmt: skip


@dataclass
class TilePlan:
    """What a tiled run will do, printed before it starts.

    Attributes:
        tiles: the tiles (see :func:`plan_tiles`); ``tile``, ``overlap``: their settings.
        memory_bytes: the estimated peak memory of one tile's fit.
        step_seconds: the measured time of one step of one tile (None: not measured).
        iters: the steps per tile at most.
    """

    tiles: list[Tile]
    tile: int
    overlap: int
    memory_bytes: int
    step_seconds: float | None
    iters: int

    def describe(self, done: int = 0) -> str:
        """One line: tile count, size, memory and the estimated time of the remaining tiles."""
        side = self.tile * self.tiles[0].scale
        text = (f"tiling: {len(self.tiles)} tiles of at most {side}x{side} px (overlap "
                f"{self.overlap * self.tiles[0].scale} px), about "
                f"{self.memory_bytes / 2**20:.0f} MiB per tile")  # fmt: skip
        if self.step_seconds is not None:
            left = (len(self.tiles) - done) * self.iters * self.step_seconds
            text += (f", at most {_duration(left)} ({self.iters} steps x "
                     f"{self.step_seconds:.3f} s per tile step, measured)")  # fmt: skip
        if done:
            text += f"; {done} tile{'s' if done > 1 else ''} already done"
        return text


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _crop(img: torch.Tensor | None, box: tuple[int, int, int, int]) -> torch.Tensor | None:
    return None if img is None else img[..., box[0] : box[1], box[2] : box[3]]


def _mask_input(task: Task) -> int | None:
    """The position of the task's mask among its inputs (None: it has none)."""
    return next((i for i, o in enumerate(task.inputs) if o.kind == "mask"), None)


def _tile_run(task: Task, crops: Sequence[Any], box: tuple[int, int, int, int],
              kw: dict[str, Any]) -> Result:  # fmt: skip
    """Fit the task on a tile's ``crops`` of every input, cut at ``box`` (a fully known mask:
    no fit needed)."""
    at = _mask_input(task)
    mask = crops[at] if at is not None and at < len(crops) else None
    if mask is not None and bool(mask.min() > 0.5):  # nothing to fill in this tile
        x = crops[0]
        return Result(image=x, last=x, ema=None, report={"iters_run": 0, "seconds": 0.0})
    if mask is not None and bool(mask.max() <= 0.5):
        raise DeepPriorError(
            f"a {box[3] - box[2]}x{box[1] - box[0]} px tile at ({box[2]}, {box[0]}) has no "
            "known pixels; use a larger --tile", param="tile",
        )  # fmt: skip
    return task.run(*crops, **kw)


def _probe(task: Task, images: Sequence[Any], side: int, kw: dict[str, Any]) -> Result:
    """A 2-step fit of a ``side`` px (input) crop: its memory estimate and step time."""
    h, w = images[0].shape[-2:]
    box = (0, min(side, h), 0, min(side, w))
    probe_kw = {k: v for k, v in kw.items() if k not in _RUN_ONLY}
    crops = [_crop(img, box) for img in images]
    at = _mask_input(task)
    if at is not None and at < len(crops) and crops[at] is not None:
        crops[at] = torch.ones_like(crops[at])  # the cost does not depend on the mask's content
        crops[at][..., ::2, ::2] = 0
    res = task.run(*crops, **{
        **probe_kw, "iters": 2, "progress": False, "memory_check": False})  # fmt: skip
    if res.interrupted:  # the fit deferred a Ctrl-C to its step boundary: stop the whole run
        raise KeyboardInterrupt
    return res


def _worker_step(task: Task, images: Sequence[Any], plan: TilePlan, kw: dict[str, Any],
                 threads: int) -> float:  # fmt: skip
    """One tile step's time on ``threads`` threads (a tile worker's share of the CPU): the
    plan's measured step is the whole process's, which overstates a worker's speed."""
    t, b, left, r = plan.tiles[0].fit
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return float(_probe(task, images, max(b - t, r - left), kw).report["seconds_per_iter"])
    finally:
        torch.set_num_threads(before)


def _memory_model(task: Task, images: Sequence[Any], scale: int,
                  kw: dict[str, Any]) -> Callable[[int, int], int]:  # fmt: skip
    """Bytes of a fit of an (H, W) output, from the estimates of two small probe fits
    (the estimate is affine in the canvas's pixel count)."""
    points = []
    for side in (64, 128):
        rep = _probe(task, images, max(side // scale, 8), kw).report
        cw, ch = rep["canvas"]
        points.append((cw * ch, rep["estimated_memory_mib"] * 2**20))
    (p0, m0), (p1, m1) = points
    slope = (m1 - m0) / max(p1 - p0, 1)

    def model(h: int, w: int) -> int:
        return int(m0 + slope * (h * w - p0))

    return model


def choose_tile(
    model: Callable[[int, int], int], budget: int | None, *, scale: int, overlap: int,
    context: int, min_side: int = 32,
) -> int:  # fmt: skip
    """The largest tile side (input px, a multiple of 8 up to :data:`AUTO_MAX_TILE` output
    px) whose fit, context included, needs at most 90 % of ``budget`` bytes.

    Example:
        >>> choose_tile(lambda h, w: 1000 * h * w, 100_000_000, scale=1, overlap=16,
        ...             context=0)
        296
    """
    top = AUTO_MAX_TILE // scale
    for side in range(top - top % 8, 0, -8):
        full = (side + 2 * context) * scale
        if budget is None or model(full, full) <= 0.9 * budget:
            if side * scale < max(min_side, (2 * overlap + 1) * scale):
                break
            return side
    need = model(min_side, min_side) / 2**30
    raise DeepPriorError(
        f"even a {min_side} px tile needs about {need:.1f} GiB, more than is available; "
        "use --checkpoint or a lighter --preset", param="tile",
    )  # fmt: skip


def _budget(kw: dict[str, Any], memory_budget: int | None) -> int | None:
    from .device import available_memory, select_device

    if memory_budget is not None:
        return memory_budget
    return available_memory(select_device(kw.get("device", "auto")))


def _settings(task: Task, images: Sequence[Any], kw: dict[str, Any]) -> dict[str, Any]:
    """The task's own settings among ``kw`` plus its inputs by name (for :func:`footprint`)."""
    named = {opt.param: img for opt, img in zip(task.inputs, images, strict=False)}
    return {**named, **kw}


def _fingerprint(task: Task, images: Sequence[Any], kw: dict[str, Any], tile: Any,
                 overlap: int | None) -> str:  # fmt: skip
    """What the finished tiles of a saved run must agree on: inputs and settings."""
    digest = hashlib.sha256()
    for img in images:
        if img is not None:
            digest.update(img.detach().float().cpu().contiguous().numpy().tobytes())
    settings = {k: v for k, v in sorted(kw.items()) if k not in _RUN_ONLY}
    digest.update(dumps_strict([task.name, settings, tile, overlap], default=str).encode())
    return digest.hexdigest()


class _TileStore:
    """Finished tiles in ``OUTPUT_STEM.tiles/``: ``tile_NNN.npy`` plus ``manifest.json``
    (the fingerprint, the plan and the finished indices)."""

    def __init__(self, folder: Path | None, fingerprint: str, resume: bool) -> None:
        self.folder, self.fingerprint, self.manifest = folder, fingerprint, None
        path = None if folder is None else folder / "manifest.json"
        if resume and path is not None and path.is_file():
            manifest = json.loads(path.read_text())
            if manifest.get("fingerprint") != fingerprint:
                raise DeepPriorError(
                    f"the saved tiles in {folder} are from another run (other input or "
                    "settings); run without --resume to start afresh", param="resume",
                )  # fmt: skip
            self.manifest = manifest
        elif folder is not None and folder.exists() and not resume:
            shutil.rmtree(folder)

    def done(self) -> list[int]:
        return list(self.manifest["done"]) if self.manifest else []

    def records(self) -> dict[int, dict[str, Any]]:
        """The finished tiles' fit records (see :func:`_tile_record`) by index."""
        saved = (self.manifest or {}).get("records", {})
        return {int(k): v for k, v in saved.items()}

    def load(self, index: int) -> dict[str, torch.Tensor]:
        assert self.folder is not None
        with np.load(self.folder / f"tile_{index:03d}.npz") as data:
            return {k: torch.from_numpy(data[k]) for k in data.files}

    def load_weights(self, index: int) -> dict[str, torch.Tensor] | None:
        """A finished tile's end weights (saved by a warm-started run), or None."""
        path = None if self.folder is None else self.folder / f"tile_{index:03d}.weights.pt"
        if path is None or not path.is_file():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def state_file(self, index: int) -> Path | None:
        """Where the tile in progress saves its fit state (the folder is made here, since a
        state may be saved before any tile has finished)."""
        if self.folder is None:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"tile_{index:03d}.state.pt"

    def save(self, index: int, images: dict[str, torch.Tensor], plan: TilePlan,
             record: dict[str, Any] | None = None,
             weights: dict[str, torch.Tensor] | None = None) -> None:  # fmt: skip
        from .io import atomic_write_bytes, atomic_write_text

        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if weights is not None:  # before the manifest names the tile done
            buf = io.BytesIO()
            torch.save(weights, buf)
            atomic_write_bytes(self.folder / f"tile_{index:03d}.weights.pt", buf.getvalue())
        buf = io.BytesIO()
        np.savez(buf, **{k: v.numpy() for k, v in images.items()})
        atomic_write_bytes(self.folder / f"tile_{index:03d}.npz", buf.getvalue())
        done = sorted({*self.done(), index})
        records = {str(k): v for k, v in self.records().items()}
        if record is not None:
            records[str(index)] = record
        self.manifest = {"fingerprint": self.fingerprint, "tile": plan.tile,
                         "overlap": plan.overlap, "iters": plan.iters, "done": done,
                         "records": records}  # fmt: skip
        atomic_write_text(self.folder / "manifest.json", dumps_strict(self.manifest) + "\n")
        state = self.state_file(index)
        if state is not None:
            state.unlink(missing_ok=True)

    def clear(self) -> None:
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)


def _make_plan(task: Task, images: Sequence[Any], kw: dict[str, Any], tile: int | str,
               overlap: int, footprint_: tuple[int, int], memory_budget: int | None,
               measure: bool) -> TilePlan:  # fmt: skip
    """Choose the tile side (``auto``: from the memory model), cut the tiles, and time two
    steps of the first tile."""
    from .nets import min_image_side

    scale, context = footprint_
    model = _memory_model(task, images, scale, kw)
    if tile == "auto":
        tile = choose_tile(model, _budget(kw, memory_budget), scale=scale, overlap=overlap,
                           context=context, min_side=max(min_image_side(32), 32))  # fmt: skip
    tiles = plan_tiles(tuple(images[0].shape[-2:]), int(tile), overlap, scale=scale,
                       context=context)  # fmt: skip
    t, b, left, r = tiles[0].fit
    memory = model((b - t) * scale, (r - left) * scale)
    step = None
    if measure:
        rep = _probe(task, images, max(b - t, r - left), kw).report
        step = float(rep["seconds_per_iter"])
    named = _settings(task, images, kw)
    iters = kw.get("iters") or task.preset(kw.get("preset"), **named).iters
    return TilePlan(tiles, int(tile), overlap, memory, step, int(iters))


def _fallback(task: Task, images: Sequence[Any], scale: int) -> torch.Tensor:
    """What an unfinished tile shows in an interrupted run's output: the input
    the task fits (bicubic-upscaled for SR)."""
    from .ops import upscale

    x = images[task.fitted_input]
    return upscale(x, scale, "bicubic") if scale > 1 else x


def _blend(plan: TilePlan, outputs: dict[int, dict[str, torch.Tensor]],
           fallback: torch.Tensor) -> dict[str, torch.Tensor]:  # fmt: skip
    """Weighted sum of the tiles' images (the fallback where a tile is missing); extras only
    when every tile has them."""
    names = set.intersection(*(set(outputs.get(t.index, {})) for t in plan.tiles)) | {"image"}
    acc = {n: torch.zeros_like(fallback) for n in names}
    for t in plan.tiles:
        imgs = outputs.get(t.index) or {"image": fallback[(..., *t.out_slices)]}
        w = t.weight()
        for n in names:
            img = imgs[n]
            acc[n][(slice(None), *t.out_slices)] += w * img.expand(fallback.shape[0], -1, -1)
    return {n: a.clamp(0, 1) for n, a in acc.items()}


def _tile_images(res: Result, tile: Tile) -> dict[str, torch.Tensor]:
    """The result's image and same-size extras, the context cropped away."""
    crop = (..., *tile.crop_slices)
    out = {"image": res.image[crop].float().cpu()}
    for name, img in res.extras.items():
        if name != "mask" and tuple(img.shape[-2:]) == tuple(res.image.shape[-2:]):
            out[name] = img[crop].float().cpu()
    return out


class _WholeStep(StepInfo):
    """A tile's step seen as a step of the whole image: ``output`` and ``ema`` are pasted into
    the image so far only when a callback reads them (most steps, none does: a copy of the
    whole image and a device read-back at every step would be wasted)."""

    def __init__(self, paste: Callable[[torch.Tensor], torch.Tensor], **fields: Any) -> None:
        self._paste = paste
        super().__init__(**fields)

    @property  # type: ignore[override]
    def output(self) -> torch.Tensor:
        if self._output is None:
            self._output = self._paste(self._tile_output)
        return self._output

    @output.setter
    def output(self, value: torch.Tensor) -> None:
        self._tile_output, self._output = value, None

    @property  # type: ignore[override]
    def ema(self) -> torch.Tensor | None:
        if self._ema is None and self._tile_ema is not None:
            self._ema = self._paste(self._tile_ema)
        return self._ema

    @ema.setter
    def ema(self, value: torch.Tensor | None) -> None:
        self._tile_ema, self._ema = value, None


class Mosaic(Callback):
    """Shows whole-image callbacks (a time-lapse, a live view) a tiled run as one fit.

    Each tile's fit runs this callback; it calls the whole-image callbacks with the image so
    far (the finished tiles blended, the input elsewhere) and the running tile's output
    pasted in, and numbers the steps on one axis: tile ``k`` covers steps
    ``k * iters + 1`` to ``(k + 1) * iters`` (a tile that stops early skips the rest).
    A whole-image callback that asks the fit to stop ends the tiled run, not one tile.
    Callbacks with an ``on_tile(tile, plan)`` method are told which tile starts.

    Args:
        callbacks: the whole-image callbacks.
        plan: the tiled run's plan.
    """

    every = 1

    def __init__(self, callbacks: Sequence[Callback], plan: TilePlan) -> None:
        self.callbacks, self.plan = list(callbacks), plan
        self.total = plan.iters * len(plan.tiles)
        self.stop_reason: str | None = None
        self._started, self._first, self._elapsed = False, None, 0.0
        self._tile: Tile | None = None
        self._canvas = torch.zeros(0)

    def begin(self, tile: Tile, canvas: torch.Tensor) -> None:
        """Tile ``tile`` starts; ``canvas`` (C, H, W) is the image so far."""
        self._tile, self._canvas = tile, canvas
        for cb in self.callbacks:
            if hasattr(cb, "on_tile"):
                cb.on_tile(tile, self.plan)

    def _offset(self) -> int:
        assert self._tile is not None
        return self._tile.index * self.plan.iters

    def _paste(self, image: torch.Tensor) -> torch.Tensor:
        assert self._tile is not None
        whole = self._canvas.clone().unsqueeze(0)
        part = image[(..., *self._tile.crop_slices)].detach().float().cpu()
        part = part.mean(0, keepdim=True) if part.shape[0] > 1 else part  # restarts: their mean
        whole[(..., *self._tile.out_slices)] = part.expand(1, whole.shape[1], -1, -1)
        return whole

    def on_start(self, schedule: Schedule) -> None:
        if self._first is None:
            self._first = self._offset()
        if not self._started:
            self._started = True
            for cb in self.callbacks:
                cb.on_start(replace(schedule, iters=self.total))

    def on_step(self, info: StepInfo) -> None:
        step = self._offset() + info.step
        due = [cb for cb in self.callbacks if step % cb.every == 0 or step == self.total]
        if not due:
            return

        def request_stop(reason: str) -> None:
            self.stop_reason = self.stop_reason or reason
            info.stop(reason)

        whole = _WholeStep(
            self._paste, step=step, iters=self.total, loss=info.loss, output=info.output,
            ema=info.ema, backtracks=info.backtracks, elapsed=self._elapsed + info.elapsed,
            start=self._first or 0, state=info.state, request_stop=request_stop,
        )  # fmt: skip
        for cb in due:
            cb.on_step(whole)

    def on_end(self, result: FitResult) -> None:
        self._elapsed += result.seconds

    def finish(self, image: torch.Tensor, steps: int, interrupted: bool) -> None:
        """The tiled run has ended with ``image`` (C, H, W): the callbacks' ``on_end``."""
        if not self._started:
            return
        last = self._tile.index * self.plan.iters + steps if self._tile is not None else 0
        result = FitResult(image=image.unsqueeze(0), ema=None, iters_run=last,
                           seconds=self._elapsed, interrupted=interrupted,
                           stop_reason=self.stop_reason)  # fmt: skip
        for cb in self.callbacks:
            cb.on_end(result)


def _run_tiles(
    task: Task, images: Sequence[Any], plan: TilePlan, store: _TileStore, kw: dict[str, Any],
    echo: Callable[[str], None], records: dict[int, dict[str, Any]],
    fallback: torch.Tensor, mosaic: Mosaic | None = None,
    curves: list[tuple[int, dict[str, Any]]] | None = None, jobs: int = 1, threads: int = 1,
    warm: bool = False,
) -> tuple[dict[int, dict[str, torch.Tensor]], Result | None, int, bool]:  # fmt: skip
    """Fit every unfinished tile, in turn or ``jobs`` at a time in worker processes of
    ``threads`` threads (:mod:`deepprior.tile_pool`), saving each; stop at an interrupted
    one (or when a whole-image callback of ``mosaic`` asked to stop). With ``warm``, a tile
    starts from its source's end weights (:func:`warm_sources`), so it waits for it.

    Returns the tiles' images by index, the last tile's result, the steps run and whether
    a tile was interrupted (or a callback of ``mosaic`` asked to stop); each
    finished tile's record (:func:`_tile_record`) is added to ``records``, and each fitted
    tile's ``(first step on the run's axis, sampled history)`` to ``curves``."""
    outputs: dict[int, dict[str, torch.Tensor]] = {i: store.load(i) for i in store.done()}
    base = {k: v for k, v in kw.items() if k not in _RUN_ONLY or k == "progress"}
    base["iters"] = plan.iters
    gt = kw.get("gt")
    steps = 0
    sources = warm_sources(plan.tiles) if warm else {}
    holdout = _holdout_kwargs(task, kw) if warm else None
    finished_ok = set(store.done())
    weights: dict[int, dict[str, torch.Tensor] | None] = {}  # end weights not yet used
    started_from: dict[int, int] = {}  # tile -> the tile whose end weights it started from

    def ready(t: Tile) -> bool:
        return sources.get(t.index) is None or sources[t.index] in finished_ok

    def tile_kw(t: Tile) -> dict[str, Any]:
        out = dict(base)
        src = sources.get(t.index)
        if src is not None:  # (weights of a tile finished by an earlier run: from the store)
            init = weights.pop(src) if src in weights else store.load_weights(src)
            if init is not None:
                out["init_weights"] = init
                started_from[t.index] = src
        if holdout is not None:  # held-out pixels by position: a source never fitted them
            out["stop_kwargs"] = {**holdout, "origin": (t.fit[0], t.fit[2])}
        state = store.state_file(t.index)
        if state is not None:
            out.update(state_file=state, state_every=kw.get("state_every", 0),
                       resume=bool(kw.get("resume")) and state.is_file())  # fmt: skip
        if gt is not None:  # the tile's clean crop: its fit's PSNR curve and best step
            out["gt"] = _crop(_as_gt(gt), tuple(v * t.scale for v in t.fit))
        return out

    def finished(t: Tile, res: Result, images: dict[str, torch.Tensor]) -> None:
        nonlocal steps
        steps += int(res.report.get("iters_run", 0))
        if curves is not None and (res.report.get("history") or {}).get("step"):
            curves.append((t.index * plan.iters, res.report["history"]))
        outputs[t.index] = images
        if res.interrupted or (mosaic is not None and mosaic.stop_reason):
            return
        records[t.index] = _tile_record(t, res)
        source = t.index in sources.values()  # a later tile starts from its weights
        if warm:
            records[t.index]["warm_from"] = started_from.get(t.index)
        if source:
            weights[t.index] = res.weights
        store.save(t.index, outputs[t.index], plan, records[t.index],
                   res.weights if source else None)  # fmt: skip
        finished_ok.add(t.index)

    todo = [t for t in plan.tiles if t.index not in outputs]
    if jobs > 1 and mosaic is None:
        from .tile_pool import run_parallel

        if base.get("progress") is True:  # one bar per process would garble: plain lines
            base["progress"] = "log"
        step = None if plan.step_seconds is None else _worker_step(task, images, plan, kw, threads)
        last, interrupted = run_parallel(
            task, plan, todo, jobs, threads, lambda t: [_crop(x, t.fit) for x in images],
            tile_kw, finished, echo, step, ready,
        )  # fmt: skip
        return outputs, last, steps, interrupted
    last = None
    for t in todo:
        echo(f"tile {t.index + 1}/{len(plan.tiles)}")
        one = tile_kw(t)
        if mosaic is not None:
            mosaic.begin(t, _blend(plan, outputs, fallback)["image"])
            one["callbacks"] = [mosaic]
        last = _tile_run(task, [_crop(x, t.fit) for x in images], t.fit, one)
        finished(t, last, _tile_images(last, t))
        if last.interrupted or (mosaic is not None and mosaic.stop_reason):
            return outputs, last, steps, True
        _release_memory()
    return outputs, last, steps, False


def _joined_history(curves: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The loss curves of the tiles fitted in this run on one step axis (tile ``k`` from
    step ``k * iters``), with each tile's first step in ``tile_start`` (for the plot); a
    ``None`` loss at a tile's start breaks the line between two tiles.

    Example:
        >>> h = _joined_history([(0, {"step": [5, 10], "loss": [2.0, 1.0]}),
        ...                      (10, {"step": [5, 7], "loss": [3.0, 2.5]})])
        >>> h["step"], h["loss"], h["tile_start"]
        ([5, 10, 10, 15, 17], [2.0, 1.0, None, 3.0, 2.5], [0, 10])
    """
    joined: dict[str, Any] = {"step": [], "loss": [], "tile_start": []}
    for first, h in curves:
        if joined["step"]:
            joined["step"].append(first)
            joined["loss"].append(None)
        joined["tile_start"].append(first)
        joined["step"] += [first + s for s in h["step"]]
        joined["loss"] += list(h["loss"])
    return joined


def tiles_stop_line(report: dict[str, Any]) -> str | None:
    """One line on how a tiled run's fits ended (None for an untiled run), e.g.
    ``4 tiles: 4 stopped by themselves after 970-1300 steps (at most 3000 each)``.

    Example:
        >>> fits = [{"iters_run": 970, "stop_reason": "holdout: ..."},
        ...         {"iters_run": 3000, "stop_reason": None}]
        >>> tiles_stop_line({"tiles": {"count": 2, "fits": fits}, "settings": {"iters": 3000}})
        '2 tiles: 1 stopped by itself after 970 steps, 1 ran to its cap (at most 3000 each)'
    """
    tiles = report.get("tiles")
    if not tiles or not tiles.get("fits"):
        return None
    fits = tiles["fits"]
    stopped = [int(f["iters_run"]) for f in fits if f.get("stop_reason")]
    capped = len(fits) - len(stopped)
    parts = []
    if stopped:
        span = (f"{min(stopped)}" if min(stopped) == max(stopped)
                else f"{min(stopped)}-{max(stopped)}")  # fmt: skip
        who = "itself" if len(stopped) == 1 else "themselves"
        parts.append(f"{len(stopped)} stopped by {who} after {span} steps")
    if capped:
        parts.append(f"{capped} ran to {'its' if capped == 1 else 'their'} cap")
    cap = (report.get("settings") or {}).get("iters")
    return f"{tiles['count']} tiles: {', '.join(parts)}" + (f" (at most {cap} each)" if cap else "")


def _as_gt(gt: Any) -> torch.Tensor:
    from .tasks.common import as_image

    return as_image(gt, "ground truth")


def _tile_record(tile: Tile, res: Result) -> dict[str, Any]:
    """What one tile's fit did: its steps, why it stopped and, with a clean image, the PSNR
    of its output and the best PSNR on its curve (both over the tile's fitted area)."""
    rep = res.report
    rec = {"index": tile.index, "fit": list(tile.fit), "iters_run": rep.get("iters_run"),
           "fit_seconds": rep.get("fit_seconds", rep.get("seconds")),
           "stop_reason": rep.get("stop_reason"), "best_step": rep.get("best_step"),
           "backtracks": int(rep.get("backtracks") or 0),
           "hosts": rep.get("hosts") or []}  # fmt: skip
    if res.metrics.get("psnr") is not None:
        rec.update(psnr=res.metrics["psnr"], best_psnr=rep.get("best_psnr"),
                   best_psnr_step=rep.get("best_psnr_step"))  # fmt: skip
    if curve := _stop_curve(res.history):
        rec["curve"] = curve
    if rep.get("post"):
        rec["post"] = rep["post"]
    return rec


def _stop_curve(h: dict[str, Any]) -> dict[str, list] | None:
    """A tile's stopping-rule scores and, with a clean image, its EMA's PSNR over the tile,
    each at the steps they were measured: enough to replay another patience offline.

    Example:
        >>> c = _stop_curve({"holdout_step": [10, 20], "holdout_score": [0.0123456789, 0.01],
        ...                  "psnr_step": [10, 20], "psnr_ema": [20.12346, 21.0]})
        >>> c["rule"], c["rule_step"], c["rule_score"], c["psnr_ema"]
        ('holdout', [10, 20], [0.0123457, 0.01], [20.1235, 21.0])
    """
    rule = next((k.removesuffix("_score") for k in h if k.endswith("_score")), None)
    if rule is None:
        return None
    scores = [float(f"{v:.6g}") for v in h[f"{rule}_score"]]
    out: dict[str, Any] = {"rule": rule, "rule_step": list(h.get(f"{rule}_step") or []),
                           "rule_score": scores}  # fmt: skip
    if h.get("psnr_ema"):
        out["psnr_step"] = list(h.get("psnr_step") or [])
        out["psnr_ema"] = [round(v, 4) for v in h["psnr_ema"]]
    return out


def _release_memory() -> None:
    """Give the finished tile's fit memory back to the system: without it the allocator keeps
    it and a many-tile run's resident memory grows far above one fit's (measured: a 9-tile
    1024² run peaked at 1.67 GB without, 0.93 GB with)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _report(task: Task, plan: TilePlan, last: Result | None, seconds: float, iters: int,
            kw: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    from .device import select_device

    rep = dict(last.report) if last is not None else {}
    for key in (
        "history",
        "best_step",
        "best_psnr",
        "best_psnr_step",
        "best_psnr_of",
        "metrics",
        "resumed_from",
    ):  # one tile's: per tile in tiles["fits"]
        rep.pop(key, None)
    rep.update(
        task=task.name, iters_run=iters, seconds=round(seconds, 3), stop_reason=None,
        device=rep.get("device", str(select_device(kw.get("device", "auto")))),
        settings={**rep.get("settings", {}), "iters": plan.iters},
        estimated_memory_mib=round(plan.memory_bytes / 2**20, 1),
        tiles={"count": len(plan.tiles), "tile": plan.tile, "overlap": plan.overlap,
               "scale": plan.tiles[0].scale, "step_seconds": plan.step_seconds},
    )  # fmt: skip
    return rep


def _metrics(image: torch.Tensor, ref: torch.Tensor, gt: Any, scale: int) -> dict[str, float]:
    """PSNR/SSIM of the blended result and of the input (or bicubic) against ``gt``."""
    from .metrics import psnr, ssim
    from .tasks.base import Problem, _matching_gt
    from .tasks.common import as_image

    if gt is None:
        return {}
    g = _matching_gt(as_image(gt, "ground truth"),
                     Problem("tiles", None, tuple(image.shape[-2:]), image.shape[0]))  # type: ignore[arg-type]  # fmt: skip
    assert g is not None
    name = "psnr_bicubic" if scale > 1 else "psnr_input"
    return {"psnr": psnr(image, g), "ssim": ssim(image, g), name: psnr(ref, g)}


def _stderr(kw: dict[str, Any]) -> Callable[[str], None]:
    if not kw.get("progress", True):
        return lambda _: None
    return lambda line: print(line, file=sys.stderr, flush=True)


def solve_tiled(
    task: str | Task,
    *images: Any,
    tile: int | str = "auto",
    overlap: int | None = None,
    context: int | None = None,
    state_dir: str | Path | None = None,
    memory_budget: int | None = None,
    max_seconds: float | None = None,
    echo: Callable[[str], None] | None = None,
    tile_jobs: int | str = "auto",
    tile_warm: bool | None = None,
    **kw: Any,
) -> Result:
    """Restore ``images`` with ``task`` tile by tile and blend the tiles seamlessly.

    Args:
        task: a task name (``denoise``, ``sr`` ...) or :class:`~deepprior.tasks.Task`.
        *images: the task's inputs (as for the task's function; a mask is cut alongside).
        tile: the tile side in input pixels, or ``auto``: the largest (up to
            :data:`AUTO_MAX_TILE` output px) whose fit fits in ``memory_budget``.
        overlap: input pixels shared by neighbours (default 32 output px).
        context: input pixels each fit sees beyond its tile (default: the operator's
            footprint, see :func:`footprint`).
        state_dir: where finished tiles and the running tile's state are kept; with
            ``resume=True`` a run continues at the tile it stopped in. Removed when done.
        memory_budget: bytes a fit may use (default: what the device has available).
        max_seconds: a time budget: fewer steps per tile when the estimate exceeds it.
        echo: where the plan and progress lines go (default: stderr unless
            ``progress=False``).
        tile_jobs: tiles fitted at once, each in a worker process with its share of the
            CPU threads; ``auto``: one per thread on a CPU when the run is long enough to
            gain (:func:`deepprior.tile_pool.choose_jobs`). Whole-image callbacks (a live
            view, a time-lapse) need one tile at a time.
        tile_warm: start each tile's net from its left neighbour's end weights
            (:func:`warm_sources`; fewer steps to each tile's stop); ``None``: the preset's
            :attr:`~deepprior.tasks.presets.Preset.tile_warm`.
        **kw: the task's settings and :func:`deepprior.tasks.solve` keywords (``iters``,
            ``preset``, ``seed``, ``device``, ``gt`` ...).

    Returns:
        A :class:`~deepprior.tasks.Result` of the whole image; ``report['tiles']`` holds
        the plan. ``interrupted`` is True when Ctrl-C stopped a tile: unfinished tiles then
        show the input.

    Example:
        >>> import torch
        >>> res = solve_tiled("denoise", torch.rand(3, 96, 80), tile=48, overlap=8, iters=2,
        ...                   progress=False, net_kwargs={"n_d": [8, 8], "n_s": 2})
        >>> res.image.shape, res.report["tiles"]["count"]
        (torch.Size([3, 96, 80]), 6)
    """
    from .tasks.common import as_image

    task = get_task(task) if isinstance(task, str) else task
    imgs = [None if x is None else as_image(x, opt.param)
            for opt, x in zip(task.inputs, images, strict=False)]  # fmt: skip
    scale, ctx = footprint(task.name, _settings(task, imgs, kw))
    overlap = overlap if overlap is not None else max(4, DEFAULT_OVERLAP // scale)
    echo = echo or _stderr(kw)
    if tile_warm is None:
        tile_warm = task.preset(kw.get("preset"), **_named_options(task, kw)).tile_warm
    # (a cold run's fingerprint is as it was before warm starts existed: its tiles resume)
    fp = _fingerprint(task, imgs, {**kw, "tile_warm": True} if tile_warm else kw, tile, overlap)
    store = _TileStore(None if state_dir is None else Path(state_dir), fp, bool(kw.get("resume")))
    saved = store.manifest or {}
    if saved:
        tile, kw = saved["tile"], {**kw, "iters": saved["iters"]}
    try:
        plan = _make_plan(task, imgs, kw, tile, overlap,
                          (scale, ctx if context is None else context), memory_budget,
                          measure=True)  # fmt: skip
    except ImageTooSmall as exc:  # said of the whole image, not of the tile that was probed
        h, w = (int(s) * scale for s in imgs[0].shape[-2:])
        if min(h, w) >= exc.min_side:
            raise
        from .nets import too_small

        raise too_small(exc.net, (h, w), exc.min_side) from None
    if max_seconds and plan.step_seconds and not saved:
        fit_iters = int(max_seconds / (len(plan.tiles) * plan.step_seconds))
        if fit_iters < plan.iters:
            echo(f"tiling: {plan.iters} steps per tile would exceed {max_seconds:.0f} s; "
                 f"running {max(fit_iters, 1)}")  # fmt: skip
            plan.iters = max(fit_iters, 1)
    echo(plan.describe(len(store.done())))
    t0 = time.perf_counter()
    records = store.records()
    fallback = _fallback(task, imgs, scale)
    whole_callbacks = list(kw.get("callbacks") or ())
    mosaic = Mosaic(whole_callbacks, plan) if whole_callbacks else None
    curves: list[tuple[int, dict[str, Any]]] = []
    jobs, threads = _jobs(task, tile_jobs, plan, len(plan.tiles) - len(store.done()), kw, mosaic,
                          memory_budget, echo)  # fmt: skip
    outputs, last, steps, interrupted = _run_tiles(
        task, imgs, plan, store, kw, echo, records, fallback, mosaic, curves, jobs, threads,
        bool(tile_warm),
    )  # fmt: skip
    stopped = mosaic.stop_reason if mosaic is not None else None
    blended = _blend(plan, outputs, fallback)
    if interrupted and store.folder is not None:
        echo(f"tiling: {len(store.done())} of {len(plan.tiles)} tiles done; rerun with "
             f"--resume (resume=True) to continue (state: {store.folder})")  # fmt: skip
    elif not interrupted:
        store.clear()
    image = blended.pop("image")
    if mosaic is not None:
        mosaic.finish(image, int(last.report.get("iters_run", 0)) if last else 0, interrupted)
    report = _report(task, plan, last, time.perf_counter() - t0, steps, kw)
    report["tiles"]["jobs"] = jobs
    report["tiles"]["warm"] = bool(tile_warm)
    report["stop_reason"] = stopped
    if curves:
        report["history"] = _joined_history(curves)
    report["tiles"]["fits"] = [records[i] for i in sorted(records)]
    if not interrupted:  # every tile, including those finished by an earlier, resumed run
        report["iters_run"] = sum(int(r.get("iters_run") or 0) for r in records.values())
        report["fit_seconds"] = round(sum(r.get("fit_seconds") or 0.0 for r in records.values()), 3)
    # every tile's (a tile record from before backtracks were kept counts none), and those of
    # the tile an interruption left unfinished (it has no record yet)
    report["backtracks"] = sum(int(r.get("backtracks") or 0) for r in records.values()) + (
        int(last.report.get("backtracks") or 0) if interrupted and last is not None else 0
    )
    hosts = [r.get("hosts") or [] for r in records.values()]
    report["hosts"] = merge_hosts(*hosts, report.get("hosts") or [])  # every tile's machine
    metrics = _metrics(image, fallback, kw.get("gt"), scale)
    if metrics:
        report["metrics"] = metrics  # of the blended image (not of one tile)
    return Result(image=image, last=image, ema=None, extras=blended, metrics=metrics,
                  report=report, interrupted=interrupted)  # fmt: skip


def _jobs(task: Task, requested: int | str, plan: TilePlan, remaining: int, kw: dict[str, Any],
          mosaic: Mosaic | None, memory_budget: int | None,
          echo: Callable[[str], None]) -> tuple[int, int]:  # fmt: skip
    """``(processes, threads each)`` for the remaining tiles (see :mod:`deepprior.tile_pool`)."""
    from .device import select_device
    from .tile_pool import choose_jobs

    threads = torch.get_num_threads()
    if requested == "auto" and type(task).__module__ == "__main__":
        return 1, threads  # a task defined in a script or notebook: workers cannot import it
    if mosaic is not None:
        if requested not in ("auto", 1):
            echo("tiling: a whole-image view or time-lapse follows one tile at a time; "
                 "fitting the tiles in turn")  # fmt: skip
        return 1, threads
    serial = plan.step_seconds * plan.iters * remaining if plan.step_seconds else None
    jobs = choose_jobs(requested, remaining, device=select_device(kw.get("device", "auto")).type,
                       threads=threads, serial_seconds=serial, tile_bytes=plan.memory_bytes,
                       budget=_budget(kw, memory_budget))  # fmt: skip
    return jobs, max(1, threads // jobs)


def tiles_dir(state_file: Any) -> Path:
    """``OUTPUT_STEM.tiles/`` next to a fit's ``OUTPUT_STEM.state.pt``: where a tiled run
    keeps its finished tiles and the running tile's state."""
    p = Path(state_file)
    return p.with_name(p.name.removesuffix(".state.pt").removesuffix(".pt") + ".tiles")


def _whole_need(task: Task, images: Sequence[Any], kw: dict[str, Any]) -> int | None:
    """The estimated bytes of an untiled fit when it exceeds the budget, else None (and
    None for small images, untileable tasks, or without the memory check)."""
    if not kw.get("memory_check", True):
        return None
    try:
        scale, _ = footprint(task.name, _settings(task, images, kw))
    except DeepPriorError:
        return None
    h, w = (s * scale for s in images[0].shape[-2:])
    if h * w <= AUTO_MAX_TILE**2:
        return None
    need = _memory_model(task, images, scale, kw)(h, w)
    budget = _budget(kw, None)
    return need if budget is not None and need > 0.9 * budget else None


def _holdout_kwargs(task: Task, kw: dict[str, Any]) -> dict[str, Any] | None:
    """The settings of the fits' held-out stopping rule (the user's or the preset's), or
    None when the fits stop otherwise."""
    from .tasks.common import with_user_overrides

    p = task.preset(kw.get("preset"), **_named_options(task, kw))
    p = with_user_overrides(p, {k: kw[k] for k in ("stop", "stop_kwargs") if k in kw})
    return dict(p.stop_kwargs) if p.stop == "holdout" else None


def _named_options(task: Task, kw: dict[str, Any]) -> dict[str, Any]:
    """The task's own options among ``kw`` (those a preset may depend on)."""
    return {k: v for k, v in kw.items() if k in {o.param for o in task.options}}


def _preset_tile(task: Task, images: Sequence[Any], kw: dict[str, Any]) -> int | None:
    """The preset's tile side (input px) when the image is larger than it, else None."""
    side = task.preset(kw.get("preset"), **_named_options(task, kw)).tile
    if side is None:
        return None
    h, w = images[0].shape[-2:]
    if max(h, w) <= side + DEFAULT_OVERLAP:
        return None
    try:  # a preset's tiles are a preference: inputs that cannot be cut run whole
        footprint(task.name, _settings(task, images, kw))
    except DeepPriorError:
        return None
    return side


def solve_maybe_tiled(
    task: Task, *images: Any, tile: int | str | None = None, overlap: int | None = None,
    **kw: Any,
) -> Result:  # fmt: skip
    """The CLI's runner: ``task.run`` on the whole image, or :func:`solve_tiled` when
    ``tile`` is given, when the preset asks for tiles (:attr:`Preset.tile`), when the whole
    image will not fit in memory (``auto``, with a notice), or when resuming a tiled run;
    ``tile="off"``: always the whole image. Finished tiles go to ``OUTPUT_STEM.tiles/``
    next to ``state_file``.

    Example:
        >>> import torch
        >>> from deepprior.tasks import get_task
        >>> res = solve_maybe_tiled(get_task("denoise"), torch.rand(3, 40, 40), iters=2,
        ...                         progress=False, net_kwargs={"n_d": [8, 8], "n_s": 2})
        >>> "tiles" in res.report
        False
    """
    from .tasks.common import as_image

    tile_jobs = kw.pop("tile_jobs", "auto")
    tile_warm = kw.pop("tile_warm", None)
    if tile == "off":  # one fit of the whole image, whatever the preset says
        return task.run(*images, **kw)
    # The decisions need the images' sizes; the whole-image run takes them as given.
    sized = [None if x is None else as_image(x, opt.param)
             for opt, x in zip(task.inputs, images, strict=False)]  # fmt: skip
    state_dir = None if kw.get("state_file") is None else tiles_dir(kw["state_file"])
    echo = _stderr(kw)
    if tile is None:
        tile = _preset_tile(task, sized, kw)
        if tile is not None:  # said once the plan is made, not before an error that stops it
            echo = _after_plan(echo, f"deepprior: restoring in tiles of at most {tile} px, "
                               "each fitted and stopped on its own (the preset's tile size; "
                               "--tile N to change it)")  # fmt: skip
    if tile is None and kw.get("resume") and state_dir and (state_dir / "manifest.json").is_file():
        tile = "auto"  # a run tiled for memory: its manifest has the tile size
    if tile is None:
        need = _whole_need(task, sized, kw)
        if need is None:
            return task.run(*images, **kw)
        echo(f"deepprior: the whole image needs about {need / 2**30:.1f} GiB, more than is "
             "available; restoring it in tiles (--tile auto)")  # fmt: skip
        tile = "auto"
    kw = {k: v for k, v in kw.items() if k not in ("snapshot_dir", "snapshot_every")}
    return solve_tiled(task, *sized, tile=tile, overlap=overlap, state_dir=state_dir,
                       tile_jobs=tile_jobs, tile_warm=tile_warm, echo=echo, **kw)  # fmt: skip


def _after_plan(echo: Callable[[str], None], first: str) -> Callable[[str], None]:
    """``echo`` that prints ``first`` before its first line: :func:`solve_tiled` speaks only
    once its plan is made, so an input that cannot be tiled gets its error alone."""
    pending = [first]

    def say(line: str) -> None:
        while pending:
            echo(pending.pop())
        echo(line)

    return say
