"""Tiles fitted side by side, one worker process per CPU core (``--tile-jobs``).

A small fit uses many CPU threads poorly: the auto denoiser's 160 px tile steps in 0.067 s on
one thread of a 2-core AMD EPYC and in 0.048 s on both (1.4 times faster), whereas two
single-threaded fits side by side finish two tiles in about the time of one. So on a CPU a
tiled run with several remaining tiles fits them in parallel processes, each with its share
of the threads. Each tile's fit is the same as in a serial run (same seed, same settings),
so is its result, up to the floating-point order of a different thread count.

The parent process keeps the run's bookkeeping: it hands each worker a tile's crops, saves
each finished tile (:class:`deepprior.tiling._TileStore`) and prints one line per tile. On
Ctrl-C or SIGTERM (``timeout``, a process manager) the parent passes one SIGTERM on to the
workers, whose fits stop at a step boundary and save their tile's state, as a serial run's
fit does. A second interrupt ends the workers at once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import torch

from .errors import DeepPriorError

if TYPE_CHECKING:
    from .tasks.base import Result
    from .tasks.registry import Task
    from .tiling import Tile, TilePlan

__all__ = ["AUTO_MIN_SECONDS", "choose_jobs"]

#: ``auto`` runs tiles in parallel only when the serial run is estimated to take at least
#: this long: starting a worker (importing torch) takes a few seconds.
AUTO_MIN_SECONDS = 60.0
#: Resident memory of a worker process beyond its fit's estimate (torch and its libraries).
WORKER_OVERHEAD_BYTES = 400 * 2**20


def choose_jobs(requested: int | str, remaining: int, *, device: str, threads: int,
                serial_seconds: float | None, tile_bytes: int,
                budget: int | None) -> int:  # fmt: skip
    """How many tiles to fit at once.

    Args:
        requested: a number of processes, or ``auto``: one per CPU thread this process may
            use, on a CPU, when at least two tiles remain and the serial run is estimated
            to take at least :data:`AUTO_MIN_SECONDS`, as many as the memory holds.
        remaining: the tiles still to fit.
        device: the fits' device type (``cpu``, ``cuda`` ...).
        threads: the CPU threads this process may use (``torch.get_num_threads()``).
        serial_seconds: the serial run's estimated seconds (None: unknown).
        tile_bytes: one tile's estimated fit memory; ``budget``: the bytes available.

    Returns:
        The number of worker processes; 1 runs the tiles in this process.

    Example:
        >>> choose_jobs("auto", 16, device="cpu", threads=2, serial_seconds=3000.0,
        ...             tile_bytes=2**27, budget=2**33)
        2
        >>> choose_jobs("auto", 16, device="cpu", threads=2, serial_seconds=5.0,
        ...             tile_bytes=2**27, budget=2**33)
        1
        >>> choose_jobs(4, 3, device="cpu", threads=2, serial_seconds=None, tile_bytes=0,
        ...             budget=None)
        3
    """
    if requested != "auto":
        return max(1, min(int(requested), remaining))
    if device != "cpu" or remaining < 2 or threads < 2:
        return 1
    if serial_seconds is None or serial_seconds < AUTO_MIN_SECONDS:
        return 1
    fit_in_memory = threads if budget is None else budget // (tile_bytes + WORKER_OVERHEAD_BYTES)
    return max(1, min(threads, remaining, int(fit_in_memory)))


def _init_worker(threads: int) -> None:
    """A worker: its share of the threads. It ignores Ctrl-C (the parent passes every stop on
    as SIGTERM, once) and SIGTERM between fits: an interrupt between two tiles would end the
    process, and with it the pool and the other workers' fits."""
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _fit_tile(task: Task, crops: list[Any], tile: Tile,
              kw: dict[str, Any]) -> tuple[Result, dict[str, Any]]:  # fmt: skip
    """In a worker: one tile's fit and its images (context cropped away); the result comes
    back with those in place of its full-size images, which need not travel."""
    from .signals import sigterm_to_interrupt
    from .tiling import _release_memory, _tile_images, _tile_run

    signal.signal(signal.SIGTERM, sigterm_to_interrupt)  # the fit stops at a step boundary
    try:
        res = _tile_run(task, crops, tile.fit, kw)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    images = _tile_images(res, tile)
    res.image, res.last, res.ema, res.extras = images["image"], images["image"], None, {}
    _release_memory()
    return res, images


def _signal_workers(sig: int) -> None:
    for child in mp.active_children():
        try:
            os.kill(child.pid, sig)  # type: ignore[arg-type]
        except (ProcessLookupError, TypeError):
            pass


def run_parallel(
    task: Task, plan: TilePlan, todo: Sequence[Tile], jobs: int, threads: int,
    crops: Callable[[Tile], list[Any]], tile_kw: Callable[[Tile], dict[str, Any]],
    finished: Callable[[Tile, Result, dict[str, Any]], None], echo: Callable[[str], None],
    step_seconds: float | None = None, ready: Callable[[Tile], bool] = lambda t: True,
) -> tuple[Result | None, bool]:  # fmt: skip
    """Fit the tiles ``todo`` in ``jobs`` worker processes of ``threads`` threads each.

    ``crops(tile)`` and ``tile_kw(tile)`` give a tile's inputs and fit settings;
    ``finished(tile, result, images)`` is called in this process as each tile ends. New tiles are
    started until an interrupt, each free worker taking the first tile in ``todo`` that is
    ``ready`` (a warm-started tile waits for the tile it starts from); the tiles running then
    stop at a step boundary, save their state and are reported as interrupted.
    ``step_seconds``: one tile step's time on ``threads`` threads, for the printed estimate.

    Returns:
        The last tile's result and whether the run was interrupted.
    """
    ctx = mp.get_context("spawn")
    queue = list(todo)
    last: Result | None = None
    interrupted = forced = False
    line = (f"tiling: {min(jobs, len(queue))} tiles at a time, in processes of {threads} "
            f"thread{'s' if threads > 1 else ''}")  # fmt: skip
    if step_seconds is not None:
        from .tiling import _duration

        rounds = -(-len(queue) // jobs)  # the slowest case: every tile runs to its cap
        line += (f", at most {_duration(rounds * plan.iters * step_seconds)} ("
                 f"{step_seconds:.3f} s per tile step on {threads} thread"
                 f"{'s' if threads > 1 else ''}, measured)")  # fmt: skip
    echo(line)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(threads,))  # fmt: skip
    running: dict[Future, Tile] = {}

    def start_next() -> None:
        """Start ready tiles while a worker is free."""
        while len(running) < jobs and not interrupted:
            t = next((t for t in queue if ready(t)), None)
            if t is None:
                return
            queue.remove(t)
            echo(f"tile {t.index + 1}/{len(plan.tiles)}")
            running[pool.submit(_fit_tile, task, crops(t), t, tile_kw(t))] = t

    try:
        start_next()
        while running:
            try:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                if interrupted:  # a second interrupt: end the workers at once
                    forced = True
                    raise
                interrupted = True
                _signal_workers(signal.SIGTERM)
                continue
            for fut in done:
                t = running.pop(fut)
                try:
                    res, images = fut.result()
                except KeyboardInterrupt:  # stopped before its fit began
                    interrupted = True
                    continue
                except BrokenProcessPool:
                    if interrupted:  # a worker ended while the run was being stopped
                        continue
                    raise DeepPriorError(
                        f"the process fitting tile {t.index + 1} ended abruptly (out of memory?); "
                        "rerun with tile_jobs=1 or a smaller tile (resuming keeps the finished "
                        "tiles)", param="tile_jobs",
                    ) from None  # fmt: skip
                last = res
                interrupted = interrupted or res.interrupted
                finished(t, res, images)
                start_next()
    except BaseException:
        forced = True
        raise
    finally:
        if forced:
            for child in mp.active_children():
                child.terminate()
        pool.shutdown(wait=not forced, cancel_futures=True)
    return last, interrupted
