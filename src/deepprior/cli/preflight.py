"""What a restoration subcommand checks before it decodes an image or starts a fit.

Every file the run reads (the input, ``--gt``, ``--mask``, ``--flash``, ``--no-flash``, the
``--resume`` state) is protected from every file it writes (the output, the task's extra
images, ``--report``, the ``--save-every`` snapshots, the fit state), under any spelling of
the path; each output is tried (a temporary file created and removed where the atomic write
will put its own); and the fit's memory is estimated from the image header's size, so that
an image too large is refused in a moment, before it is decoded.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeepPriorError
from ..tasks.registry import Task

__all__ = ["Planned", "planned_files", "preflight", "snapshot_clash"]

#: The snapshots' file names (see :class:`deepprior.callbacks.Snapshots`).
SNAPSHOT_NAME = re.compile(r"step_\d+\.png", re.IGNORECASE)


@dataclass(frozen=True)
class Planned:
    """One file a run reads or writes: what it is (for messages) and the flag that names it."""

    what: str
    path: Path
    flag: str


def planned_files(
    task: Task, opts: dict[str, Any]
) -> tuple[list[Planned], list[Planned], Path | None]:
    """The files a run of ``task`` with the command's ``opts`` reads and writes, and its
    snapshot folder (None without ``--save-every``).

    Example:
        >>> from deepprior.tasks import get_task
        >>> opts = {"image": "in.png", "output": "o.png", "gt": None, "report": None,
        ...         "resume": False, "save_every": 0, "snapshot_dir": None, "factor": 2}
        >>> reads, writes, _ = planned_files(get_task("sr"), opts)
        >>> [str(w.path) for w in writes]
        ['o.png', 'o.bicubic.png', 'o.state.pt']
    """
    out = Path(opts["output"])
    reads = [
        Planned("the input" if o.positional else f"the {o.cli_flag} file", Path(p), o.cli_flag)
        for o in task.inputs
        if (p := opts.get(o.param)) is not None
    ]
    if opts.get("gt"):
        reads.append(Planned("the --gt file", Path(opts["gt"]), "--gt"))
    state = out.with_name(out.stem + ".state.pt")
    if opts.get("resume"):
        reads.append(Planned("the saved fit state", state, "--resume"))
    settings = {o.param: opts.get(o.param) for o in task.options}
    writes = [Planned("the output", out, "-o")]
    writes += [
        Planned(f"the {name} image", out.with_name(f"{out.stem}.{name}.png"), "-o")
        for name in task.extras_for(**settings)
    ]
    if opts.get("report"):
        writes.append(Planned("the report", Path(opts["report"]), "--report"))
    writes.append(Planned("the fit state", state, "-o"))
    snapshots = None
    if opts.get("save_every"):
        snapshots = Path(opts.get("snapshot_dir") or out.with_name(out.stem + "_steps"))
    return reads, writes, snapshots


def snapshot_clash(path: Path, folder: Path) -> bool:
    """True when ``path`` is (or may become) one of the snapshots written into ``folder``,
    under any spelling: itself, through symlinks, or a hard link to a snapshot file.

    Example:
        >>> snapshot_clash(Path("runs/step_000100.png"), Path("runs"))
        True
        >>> snapshot_clash(Path("runs/photo.png"), Path("runs"))
        False
    """
    from ..io import _same_file

    for p in (path, path.resolve()):
        if SNAPSHOT_NAME.fullmatch(p.name) and _same_file(p.parent, folder):
            return True
    if not (path.is_file() and folder.is_dir()):
        return False
    return any(SNAPSHOT_NAME.fullmatch(f.name) and _same_file(f, path) for f in folder.iterdir())


def _protect(kept: Planned, writers: list[Planned], snapshots: Path | None) -> None:
    """Refuse when one of ``writers`` or a snapshot in ``snapshots`` would replace ``kept``."""
    from ..io import _same_file

    for w in writers:
        if kept.flag == "--resume" and w.what == "the fit state":
            continue  # --resume reads the state that the fit then saves
        if _same_file(w.path, kept.path):
            raise DeepPriorError(
                f"refusing to overwrite {kept.what} {kept.path} with {w.what}; "
                f"choose another {w.flag} path"
            )
    if snapshots is not None and snapshot_clash(kept.path, snapshots):
        raise DeepPriorError(
            f"refusing to overwrite {kept.what} {kept.path} with a --save-every snapshot; "
            "choose another --snapshot-dir"
        )


def _refuse_clashes(reads: list[Planned], writes: list[Planned], snapshots: Path | None) -> None:
    """No written file may be a read one, nor two written files the same one."""
    for r in reads:
        _protect(r, writes, snapshots)
    for i, w in enumerate(writes):
        _protect(w, writes[i + 1 :], snapshots)


def _try_creating(folder: Path, name: str, suffix: str) -> None:
    """Create and remove a temporary file in ``folder`` named as the atomic write names its
    own (so a name too long, a read-only or pseudo file system fails now, not after the fit)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}.", suffix=suffix):
            pass
    except OSError as e:
        reason = e.strerror or str(e)
        raise DeepPriorError(
            f"cannot write {folder / name}: {reason}; choose another output path"
        ) from None


def _check_output(w: Planned) -> None:
    """The checks of :func:`~deepprior.io.check_output_path` (or the report's), then a try."""
    from ..io import check_output_path
    from .common import json_output

    try:
        if w.flag == "--report":
            json_output(str(w.path), "--report")
        elif w.path.suffix != ".pt":
            check_output_path(w.path)
    except OSError as e:  # e.g. a name too long for the file system
        raise DeepPriorError(
            f"cannot write {w.path}: {e.strerror or e}; choose another {w.flag} path"
        ) from None
    _try_creating(w.path.parent, w.path.name, w.path.suffix)


def _check_snapshot_dir(folder: Path) -> None:
    """The snapshot folder is a folder (or can be made) in which files can be created."""
    if folder.exists() and not folder.is_dir():
        raise DeepPriorError(
            f"--snapshot-dir {folder} is a file, not a folder; give a folder for the snapshots"
        )
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DeepPriorError(
            f"cannot make the snapshot folder {folder}: {existing} is not a folder; "
            "choose another --snapshot-dir"
        )
    _try_creating(existing, "step_000000.png", ".png")


def header_size(path: str | Path) -> tuple[int, int] | None:
    """(H, W) of an image from its header (Pillow reads no pixel data), or None when the
    header cannot be read; the decoder then says what is wrong with the file.

    Example:
        >>> header_size("no-such-file.png") is None
        True
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (Pillow's size warning: the decoder's to give)
            with Image.open(path) as im:
                w, h = im.size
    except Exception:  # noqa: BLE001 - any unreadable header is the decoder's to report
        return None
    return h, w


def _tiles_instead(
    task: Task, opts: dict[str, Any], settings: dict[str, Any], size: tuple[int, int]
) -> bool:
    """Whether a too-large fit is tiled rather than refused: ``--tile`` was given, or the
    image is larger than one automatic tile and the task's operator can be tiled."""
    from ..tiling import AUTO_MAX_TILE, footprint

    if opts.get("tile") is not None:
        return True
    if size[0] * size[1] <= AUTO_MAX_TILE**2:
        return False
    given = {**settings, **{o.param: opts.get(o.param) for o in task.inputs}}
    try:
        footprint(task.name, given)
    except DeepPriorError:
        return False
    return True


def _check_memory(task: Task, opts: dict[str, Any], net_kwargs: dict[str, Any]) -> None:
    """Refuse, from the first image's header alone, a fit that cannot fit in memory."""
    from ..device import resolve_precision, select_device
    from ..memory import refuse_oversized_fit
    from ..tasks.common import with_user_overrides

    settings = {o.param: opts.get(o.param) for o in task.options}
    first = next((opts[o.param] for o in task.inputs if opts.get(o.param)), None)
    size = None if first is None else header_size(first)
    if opts.get("no_memory_check") or size is None or settings.get("prior", "dip") != "dip":
        return
    if _tiles_instead(task, opts, settings, size):
        return  # the tiler sizes its tiles to the memory (deepprior.tiling)
    given = {k: v for k, v in settings.items() if v is not None}
    preset = task.preset(opts.get("preset"), **given)
    preset = with_user_overrides(preset, {"net": opts.get("net"), "net_kwargs": net_kwargs})
    channels = 1 if opts.get("gray") else 3
    z_channels = {"meshgrid": 2, "guide": channels}.get(preset.input, preset.input_channels)
    device = select_device(opts.get("device", "auto"))
    dtype = resolve_precision(opts.get("precision", "auto"), device)
    refuse_oversized_fit(
        preset.net, z_channels, channels, task.result_size(size, **given), dtype=dtype,
        device=device, runs=max(1, opts.get("restarts") or 1), net_kwargs=preset.net_kwargs,
    )  # fmt: skip


def preflight(task: Task, opts: dict[str, Any], net_kwargs: dict[str, Any]) -> None:
    """Everything a run of ``task`` can check before decoding an image or fitting: no file
    it writes is one it reads (nor another it writes), every output can be created, the
    snapshot folder is a folder, and the fit fits in memory (from the image header's size).

    Raises:
        DeepPriorError: the first problem found, in one line.
    """
    reads, writes, snapshots = planned_files(task, opts)
    _refuse_clashes(reads, writes, snapshots)
    for w in writes:
        _check_output(w)
    if snapshots is not None:
        _check_snapshot_dir(snapshots)
    _check_memory(task, opts, net_kwargs)
