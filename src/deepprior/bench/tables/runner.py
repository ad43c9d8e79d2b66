"""The generic table runner: run (or resume) a table image by image, each in this process or
in worker processes, write one JSON record per image as soon as it is done, then the Markdown
report. What differs between tables is asked of the table (:mod:`.registry`), never by name.

A rerun reads the records in the output folder and skips every image whose record has the
same ``settings`` (a record made with other settings is redone and overwritten).
"""

from __future__ import annotations

import glob
import io
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ...callbacks import ProgressLog
from ...errors import DeepPriorError, StateMismatch
from ...finite import dumps_strict
from .. import baselines as bl
from .. import data as bd
from .options import (
    SCHEMA,
    BenchOptions,
    all_names,
    list_items,
    preset_changes,
    same_settings,
    settings_of,
)

# Method labels, in the order of the report's columns.
LABELS: dict[str, str] = {
    "dip": "DIP",
    "dip_last": "DIP last iterate",
    "dip_ema": "DIP EMA",
    "dip_two_runs": "DIP 2 runs (EMA)",
    "dip_two_runs_last": "DIP 2 runs (last)",
    "bicubic": "bicubic",
    "lanczos": "Lanczos",
    "no_prior": "no prior",
    "tv_prior": "TV prior",
    "nlm": "NL-means",
    "tv_chambolle": "TV (Chambolle)",
    "bm3d": "CBM3D",
    "telea": "Telea",
    "navier_stokes": "Navier-Stokes",
    "biharmonic": "biharmonic",
    "zs_n2n": "ZS-N2N",
    "input": "input",
}

# --------------------------------------------------------------------------------------------
# Running one image
# --------------------------------------------------------------------------------------------


def git_commit() -> str | None:
    """The commit of the checkout this code runs from (None outside a git checkout)."""
    root = bd.repo_root()
    if root is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
            timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _stop_and_curve(res: Any) -> dict[str, Any]:
    """Where a fit stopped and why, its PSNR curve against the reference (step, seconds,
    PSNR of the iterate and of its EMA, and the training loss at those steps, which tells a
    loss spike from overfitting), and the curve's best point: the oracle stop."""
    tiles = res.report.get("tiles")
    if tiles is not None:  # a tiled fit: each tile stopped on its own, with its own curve
        return _tiles_stop(tiles)
    h = res.history
    out: dict[str, Any] = {
        "stop_reason": res.report.get("stop_reason"),
        "best_step": (h.get("best_step") or [None])[0],
    }
    if h.get("psnr_step"):
        curve = {"step": h["psnr_step"], "seconds": h.get("psnr_seconds", []), "psnr": h["psnr"]}
        if h.get("psnr_ema"):
            curve["psnr_ema"] = h["psnr_ema"]
        if loss := h.get("loss"):
            curve["loss"] = [_loss_at(loss, s) for s in curve["step"]]
        key = "psnr_ema" if "psnr_ema" in curve else "psnr"
        i = max(range(len(curve[key])), key=curve[key].__getitem__)
        out["curve"] = curve
        out["oracle"] = {"step": curve["step"][i], "psnr": curve[key][i], "of": key}
        # the fit's output (before post-filters), measured as the curve is
        final = unfiltered_psnr(res.metrics.get("psnr"), res.report.get("post"))
        if final is not None:
            out["oracle"]["gap"] = round(curve[key][i] - final, 3)
    return out


def _loss_at(loss: list[float], step: int) -> float | None:
    """The training loss of step ``step`` (1-based) to 6 digits; None where there is none.

    Example:
        >>> nan = float("nan")
        >>> _loss_at([0.5, 0.25, nan], 2), _loss_at([0.5], 3), _loss_at([0.5, 0.25, nan], 3)
        (0.25, None, None)
    """
    v = float(loss[step - 1]) if 0 < step <= len(loss) else math.nan
    return float(f"{v:.6g}") if math.isfinite(v) else None


def unfiltered_psnr(psnr: float | None, post: Any) -> float | None:
    """The PSNR of a fit's own output, before the preset's post-filters (``post``: the
    report's records, a list, or one dict in older records): a stop gap measures the stop,
    not the filters, which may lift the output above every iterate on the curve.

    Example:
        >>> post = [{"filter": "wiener", "applied": True, "psnr": [29.5, 30.1]}]
        >>> unfiltered_psnr(30.1, post), unfiltered_psnr(30.1, None)
        (29.5, 30.1)
    """
    recs = post if isinstance(post, list) else [post] if isinstance(post, dict) else []
    first = next((r for r in recs if r.get("psnr")), None)
    return psnr if first is None else first["psnr"][0]


def _tiles_stop(tiles: dict[str, Any]) -> dict[str, Any]:
    """The stop of a tiled fit: the tiles' fits, and the oracle gap as the mean (and the
    worst) over tiles of the best PSNR on a tile's curve minus its output's PSNR (before
    post-filters), both over the tile's own area (an image-level best step does not exist:
    each tile has its own)."""
    fits = tiles.get("fits", [])
    out: dict[str, Any] = {"stop_reason": "per tile", "best_step": None,
                           "tiles": dict(tiles)}  # fmt: skip
    gaps = [f["best_psnr"] - unfiltered_psnr(f["psnr"], f.get("post")) for f in fits
            if f.get("best_psnr") is not None and f.get("psnr") is not None]  # fmt: skip
    if gaps:
        out["oracle"] = {"of": "per-tile", "gap": round(sum(gaps) / len(gaps), 3),
                         "gap_max": round(max(gaps), 3), "tiles": len(gaps)}  # fmt: skip
    return out


class _Runner:
    """Collects the images of the methods of one table row, with their timings."""

    # The fits save their state this often, so a rerun resumes an interrupted image.
    STATE_EVERY, STATE_SECONDS = 10, 120.0
    # Without progress bars, a line this often (s) says how far a long fit is.
    LOG_SECONDS = 600.0

    def __init__(self, opts: BenchOptions, image: str | None = None,
                 log: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.opts = opts
        self.image = image
        self.log = log or (lambda line: None)
        self.images: dict[str, torch.Tensor] = {}
        self.seconds: dict[str, float] = {}
        self.fits: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}

    def fit_kwargs(self, gt: torch.Tensor) -> dict[str, Any]:
        return {
            "preset": self.opts.fit_preset,
            "iters": self.opts.effective_iters(), "seed": self.opts.seed,
            "device": self.opts.device, "precision": self.opts.precision, "gt": gt,
            "progress": self.opts.progress,
            "metrics_every": 10,  # the PSNR curve's resolution, for the oracle stop
            **({"tile_jobs": self.opts.tile_jobs} if self.opts.tile_jobs > 1 else {}),
            **({"tile_warm": self.opts.warm} if self.opts.spec.fit_task else {}),
        }  # fmt: skip

    def pixel_fit_kwargs(self, kw: dict[str, Any], paper_preset: str) -> dict[str, Any]:
        """``kw`` for the no-prior and TV-prior baselines, which optimise the pixels: always
        the table's paper preset (its steps and no stopping rule), whatever preset the DIP
        fits use. A held-out pixel of a pixel-wise task is never updated, so a held-out rule
        would stop such a fit after its patience, at its starting image."""
        return {**kw, "preset": paper_preset}

    def state_file(self, method: str) -> Path | None:
        """Where the fit of ``method`` on this image keeps its state while it runs."""
        if self.image is None:
            return None
        return self.opts.out_dir() / f"{self.image}.{method}.state.pt"

    def done_file(self, method: str) -> Path | None:
        """Where the finished fit of ``method`` waits for the image's record: a rerun after an
        interruption during a later method takes it instead of fitting again."""
        if self.image is None:
            return None
        return self.opts.out_dir() / f"{self.image}.{method}.done.pt"

    def _done_key(self, name: str, args: tuple[Any, ...]) -> str:
        """What a saved finished fit must share with this one: the table's settings, the
        method and its input images."""
        import hashlib

        h = hashlib.sha256(dumps_strict([settings_of(self.opts), name], default=str).encode())
        for a in args:
            if isinstance(a, torch.Tensor):
                h.update(a.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def _load_done(self, name: str, key: str) -> Any:
        from ...tasks.base import Result

        df = self.done_file(name)
        if df is None or not df.is_file():
            return None
        try:
            d = torch.load(df, map_location="cpu", weights_only=True)
        except Exception:  # a damaged file: fit again
            return None
        if d.get("key") != key:
            return None
        self.log(f"{self.image}: {name}: taking the finished fit saved in {df.name}")
        self.seconds[name], self.fits[name] = d["seconds"], json.loads(d["fit"])
        return Result(image=d["image"], last=d["last"], ema=d.get("ema"), extras=d["extras"],
                      metrics=json.loads(d["metrics"]), history=json.loads(d["history"]),
                      report=json.loads(d["report"]))  # fmt: skip

    def _save_done(self, name: str, key: str, res: Any) -> None:
        from ...io import atomic_write_bytes

        df = self.done_file(name)
        if df is None:
            return
        buf = io.BytesIO()
        torch.save({"key": key, "seconds": self.seconds[name], "image": res.image,
                    "last": res.last, "ema": res.ema, "extras": dict(res.extras),
                    "fit": dumps_strict(self.fits[name], default=str),
                    "metrics": dumps_strict(res.metrics, default=str),
                    "history": dumps_strict(res.history, default=str),
                    "report": dumps_strict(res.report, default=str)}, buf)  # fmt: skip
        atomic_write_bytes(df, buf.getvalue())

    def fit(self, name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        key = self._done_key(name, args)
        done = self._load_done(name, key)
        if done is not None:
            return done
        t0 = time.perf_counter()
        sf = self.state_file(name)
        if not self.opts.progress and kw.get("tile_jobs", 1) > 1:
            kw["progress"] = "log"  # tiles in parallel take no whole-run callback: plain lines
        elif not self.opts.progress and self.image is not None:
            line = ProgressLog(self.log, self.LOG_SECONDS, f"{self.image}: {name}")
            kw["callbacks"] = [*kw.get("callbacks", ()), line]
        if sf is not None:
            from ...tiling import tiles_dir

            # A tiled fit interrupted in its first tile has a tile's state but no manifest yet.
            tiles = tiles_dir(sf)
            resume = sf.is_file() or (tiles.is_dir() and any(tiles.iterdir()))
            kw.update(state_file=sf, state_every=self.STATE_EVERY,
                      state_seconds=self.STATE_SECONDS, resume=resume)  # fmt: skip
            if tiles.is_dir() and any(tiles.iterdir()):
                self.log(f"{self.image}: {name}: resuming the tiles saved in {tiles.name}/")
            elif sf.is_file():  # a preset that now tiles starts its tiles afresh beside it
                self.log(f"{self.image}: {name}: resuming the fit saved in {sf.name} if this "
                         "fit is of the whole image")  # fmt: skip
        try:
            res = fn(*args, **kw)
        except StateMismatch as e:
            assert sf is not None
            # Kept aside, not deleted: hours of fitting may be in it (e.g. a state from before
            # an upgrade that changed the preset's settings), and the new fit saves over sf.
            stale = sf.with_name(sf.name.replace(".state.pt", ".stale.state.pt"))
            if sf.is_file():
                sf.replace(stale)
            self.log(f"{self.image}: {name}: {e}; kept it as {stale.name}, starting afresh")
            res = fn(*args, **{**kw, "resume": False})
        r = res.report
        # A resumed fit: add the fitting time of the earlier runs to this one's.
        earlier = max(0.0, r.get("fit_seconds", 0.0) - r.get("seconds", 0.0))
        self.seconds[name] = round(time.perf_counter() - t0 + earlier, 3)
        if (r.get("tiles") or {}).get("jobs", 1) > 1:  # tiles side by side: their own seconds
            self.seconds[name] = float(r.get("fit_seconds") or self.seconds[name])
        self.fits[name] = {
            k: r.get(k)
            for k in ("prior", "restarts", "settings", "iters_run", "seconds", "seconds_per_iter",
                      "device", "dtype", "canvas", "net_parameters", "backtracks", "interrupted",
                      "resumed_from", "fit_seconds", "hosts")
        }  # fmt: skip
        self.fits[name]["preset"] = r.get("preset")
        self.fits[name].update(_stop_and_curve(res))
        if res.interrupted:
            raise KeyboardInterrupt
        self._save_done(name, key, res)
        return res

    def baseline(self, name: str, fn: Callable[..., torch.Tensor], *args: Any) -> None:
        if not self.opts.baselines:
            return
        if name in self.opts.skip:
            self.skipped[name] = "--skip"
            return
        why = bl.missing(name)
        if why is not None:
            self.skipped[name] = why
            return
        t0 = time.perf_counter()
        self.images[name] = fn(*args)
        self.seconds[name] = round(time.perf_counter() - t0, 3)


def paper_numbers(opts: BenchOptions, paper: dict[str, Any], name: str) -> dict[str, Any]:
    """The paper's numbers for one image: ``per_image`` (our method -> dB), ``paper_only``
    (methods we do not run -> dB) and ``mean_only`` (tables with only a mean)."""
    out: dict[str, Any] = {
        "per_image": {}, "paper_only": {}, "mean_only": {}, "source": paper.get("source"),
    }  # fmt: skip
    spec = opts.spec
    if not paper or not spec.has_paper_numbers():
        return out
    try:
        spec.paper_numbers(paper, name, out)
    except (KeyError, ValueError, IndexError):
        pass
    return out


def record_path(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.json"


def run_image(
    opts: BenchOptions, item: dict[str, Any], data_dir: str, settings: dict[str, Any],
    paper: dict[str, Any], commit: str | None, log: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run every method of the table on one image; write and return its record.

    While a fit runs, its state is saved beside the records now and then, so that a rerun
    after an interruption resumes it rather than starting the image over.
    """
    from ...io import atomic_write_text

    t0 = time.perf_counter()
    spec = opts.spec
    run = _Runner(opts, item["name"], log)
    geo = spec.run(item, run)
    ref = geo.pop("ref")
    extra = geo.pop("extra")
    metrics = {m: spec.measure(img, ref, **extra) for m, img in run.images.items()}
    files = {"image": bd.file_info(Path(data_dir), Path(item["image"]))}
    if "mask" in item:
        files["mask"] = bd.file_info(Path(data_dir), Path(item["mask"]))
    record = {
        "schema": SCHEMA,
        "table": opts.name,
        "kind": opts.table,
        "title": opts.title,
        "image": item["name"],
        "index": item["index"],
        "dataset": item["dataset"],
        "settings": settings,
        "quick": opts.quick,
        "protocol": spec.protocol,
        "primary": spec.protocol["primary"],
        "methods": [m for m in LABELS if m in run.images],
        "labels": {m: LABELS[m] for m in run.images},
        "metrics": metrics,
        "paper": paper_numbers(opts, paper, item["name"]),
        "skipped": run.skipped,
        "baseline_params": {m: bl.PARAMS[m] for m in run.images if m in bl.PARAMS},
        "seconds": round(time.perf_counter() - t0, 3),
        **_run_facts(run, commit),
        "inputs": files,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **geo,
    }
    out_dir = opts.out_dir()
    atomic_write_text(
        record_path(out_dir, item["name"]), dumps_strict(record, indent=1, default=str) + "\n"
    )
    remove_states(out_dir, item["name"])
    return record


def _run_facts(run: _Runner, commit: str | None) -> dict[str, Any]:
    """How and where an image ran: timings, fits, preset, device, threads and versions."""
    from ... import __version__
    from ...device import host_summary

    dip_fit = run.fits.get("dip", {})
    return {
        "seconds_per_method": run.seconds,
        "fits": run.fits,
        "preset": dip_fit.get("preset"),
        "device": dip_fit.get("device"),
        "dtype": dip_fit.get("dtype"),
        "threads": torch.get_num_threads(),
        "host": host_summary(),
        "git_commit": commit,
        "versions": {
            "deepprior": __version__,
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },  # fmt: skip
    }


def remove_states(out_dir: Path, image: str) -> None:
    """Delete the saved fit states and finished fits of ``image`` (its record is written, or
    it is redone)."""
    for pattern in ("state", "done"):
        for p in out_dir.glob(f"{glob.escape(image)}.*.{pattern}.pt"):
            p.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------------

_WORKER_DEVICE: str | None = None  # this worker process's device (set by _init_worker)


def job_devices(device: str, jobs: int) -> list[str]:
    """The device of each of ``jobs`` worker processes: with ``auto`` or ``cuda`` on a machine
    with GPUs, one GPU per process, round robin; otherwise ``device`` for all of them.

    Example:
        >>> job_devices("cpu", 2)
        ['cpu', 'cpu']
    """
    if device in ("auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(jobs)]
    return [device] * jobs


def _init_worker(threads: int, devices: Any) -> None:
    global _WORKER_DEVICE
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _WORKER_DEVICE = devices.get()


def _worker(args: tuple) -> dict[str, Any]:
    opts = args[0] if _WORKER_DEVICE is None else replace(args[0], device=_WORKER_DEVICE)
    return run_image(opts, *args[1:])


def threads_per_job(jobs: int) -> int:
    """CPU threads for each of ``jobs`` processes (``OMP_NUM_THREADS`` caps the total)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "")
    if cap.isdigit() and int(cap) > 0:
        cores = min(cores, int(cap) * jobs)
    return max(1, cores // jobs)


def _run_in_workers(
    opts: BenchOptions, args: list[tuple], done: Callable[[dict[str, Any]], None],
    log: Callable[[str], None],
) -> list[str]:  # fmt: skip
    """Run ``run_image(*a)`` for each of ``args`` in ``opts.jobs`` processes; the failures."""
    import multiprocessing as mp

    n = min(opts.jobs, len(args))
    threads = threads_per_job(opts.jobs)
    devices = job_devices(opts.device, n)
    log(f"{n} processes x {threads} threads on {', '.join(sorted(set(devices)))}")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for d in devices:
        queue.put(d)
    failures: list[str] = []
    with ProcessPoolExecutor(
        max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(threads, queue),
    ) as pool:  # fmt: skip
        futures = {pool.submit(_worker, a): a[1]["name"] for a in args}
        for fut in as_completed(futures):
            try:
                done(fut.result())
            except DeepPriorError as e:
                failures.append(f"{futures[fut]}: {e}")
                log(f"failed {futures[fut]}: {e}")
    return failures


# --------------------------------------------------------------------------------------------
# Running a table
# --------------------------------------------------------------------------------------------


def load_record(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _reusable(
    opts: BenchOptions, items: list[dict[str, Any]], settings: dict[str, Any],
    log: Callable[[str], None],
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """The records that can be reused (image -> record) and the items still to run."""
    out_dir = opts.out_dir()
    records: dict[str, dict[str, Any]] = {}
    todo: list[dict[str, Any]] = []
    for item in items:
        rec = load_record(record_path(out_dir, item["name"]))
        if rec is not None and same_settings(rec, settings) and not opts.force:
            records[item["name"]] = rec
            log(f"skip {item['name']}: done ({record_path(out_dir, item['name'])})")
        else:
            if rec is not None and not opts.force:
                log(f"redo {item['name']}: its record has other settings")
            if rec is not None or opts.force:
                remove_states(out_dir, item["name"])
            todo.append(item)
    return records, todo


def _make_out_dir(opts: BenchOptions) -> Path:
    out_dir = opts.out_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeepPriorError(f"cannot create the output folder {out_dir}: {e.strerror}") from None
    return out_dir


def run_table(opts: BenchOptions, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run (or resume) a table; returns ``{"records", "ran", "skipped", "report", "out"}``."""
    opts.validate()
    data_dir = bd.resolve_data_dir(opts.data_dir)
    items = list_items(opts, data_dir)
    paper, paper_file = bd.load_paper_tables(data_dir)
    if paper_file is None:
        log("paper_tables.json not found (set DEEPPRIOR_REFERENCE): no paper columns")
    settings = settings_of(opts)
    out_dir = _make_out_dir(opts)
    commit = git_commit()
    records, todo = _reusable(opts, items, settings, log)
    skipped = list(records)

    def done(rec: dict[str, Any]) -> None:
        records[rec["image"]] = rec
        m = rec["metrics"].get("dip", rec["metrics"].get("dip_ema", {}))
        key = rec["primary"]
        val = f"{m[key]:.2f} dB" if key in m else "?"
        log(
            f"[{len(records)}/{len(items)}] {rec['image']}: DIP {key} {val}, {rec['seconds']:.1f} s"
        )

    args = [(opts, it, str(data_dir), settings, paper, commit) for it in todo]
    failures: list[str] = []
    if opts.jobs == 1 or len(todo) <= 1:
        steps = opts.effective_iters()
        for a in args:
            log(f"{a[1]['name']}: running "
                f"({f'{steps} steps' if steps else f'{opts.fit_preset} preset'})")  # fmt: skip
            done(run_image(*a, log=log))
    else:
        failures = _run_in_workers(opts, args, done, log)
    ordered, report = _write_report(opts, out_dir, settings, records)
    if failures:
        raise DeepPriorError(f"{len(failures)} image(s) failed: " + "; ".join(failures))
    return {
        "records": ordered, "ran": [it["name"] for it in todo], "skipped": skipped,
        "report": report, "out": out_dir,
    }  # fmt: skip


def _write_report(
    opts: BenchOptions, out_dir: Path, settings: dict[str, Any],
    records: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], str]:  # fmt: skip
    """Write ``report.md``; returns the records it covers (in the table's order) and it.

    The report covers every image of the table done with these settings, also those that an
    earlier run (another --only / --limit, another machine) did.
    """
    names = all_names(opts)
    for name in names:
        if name not in records:
            rec = load_record(record_path(out_dir, name))
            if rec is not None and same_settings(rec, settings):
                records[name] = rec
    ordered = [records[n] for n in names if n in records]
    return ordered, _render(opts, ordered, len(names), out_dir)


def _render(opts: BenchOptions, records: list[dict[str, Any]], total: int, out_dir: Path) -> str:
    from ...io import atomic_write_text
    from ..report import render

    current = opts.spec.current_preset()
    changed = {r["image"]: c for r in records if (c := preset_changes(r, current))}
    report = render(records, total=total, preset_changes=changed)
    atomic_write_text(out_dir / "report.md", report)
    return report


def fill_paper_numbers(opts: BenchOptions, out_dir: Path, recs: list[dict[str, Any]]) -> int:
    """Give records made without the paper's numbers (on a machine where
    ``paper_tables.json`` was not found) those numbers, when they are found here; each such
    record is rewritten. Returns how many were."""
    missing = [r for r in recs if not (r.get("paper") or {}).get("source")]
    if not missing:
        return 0
    try:
        data_dir = bd.resolve_data_dir(opts.data_dir)
    except DeepPriorError:
        data_dir = None
    paper, _ = bd.load_paper_tables(data_dir)
    if not paper:
        return 0
    from ...io import atomic_write_text

    for rec in missing:
        rec["paper"] = paper_numbers(opts, paper, rec["image"])
        atomic_write_text(
            record_path(out_dir, rec["image"]), dumps_strict(rec, indent=1, default=str) + "\n"
        )
    return len(missing)


def rerender(opts: BenchOptions) -> tuple[str, Path]:
    """Re-render ``report.md`` from the records in the table's folder (filling in the paper's
    numbers of records made where they were not found)."""
    out_dir = opts.out_dir()
    recs = [r for p in sorted(out_dir.glob("*.json")) if (r := load_record(p)) is not None]
    recs = [r for r in recs if r.get("schema") == SCHEMA and r.get("table") == opts.name]
    if not recs:
        raise DeepPriorError(f"no records of table {opts.name} in {out_dir}; run the table first")
    fill_paper_numbers(opts, out_dir, recs)
    recs.sort(key=lambda r: r.get("index", 0))
    return _render(opts, recs, len(all_names(opts)), out_dir), out_dir
