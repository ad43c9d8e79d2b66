"""Batches on a Ray cluster: one Ray task per image (``deepprior TASK photos/ -o out/ --ray``).

Needs the optional extra ``cluster`` (``pip install 'deepprior[cluster]'``, which installs
``ray``). Each task restores one image with the same per-image function as a local batch
(:func:`deepprior.batch.run_one`) and writes its output and its fit state
(``OUTPUT_STEM.state.pt``, every ``state_every`` steps) into the output folder, which must
therefore be storage that every node sees at the same path (NFS, a cluster file system). When
a task's worker dies (a node lost, a process killed), Ray runs the task again, up to
``max_retries`` times, and the new attempt resumes from the last saved state, so the steps
already done are not redone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from .batch import FAILED, FileJob, FileResult, run_one
from .errors import DeepPriorError

__all__ = ["connect", "run_on_ray"]

#: Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT = 5.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DeepPriorError(
            "ray runs need the optional package ray; install it with "
            "pip install 'deepprior[cluster]'", param="ray",
        ) from None  # fmt: skip
    return ray


def _check_answers(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at ``host:port`` (``ray.init`` would wait a minute)."""
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise DeepPriorError(
            f"the Ray address {address!r} is not host:port (or ray://host:port, or auto)",
            param="ray",
        )  # fmt: skip
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise DeepPriorError(
            f"ray: no Ray cluster answers at {address} ({e.strerror or e}); start one with "
            "'ray start --head' on the head node, or check the address", param="ray",
        ) from None  # fmt: skip


def connect(address: str | None = None, *, timeout: float = CONNECT_TIMEOUT) -> None:
    """Connect this process to a Ray cluster, or start a local one.

    Does nothing when Ray is already initialised in this process (e.g. by ``ray.init`` in a
    script or a test).

    Args:
        address: ``None`` or ``"local"``: start a cluster on this machine (or join the one
            that ``RAY_ADDRESS`` names, as under ``ray job submit``); ``"auto"``: the
            cluster started on this machine with ``ray start``; ``"host:port"`` or
            ``"ray://host:port"`` (Ray Client): a running cluster.
        timeout: seconds to wait for ``address`` to answer.

    Raises:
        DeepPriorError: ray is not installed, or no cluster answers at ``address``.

    Example:
        >>> connect("127.0.0.1:1")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        deepprior.errors.DeepPriorError: ray: no Ray cluster answers at 127.0.0.1:1 ...
    """
    local = address in (None, "local")
    if not local and address != "auto":
        _check_answers(address, timeout)
    ray = _import_ray()
    if ray.is_initialized():
        return
    try:
        if local:  # under `ray job submit`, RAY_ADDRESS names the job's cluster: join it
            quiet = {} if os.environ.get("RAY_ADDRESS") else {"include_dashboard": False}
            ray.init(logging_level="warning", **quiet)
        else:
            ray.init(address=address, logging_level="warning")
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise DeepPriorError(
            f"ray: cannot connect to the Ray cluster at {address}: {' '.join(str(e).split())[:200]}"
            "; start one with 'ray start --head', or check the address", param="ray",
        ) from None  # fmt: skip


def _ray_task(work: Callable[[FileJob], None], job: FileJob) -> FileResult:
    """One image on a Ray worker, with as many torch threads as the task was given CPUs."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    return run_one(work, job)


def run_on_ray(
    work: Callable[[FileJob], None],
    jobs: list[FileJob],
    *,
    done: Callable[[FileResult], FileResult] = lambda r: r,
    max_retries: int = 3,
    cpus_per_task: float = 1,
) -> list[FileResult]:
    """Run ``work`` on each job as a Ray task on the connected cluster (see :func:`connect`).

    Args:
        work: the picklable per-image function (e.g. :class:`deepprior.batch.TaskRestorer`).
        jobs: the images; their outputs must be on storage that every node sees.
        done: called with each record as it is ready; its value is what is kept.
        max_retries: new attempts of a task whose worker died; each resumes the saved state.
        cpus_per_task: CPUs (torch threads) per task; a task takes one GPU when the cluster
            has GPUs.

    Returns:
        The records, in the order the tasks finished.

    Example:
        >>> from deepprior.batch import TaskRestorer, plan_jobs
        >>> connect()  # doctest: +SKIP
        >>> jobs = plan_jobs([Path("a.png")], "out")  # doctest: +SKIP
        >>> run_on_ray(TaskRestorer("denoise", {"iters": 100}), jobs)  # doctest: +SKIP
        [FileResult(file='a.png', status='ok', ...)]
    """
    ray = _import_ray()
    gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    remote = ray.remote(_ray_task).options(
        num_cpus=cpus_per_task, num_gpus=gpus, max_retries=max_retries, retry_exceptions=False
    )
    refs = {remote.remote(work, job): job for job in jobs}
    pending, records = list(refs), []
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            job = refs[ready[0]]
            try:
                rec = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                rec = FileResult(
                    str(job.input), FAILED, output=str(job.output),
                    message=f"its Ray task failed after {max_retries} retries: "
                    f"{type(e).__name__}",
                )  # fmt: skip
            records.append(done(rec))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        raise
    return records
