"""Many images in one call: expand files, folders and globs, write one output per input into
a folder, skip what is done, and run the rest one after another, in ``jobs`` processes, or as
Ray tasks (:mod:`deepprior.cluster`).

Each image goes through the same single-image path as ``deepprior TASK INPUT -o OUTPUT``
(:func:`deepprior.cli.restore.run_single`), so a batch writes exactly what one command per
file would: the result, the task's extra images, and the fit's state file
``OUTPUT_STEM.state.pt`` while it runs. An output counts as done when it exists and no state
file is left beside it; a file with a state file is resumed from it. A file that cannot be read
(corrupt, unsupported) or fails in any other way is recorded as ``failed`` and the rest still
run.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import DeepPriorError

__all__ = [
    "FileJob", "FileResult", "TaskRestorer", "expand_inputs", "plan_jobs", "run_batch",
    "run_one", "state_path",
]  # fmt: skip

#: Record statuses: restored, done before (skipped), or not restored (failed, interrupted).
OK, SKIPPED, FAILED, INTERRUPTED = "ok", "skipped", "failed", "interrupted"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class FileJob:
    """One image of a batch: where to read it, where to write it, its clean reference.

    Attributes:
        input: the degraded image.
        output: the result (a PNG in the output folder, named after ``input``).
        gt: a clean image of the same name from ``gt_dir``, or None.
    """

    input: Path
    output: Path
    gt: Path | None = None


@dataclass
class FileResult:
    """What happened to one image of a batch.

    Attributes:
        file: the input path.
        status: ``ok``, ``skipped`` (its output was done before), ``failed`` or
            ``interrupted`` (Ctrl-C; its state is saved and a rerun resumes it).
        seconds: wall time spent on it (0 when skipped).
        psnr: PSNR in dB of the written output against ``gt``, when there is one.
        message: why it failed or was skipped.
        output: the output path.
    """

    file: str
    status: str
    seconds: float = 0.0
    psnr: float | None = None
    message: str = ""
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)


def _is_glob(spec: str) -> bool:
    return any(c in _GLOB_CHARS for c in spec) and not Path(spec).exists()


def _images_in(folder: Path) -> list[Path]:
    from .io.decode import SUPPORTED_READ

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_READ)


def expand_inputs(specs: Iterable[str | os.PathLike]) -> list[Path]:
    """The image files that files, folders and glob patterns name, in order, each once.

    A folder gives its image files (by extension: PNG, JPEG, TIFF, BMP, WebP; not its
    subfolders), sorted by name; a pattern (``*``, ``?``, ``[``) gives its matches, sorted; a
    file is taken as it is, whatever its extension, so that an unreadable one is reported.

    Args:
        specs: files, folders and glob patterns (``photos/*.jpg``, ``**`` for subfolders).

    Returns:
        The files, without repeats.

    Raises:
        DeepPriorError: no specs, a missing file, a folder without images, or a pattern
            that matches no file.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> for n in ("b.png", "a.jpg", "notes.txt"):
        ...     _ = (d / n).write_bytes(b"")
        >>> [p.name for p in expand_inputs([d])]
        ['a.jpg', 'b.png']
    """
    files: list[Path] = []
    for spec in map(str, specs):
        p = Path(spec)
        if p.is_dir():
            found = _images_in(p)
            if not found:
                raise DeepPriorError(
                    f"the folder {p} holds no images (.png, .jpg, .tif, .bmp, .webp); "
                    "give a folder with images in it"
                )
        elif _is_glob(spec):
            found = sorted(Path(m) for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            if not found:
                raise DeepPriorError(f"the pattern {spec!r} matches no file; check it")
        elif p.is_file():
            found = [p]
        else:
            raise DeepPriorError(f"input {p} does not exist; check the path")
        files += found
    if not files:
        raise DeepPriorError("no input given; name files, folders or patterns")
    return list(dict.fromkeys(files))


def state_path(output: Path) -> Path:
    """The fit's state file beside ``output`` (as ``run_task`` names it)."""
    return output.with_name(output.stem + ".state.pt")


def _is_done(output: Path) -> bool:
    """Written by a finished fit: the output exists and no state is left to resume."""
    return output.is_file() and not state_path(output).exists()


def _reference(gt_dir: Path | None, image: Path) -> Path | None:
    """The clean image of ``image`` in ``gt_dir``: the same name, else the same stem."""
    if gt_dir is None:
        return None
    same = gt_dir / image.name
    if same.is_file():
        return same
    return next(iter(sorted(gt_dir.glob(glob.escape(image.stem) + ".*"))), None)


def plan_jobs(
    files: Sequence[Path], output_dir: str | os.PathLike, *, gt_dir: str | os.PathLike | None = None
) -> list[FileJob]:
    """One job per input: its output ``OUTPUT_DIR/STEM.png`` and its reference in ``gt_dir``.

    Args:
        files: the inputs (from :func:`expand_inputs`).
        output_dir: the folder of the results (created by :func:`run_batch`).
        gt_dir: a folder of clean references with the inputs' names (or stems), or None.

    Returns:
        The jobs, in the order of ``files``.

    Raises:
        DeepPriorError: two inputs would give the same output name, an output would be one
            of the inputs, or ``gt_dir`` is not a folder.

    Example:
        >>> [str(j.output) for j in plan_jobs([Path("a/x.jpg"), Path("b/y.png")], "out")]
        ['out/x.png', 'out/y.png']
    """
    out_dir = Path(output_dir)
    gt = Path(gt_dir) if gt_dir is not None else None
    if gt is not None and not gt.is_dir():
        raise DeepPriorError(
            f"gt_dir {gt} is not a folder; give the folder of clean images", param="gt_dir"
        )
    inputs = {p.resolve(): p for p in files}
    taken: dict[Path, Path] = {}
    jobs = []
    for f in files:
        out = out_dir / (f.stem + ".png")
        if out.resolve() in inputs:
            raise DeepPriorError(
                f"refusing to overwrite the input {inputs[out.resolve()]}; choose another "
                "output folder"
            )
        if out in taken:
            raise DeepPriorError(
                f"{taken[out]} and {f} would both be written to {out}; restore them in "
                "separate runs or rename one"
            )
        taken[out] = f
        jobs.append(FileJob(f, out, _reference(gt, f)))
    return jobs


@dataclass
class TaskRestorer:
    """Restore one file with a task's single-image command path; picklable, so it runs in
    worker processes and Ray tasks alike.

    Attributes:
        task: the task name (``denoise``, ``sr``, ...).
        options: the subcommand's options by their Python names (``iters``, ``net``,
            ``net_args``, ``seed``, ``state_every``, the task's own such as ``factor``);
            the rest take the command's defaults.
    """

    task: str
    options: dict[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """The command's options with their defaults, overridden by :attr:`options`."""
        from .cli.restore import task_subcommand
        from .tasks import get_task

        cmd = task_subcommand(get_task(self.task))
        ctx = cmd.make_context(self.task, ["in.png", "-o", "out.png"])
        opts = {**ctx.params, **self.options}
        unknown = set(self.options) - set(ctx.params)
        if unknown:
            raise DeepPriorError(
                f"unknown option(s) {', '.join(sorted(unknown))} for {self.task}; see "
                f"deepprior {self.task} --help", param="options",
            )  # fmt: skip
        return opts

    def __call__(self, job: FileJob) -> None:
        """Restore ``job.input`` into ``job.output``, resuming its saved state if any."""
        from .cli.restore import run_single
        from .tasks import get_task

        opts = self.defaults()
        snapshots = opts.get("snapshot_dir")
        opts.update(
            image=str(job.input), output=str(job.output), report=None,
            gt=str(job.gt) if job.gt else None, resume=state_path(job.output).is_file(),
            snapshot_dir=str(Path(snapshots) / job.output.stem) if snapshots else None,
        )  # fmt: skip
        run_single(get_task(self.task), opts)


def _psnr(output: Path, gt: Path) -> float:
    from .io import load_image
    from .metrics import psnr

    out = load_image(output)
    return psnr(out, load_image(gt, channels=out.shape[0]))


def run_one(work: Callable[[FileJob], None], job: FileJob) -> FileResult:
    """Run ``work(job)`` and say how it went: a failure becomes a record, not an exception.

    Args:
        work: the per-image function (e.g. a :class:`TaskRestorer`).
        job: the image.

    Returns:
        Its record (``ok`` with the PSNR against ``job.gt``; ``failed`` with the message).
    """
    from .cli.common import error_message

    t0 = time.perf_counter()
    rec = FileResult(str(job.input), OK, output=str(job.output))
    try:
        work(job)
        if job.gt is not None:
            rec.psnr = round(_psnr(job.output, job.gt), 3)
    except DeepPriorError as e:
        rec.status, rec.message = FAILED, error_message(e)
    except SystemExit as e:  # run_task exits after saving an interrupted fit
        rec.status, rec.message = INTERRUPTED, f"interrupted (exit {e.code}); rerun to resume"
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the batch
        rec.status, rec.message = FAILED, f"{type(e).__name__}: {' '.join(str(e).split())}"
    rec.seconds = round(time.perf_counter() - t0, 3)
    return rec


def _pool_task(work: Callable[[FileJob], None], job: FileJob) -> FileResult:
    """A worker process's job: on this worker's device (set by the pool's initializer)."""
    from .bench.tables import runner

    device = runner._WORKER_DEVICE
    if isinstance(work, TaskRestorer) and device and device.startswith("cuda"):
        work = TaskRestorer(work.task, {**work.options, "device": device})
    return run_one(work, job)


def _run_pool(
    work: Callable[[FileJob], None], jobs: list[FileJob], n: int, done: Callable
) -> list[FileResult]:
    """Run ``jobs`` in ``n`` spawned processes: cores / n torch threads each, or one GPU."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .bench.tables.runner import _init_worker, job_devices, threads_per_job

    device = getattr(work, "options", {}).get("device", "auto")
    devices = job_devices(device, n)
    if devices[0].startswith("cuda"):  # one process per GPU
        n = len(set(devices))
        devices = devices[:n]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for d in devices:
        queue.put(d)
    init = (threads_per_job(n), queue)
    records = []
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=init) as pool:
        futures = {pool.submit(_pool_task, work, j): j for j in jobs}
        for fut in as_completed(futures):
            try:
                rec = fut.result()
            except Exception as e:  # noqa: BLE001 - a worker process died (BrokenProcessPool)
                job = futures[fut]
                why = f"its worker process died: {type(e).__name__}"
                rec = FileResult(str(job.input), FAILED, output=str(job.output), message=why)
            records.append(done(rec))
    return records


def _run_here(work: Callable, jobs: list[FileJob], done: Callable) -> list[FileResult]:
    """Run ``jobs`` one after another in this process; stop after an interrupted one."""
    records = []
    for job in jobs:
        records.append(done(run_one(work, job)))
        if records[-1].status == INTERRUPTED:
            break
    return records


def run_batch(
    work: Callable[[FileJob], None] | str,
    inputs: Iterable[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    force: bool = False,
    jobs: int = 1,
    gt_dir: str | os.PathLike | None = None,
    ray: str | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    **options: Any,
) -> list[FileResult]:
    """Restore every image that ``inputs`` names into ``output_dir``, one output per input.

    Args:
        work: a task name (then ``options`` are its command's options, see
            :class:`TaskRestorer`) or a picklable per-image function of a :class:`FileJob`.
        inputs: files, folders and glob patterns (see :func:`expand_inputs`).
        output_dir: the folder of the results (created if missing); on a Ray cluster it must
            be storage that every node sees at the same path.
        force: redo the images whose output is done (and drop their saved states).
        jobs: processes in parallel (CPU: cores / jobs torch threads each; with GPUs, one
            process per GPU, at most ``jobs``).
        gt_dir: a folder of clean images named as the inputs: the records get their PSNR.
        ray: run each image as a Ray task: ``"local"`` starts a local cluster, else the
            address of a running one (see :func:`deepprior.cluster.connect`).
        on_result: called with each record as it is ready (skipped ones first).
        **options: with a task name, its options (``iters=100``, ``net="hourglass2"``).

    Returns:
        The records: skipped ones first, then the others as they finish.

    Raises:
        DeepPriorError: bad inputs (see :func:`expand_inputs`, :func:`plan_jobs`), ``jobs``
            below 1, an output folder that cannot be made, or a Ray cluster that does not
            answer.

    Example:
        >>> recs = run_batch("denoise", ["photos/"], "out/", iters=200)  # doctest: +SKIP
        >>> [(r.file, r.status) for r in recs]  # doctest: +SKIP
        [('photos/a.png', 'ok'), ('photos/b.jpg', 'failed')]
    """
    if jobs < 1:
        raise DeepPriorError(f"jobs must be at least 1, got {jobs}", param="jobs")
    if isinstance(work, str):
        work = TaskRestorer(work, options)
        work.defaults()  # unknown options fail here, before any fit
    planned = plan_jobs(expand_inputs(inputs), output_dir, gt_dir=gt_dir)
    _make_dir(Path(output_dir))
    done = _reporter(on_result)
    records, todo = [], []
    for job in planned:
        if force:
            state_path(job.output).unlink(missing_ok=True)
        elif _is_done(job.output):
            records.append(done(FileResult(str(job.input), SKIPPED, output=str(job.output),
                                           message="done before; --force redoes it")))  # fmt: skip
            continue
        todo.append(job)
    if ray is not None:
        from .cluster import connect, run_on_ray

        connect(ray)
        return records + run_on_ray(work, todo, done=done)
    if jobs > 1 and len(todo) > 1:
        return records + _run_pool(work, todo, min(jobs, len(todo)), done)
    return records + _run_here(work, todo, done)


def _reporter(on_result: Callable[[FileResult], None] | None) -> Callable:
    def done(rec: FileResult) -> FileResult:
        if on_result is not None:
            on_result(rec)
        return rec

    return done


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeepPriorError(f"cannot create the output folder {path}: {e.strerror}") from None
