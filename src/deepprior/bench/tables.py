"""The paper's tables as benchmarks: make the degraded inputs, run DIP and the baselines per
image, write one JSON record per image as soon as it is done, then the Markdown report.

Tables (``TABLES``):

* ``sr``: Set5 / Set14, x4 / x8 (paper Tables 1 and 2), Y-PSNR with a 4-px border.
* ``denoise``: the 9 CBM3D images, sigma = 25 (paper Sect. 3.1), RGB PSNR; the three DIP
  variants (last iterate, EMA, average of two runs).
* ``inpaint``: Heide11, 50% of the pixels kept at random (paper Table 3), whole-image PSNR.
* ``text-inpaint``: kate with the authors' text mask (Fig. 11).
* ``holes``: vase and library with the authors' hole masks (Fig. 10), PSNR inside the hole.

A rerun reads the records in the output folder and skips every image whose record has the
same ``settings`` (a record made with other settings is redone and overwritten).
"""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..callbacks import ProgressLog
from ..errors import DeepPriorError, StateMismatch
from . import baselines as bl
from . import data as bd
from .protocols import PROTOCOLS, measure

SCHEMA = 1
TABLE_KINDS = ("sr", "denoise", "inpaint", "text-inpaint", "holes")

# The authors centre-crop the SR images so that both sides divide by the net's total stride.
SR_HR_MULTIPLE = 32

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
    "input": "input",
}

TITLES = {
    "sr": "Super-resolution x{factor} on {dataset} (paper Tables 1-2)",
    "denoise": "Denoising, sigma = {sigma:g}, CBM3D9 (paper Sect. 3.1)",
    "inpaint": "Restoration from {pct:g}% random pixels, Heide11 (paper Table 3)",
    "text-inpaint": "Text inpainting, kate (paper Fig. 11)",
    "holes": "Large-hole inpainting, vase and library (paper Fig. 10)",
}


@dataclass(frozen=True)
class BenchOptions:
    """What one ``deepprior bench`` run does (the CLI's options)."""

    table: str
    dataset: str = "Set5"
    factor: int = 4
    sigma: float = 25.0
    p_known: float = 0.5
    data_dir: str | None = None
    out: str | None = None
    quick: bool = False
    quick_size: int = 64
    quick_iters: int = 20
    limit: int | None = None
    only: tuple[str, ...] = ()
    iters: int | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    jobs: int = 1
    baselines: bool = True
    force: bool = False
    progress: bool = False

    def validate(self) -> None:
        if self.table not in TABLE_KINDS:
            raise DeepPriorError(
                f"unknown table {self.table!r}; choose one of {', '.join(TABLE_KINDS)}"
            )
        if self.table == "sr" and self.dataset not in ("Set5", "Set14"):
            raise DeepPriorError(f"--dataset must be Set5 or Set14, got {self.dataset!r}")
        if self.table == "sr" and self.factor not in (4, 8):
            raise DeepPriorError(f"--factor must be 4 or 8, got {self.factor}")
        if self.jobs < 1:
            raise DeepPriorError(f"--jobs must be at least 1, got {self.jobs}")
        if self.limit is not None and self.limit < 1:
            raise DeepPriorError(f"--limit must be at least 1, got {self.limit}")
        if self.iters is not None and self.iters < 1:
            raise DeepPriorError(f"--iters must be at least 1, got {self.iters}")
        unknown = [n for n in self.only if n not in all_names(self)]
        if unknown:
            raise DeepPriorError(
                f"--only: no image {', '.join(map(repr, unknown))} in table {self.name}; "
                f"choose from {', '.join(all_names(self))}"
            )
        if self.quick and self.quick_size < 32:
            raise DeepPriorError(f"--quick-size must be at least 32 px, got {self.quick_size}")

    @property
    def name(self) -> str:
        """The table's name: the report's title and the default folder's name."""
        if self.table == "sr":
            return f"sr-{self.dataset}-x{self.factor}"
        if self.table == "denoise":
            return f"denoise-CBM3D9-sigma{self.sigma:g}"
        if self.table == "inpaint":
            return f"inpaint-Heide11-{round(100 * self.p_known)}pct"
        return self.table

    @property
    def title(self) -> str:
        return TITLES[self.table].format(
            factor=self.factor, dataset=self.dataset, sigma=self.sigma, pct=100 * self.p_known
        )

    def out_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        base = Path("benchmarks") / "results"
        return (base / "quick" if self.quick else base) / self.name

    def effective_iters(self) -> int | None:
        """The step count forced on every fit (None: the paper preset's own)."""
        if self.iters is not None:
            return self.iters
        return self.quick_iters if self.quick else None


# --------------------------------------------------------------------------------------------
# Which images
# --------------------------------------------------------------------------------------------


def all_names(opts: BenchOptions) -> list[str]:
    """Every image of the table, in the paper's order (before ``--limit``)."""
    if opts.table in ("sr", "denoise", "inpaint"):
        return list(bd.DATASETS[_dataset(opts)])
    return ["kate"] if opts.table == "text-inpaint" else ["vase", "library"]


def _dataset(opts: BenchOptions) -> str:
    return {"sr": opts.dataset, "denoise": "CBM3D9", "inpaint": "Heide11"}.get(
        opts.table, "dip-examples"
    )


def selected(opts: BenchOptions) -> list[tuple[int, str]]:
    """(index in the table, name) of the images to run: ``--only``, then ``--limit``."""
    named = list(enumerate(all_names(opts)))
    if opts.only:
        named = [(i, n) for i, n in named if n in opts.only]
    return named[: opts.limit]


def list_items(opts: BenchOptions, data_dir: Path) -> list[dict[str, Any]]:
    """The table's images (after ``--only`` and ``--limit``) with their files, which must exist."""
    items: list[dict[str, Any]] = []
    if opts.table in ("sr", "denoise", "inpaint"):
        dataset = _dataset(opts)
        for i, name in selected(opts):
            p = bd.dataset_image(data_dir, dataset, name)
            items.append({"name": name, "index": i, "dataset": dataset, "image": str(p)})
    else:
        for i, name in selected(opts):
            img, mask = bd.dip_example(data_dir, name)
            items.append(
                {"name": name, "index": i, "dataset": "dip-examples", "image": str(img),
                 "mask": str(mask)}
            )  # fmt: skip
    return items


def settings_of(opts: BenchOptions) -> dict[str, Any]:
    """What a record must share with this run to be reused (the device is not part of it)."""
    s: dict[str, Any] = {
        "schema": SCHEMA,
        "table": opts.name,
        "preset": "paper",
        "iters": opts.effective_iters(),
        "seed": opts.seed,
        "precision": opts.precision,
        "quick": opts.quick,
        "quick_size": opts.quick_size if opts.quick else None,
        "baselines": opts.baselines,
    }
    if opts.table == "sr":
        s.update(dataset=opts.dataset, factor=opts.factor, hr_multiple=SR_HR_MULTIPLE)
    elif opts.table == "denoise":
        s["sigma"] = opts.sigma
    elif opts.table == "inpaint":
        s["p_known"] = opts.p_known
    return s


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
            "preset": "paper" if self.opts.table in ("sr", "denoise", "inpaint") else None,
            "iters": self.opts.effective_iters(), "seed": self.opts.seed,
            "device": self.opts.device, "precision": self.opts.precision, "gt": gt,
            "progress": self.opts.progress,
        }  # fmt: skip

    def state_file(self, method: str) -> Path | None:
        """Where the fit of ``method`` on this image keeps its state while it runs."""
        if self.image is None:
            return None
        return self.opts.out_dir() / f"{self.image}.{method}.state.pt"

    def fit(self, name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        sf = self.state_file(name)
        if not self.opts.progress and self.image is not None:
            line = ProgressLog(self.log, self.LOG_SECONDS, f"{self.image}: {name}")
            kw["callbacks"] = [*kw.get("callbacks", ()), line]
        if sf is not None:
            kw.update(state_file=sf, state_every=self.STATE_EVERY,
                      state_seconds=self.STATE_SECONDS, resume=sf.is_file())  # fmt: skip
            if kw["resume"]:
                self.log(f"{self.image}: {name}: resuming the fit saved in {sf.name}")
        try:
            res = fn(*args, **kw)
        except StateMismatch as e:
            self.log(f"{self.image}: {name}: {e}; starting afresh")
            assert sf is not None
            sf.unlink(missing_ok=True)
            res = fn(*args, **{**kw, "resume": False})
        r = res.report
        # A resumed fit: add the fitting time of the earlier runs to this one's.
        earlier = max(0.0, r.get("fit_seconds", 0.0) - r.get("seconds", 0.0))
        self.seconds[name] = round(time.perf_counter() - t0 + earlier, 3)
        self.fits[name] = {
            k: r.get(k)
            for k in ("prior", "restarts", "settings", "iters_run", "seconds", "seconds_per_iter",
                      "device", "dtype", "canvas", "net_parameters", "backtracks", "interrupted",
                      "resumed_from", "fit_seconds")
        }  # fmt: skip
        self.fits[name]["preset"] = r.get("preset")
        if res.interrupted:
            raise KeyboardInterrupt
        return res

    def baseline(self, name: str, fn: Callable[..., torch.Tensor], *args: Any) -> None:
        if not self.opts.baselines:
            return
        why = bl.missing(name)
        if why is not None:
            self.skipped[name] = why
            return
        t0 = time.perf_counter()
        self.images[name] = fn(*args)
        self.seconds[name] = round(time.perf_counter() - t0, 3)


def _run_sr(opts: BenchOptions, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
    from ..io import load_image
    from ..tasks.restoration import super_resolve

    t = opts.factor
    hr = load_image(item["image"])
    hr = bd.center_crop_to_multiple(hr, SR_HR_MULTIPLE)  # the authors' crop
    if opts.quick:
        hr = bd.center_crop(hr, opts.quick_size, multiple=t)
    lr = bd.lanczos_lr_8bit(hr, t)
    kw = run.fit_kwargs(hr)
    run.images["dip"] = run.fit("dip", super_resolve, lr, t, **kw).image
    for name, fn in bl.SR_BASELINES.items():
        run.baseline(name, fn, lr, t)
    if opts.baselines:
        run.images["no_prior"] = run.fit("no_prior", super_resolve, lr, t, prior="none", **kw).image
        run.images["tv_prior"] = run.fit("tv_prior", super_resolve, lr, t, prior="tv", **kw).image
    return {"ref": hr, "extra": {}, "sizes": {"hr": list(hr.shape), "lr": list(lr.shape)}}


def _run_denoise(opts: BenchOptions, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
    from ..io import load_image
    from ..ops import add_gaussian_noise
    from ..tasks.restoration import denoise

    gt = load_image(item["image"], channels=3)
    if opts.quick:
        gt = bd.center_crop(gt, opts.quick_size)
    sigma = opts.sigma / 255.0
    noisy = add_gaussian_noise(gt, sigma, seed=bd.image_seed(opts.seed, item["name"]))
    kw = run.fit_kwargs(gt)
    one = run.fit("dip", denoise, noisy, **kw)
    run.images["dip_last"], run.images["dip_ema"] = one.last, one.ema
    two = run.fit("dip_two_runs", denoise, noisy, restarts=2, **kw)
    run.images["dip_two_runs"], run.images["dip_two_runs_last"] = two.ema, two.last
    for name, fn in bl.DENOISE_BASELINES.items():
        run.baseline(name, fn, noisy, sigma)
    run.images["input"] = noisy
    return {"ref": gt, "extra": {}, "sizes": {"image": list(gt.shape)}}


def _masked_inputs(opts: BenchOptions, item: dict[str, Any]):
    from ..io import check_mask, load_image, load_mask
    from ..ops import bernoulli_mask

    if opts.table == "inpaint":
        gt = load_image(item["image"], channels=1)
        if opts.quick:
            gt = bd.center_crop(gt, opts.quick_size)
        seed = bd.image_seed(opts.seed, item["name"])
        mask = bernoulli_mask(tuple(gt.shape[-2:]), opts.p_known, seed=seed)
        return gt, mask
    gt = load_image(item["image"], channels=3)
    mask = load_mask(item["mask"], tuple(gt.shape[-2:]))
    if opts.quick and opts.table == "holes":
        # A crop could miss the hole or fall inside it: shrink the whole picture instead.
        gt = bd.shrink(gt, opts.quick_size)
        mask = (bd.shrink(mask, opts.quick_size) > 0.5).float()
    elif opts.quick:
        gt, mask = bd.crop_around_hole(gt, mask, opts.quick_size)
    check_mask(mask, f"the mask of {item['name']}")
    return gt, mask


def _run_inpaint(opts: BenchOptions, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
    from ..tasks.restoration import inpaint, restore

    gt, mask = _masked_inputs(opts, item)
    masked = gt * mask
    kw = run.fit_kwargs(gt)
    if opts.table == "inpaint":
        fn, preset = restore, "paper"
    else:
        fn, preset = inpaint, ("holes" if opts.table == "holes" else "text")
    kw["preset"] = preset
    run.images["dip"] = run.fit("dip", fn, masked, mask, **kw).image
    for name, bfn in bl.INPAINT_BASELINES.items():
        run.baseline(name, bfn, masked, mask)
    if opts.baselines:
        run.images["tv_prior"] = run.fit("tv_prior", fn, masked, mask, prior="tv", **kw).image
    run.images["input"] = masked
    return {
        "ref": gt, "extra": {"mask": mask},
        "sizes": {"image": list(gt.shape)}, "known_fraction": round(float(mask.mean()), 4),
    }  # fmt: skip


_RUNNERS = {
    "sr": _run_sr, "denoise": _run_denoise, "inpaint": _run_inpaint,
    "text-inpaint": _run_inpaint, "holes": _run_inpaint,
}  # fmt: skip


def paper_numbers(opts: BenchOptions, paper: dict[str, Any], name: str) -> dict[str, Any]:
    """The paper's numbers for one image: ``per_image`` (our method -> dB), ``paper_only``
    (methods we do not run -> dB) and ``mean_only`` (tables with only a mean)."""
    out: dict[str, Any] = {
        "per_image": {}, "paper_only": {}, "mean_only": {}, "source": paper.get("source"),
    }  # fmt: skip
    if not paper:
        return out
    ours = {"dip", "bicubic", "no_prior", "tv_prior"}
    try:
        if opts.table == "sr":
            block = paper["sr"][opts.dataset]
            idx = block["images"].index(name)
            for key, vals in block["factors"][str(opts.factor)].items():
                (out["per_image"] if key in ours else out["paper_only"])[key] = vals[idx]
        elif opts.table == "inpaint" and abs(opts.p_known - 0.5) < 1e-9:
            block = paper["inpaint_50pct"]["Heide11"]
            idx = block["images"].index(name)
            for key, vals in block["methods"].items():
                (out["per_image"] if key == "dip" else out["paper_only"])[key] = vals[idx]
        elif opts.table == "denoise" and opts.sigma == 25:
            block = paper["denoise_sigma25"]["CBM3D9"]
            names = {"dip_last_iterate_1800": "dip_last", "dip_ema": "dip_ema",
                     "dip_two_runs": "dip_two_runs", "cbm3d": "bm3d", "nlm": "nlm"}  # fmt: skip
            out["mean_only"] = {names[k]: v for k, v in block.items() if k in names}
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
    from .. import __version__
    from ..io import atomic_write_text

    t0 = time.perf_counter()
    run = _Runner(opts, item["name"], log)
    geo = _RUNNERS[opts.table](opts, item, run)
    ref = geo.pop("ref")
    extra = geo.pop("extra")
    metrics = {m: measure(opts.table, img, ref, **extra) for m, img in run.images.items()}
    dip_fit = run.fits.get("dip", {})
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
        "protocol": PROTOCOLS[opts.table],
        "primary": PROTOCOLS[opts.table]["primary"],
        "methods": [m for m in LABELS if m in run.images],
        "labels": {m: LABELS[m] for m in run.images},
        "metrics": metrics,
        "paper": paper_numbers(opts, paper, item["name"]),
        "skipped": run.skipped,
        "baseline_params": {m: bl.PARAMS[m] for m in run.images if m in bl.PARAMS},
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_per_method": run.seconds,
        "fits": run.fits,
        "preset": dip_fit.get("preset"),
        "device": dip_fit.get("device"),
        "dtype": dip_fit.get("dtype"),
        "threads": torch.get_num_threads(),
        "git_commit": commit,
        "versions": {
            "deepprior": __version__,
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },  # fmt: skip
        "inputs": files,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **geo,
    }
    out_dir = opts.out_dir()
    atomic_write_text(
        record_path(out_dir, item["name"]), json.dumps(_clean(record), indent=1, default=str) + "\n"
    )
    remove_states(out_dir, item["name"])
    return record


def remove_states(out_dir: Path, image: str) -> None:
    """Delete the saved fit states of ``image`` (its record is written, or it is redone)."""
    for p in out_dir.glob(f"{glob.escape(image)}.*.state.pt"):
        p.unlink(missing_ok=True)


def _clean(x: Any) -> Any:
    """Non-finite floats become None, so the records are strict JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


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


def load_record(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def run_table(opts: BenchOptions, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run (or resume) a table; returns ``{"records", "ran", "skipped", "report", "out"}``."""
    from ..io import atomic_write_text
    from .report import render

    opts.validate()
    data_dir = bd.resolve_data_dir(opts.data_dir)
    items = list_items(opts, data_dir)
    paper, paper_file = bd.load_paper_tables(data_dir)
    if paper_file is None:
        log("paper_tables.json not found (set DEEPPRIOR_REFERENCE): no paper columns")
    settings = settings_of(opts)
    out_dir = opts.out_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeepPriorError(f"cannot create the output folder {out_dir}: {e.strerror}") from None
    commit = git_commit()

    records: dict[str, dict[str, Any]] = {}
    todo: list[dict[str, Any]] = []
    skipped: list[str] = []
    for item in items:
        rec = load_record(record_path(out_dir, item["name"]))
        if rec is not None and rec.get("settings") == settings and not opts.force:
            records[item["name"]] = rec
            skipped.append(item["name"])
            log(f"skip {item['name']}: done ({record_path(out_dir, item['name'])})")
        else:
            if rec is not None and not opts.force:
                log(f"redo {item['name']}: its record has other settings")
            if rec is not None or opts.force:
                remove_states(out_dir, item["name"])
            todo.append(item)

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
        for a in args:
            steps = opts.effective_iters()
            log(f"{a[1]['name']}: running ({f'{steps} steps' if steps else 'paper preset'})")
            done(run_image(*a, log=log))
    else:
        import multiprocessing as mp

        n = min(opts.jobs, len(todo))
        threads = threads_per_job(opts.jobs)
        devices = job_devices(opts.device, n)
        log(f"{n} processes x {threads} threads on {', '.join(sorted(set(devices)))}")
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        for d in devices:
            queue.put(d)
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

    # The report covers every image of the table done with these settings, also those that
    # an earlier run (another --only / --limit, another machine) did.
    for name in all_names(opts):
        if name not in records:
            rec = load_record(record_path(out_dir, name))
            if rec is not None and rec.get("settings") == settings:
                records[name] = rec
    ordered = [records[n] for n in all_names(opts) if n in records]
    report = render(ordered, total=len(all_names(opts)))
    atomic_write_text(out_dir / "report.md", report)
    if failures:
        raise DeepPriorError(f"{len(failures)} image(s) failed: " + "; ".join(failures))
    return {
        "records": ordered, "ran": [it["name"] for it in todo], "skipped": skipped,
        "report": report, "out": out_dir,
    }  # fmt: skip


def rerender(opts: BenchOptions) -> tuple[str, Path]:
    """Re-render ``report.md`` from the records in the table's folder."""
    from ..io import atomic_write_text
    from .report import render

    out_dir = opts.out_dir()
    recs = [r for p in sorted(out_dir.glob("*.json")) if (r := load_record(p)) is not None]
    recs = [r for r in recs if r.get("schema") == SCHEMA and r.get("table") == opts.name]
    if not recs:
        raise DeepPriorError(f"no records of table {opts.name} in {out_dir}; run the table first")
    recs.sort(key=lambda r: r.get("index", 0))
    report = render(recs, total=len(all_names(opts)))
    atomic_write_text(out_dir / "report.md", report)
    return report, out_dir


__all__ = [
    "BenchOptions", "TABLE_KINDS", "list_items", "run_image", "run_table", "rerender",
    "settings_of", "threads_per_job", "job_devices",
]  # fmt: skip
