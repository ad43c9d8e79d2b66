"""The auto preset's tables against the paper preset and the peers, from the bench's records
(nothing is fitted here).

Per image: auto's PSNR, its stop gap (the best PSNR on the fit's curve minus its output's
before the preset's post-filters; for a tiled fit the mean and the worst over its tiles), its
steps and seconds; the paper preset's PSNR where a record exists, and its time on this CPU,
estimated as the paper preset's steps (denoising 1800, SR x4 2000, restoration 11000) times the
measured step time of the paper's 128-filter net at the image's size (``python
benchmarks/step_time.py 128 HxW 10``, fp32, one thread, with one other fit on the second core
as in the auto runs; a size not measured is scaled from 256² by its pixel count; a gray image's
step costs about the same); the peers (denoising: ZS-N2N, NL-means, CBM3D; SR: bicubic,
Lanczos, back-projection from bicubic; restoration: biharmonic, Navier-Stokes).

    python benchmarks/auto_table.py denoise-CBM3D9-sigma25 auto-warm \
        > benchmarks/results/denoise-CBM3D9-sigma25-auto-warm/table.md   # the default
    python benchmarks/auto_table.py > benchmarks/results/denoise-CBM3D9-sigma25-auto/table.md
    python benchmarks/auto_table.py sr-Set5-x4 > benchmarks/results/sr-Set5-x4-auto/table.md
    python benchmarks/auto_table.py sr-Set14-x4 > benchmarks/results/sr-Set14-x4-auto/table.md
    python benchmarks/auto_table.py inpaint-Heide11-50pct \
        > benchmarks/results/inpaint-Heide11-50pct-auto/table.md
    python benchmarks/auto_table.py denoise-CBM3D9-sigma25 auto-tv   # another preset's runs
    python benchmarks/auto_table.py denoise-CBM3D9-sigma25 auto DIR  # the records in DIR
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from deepprior.bench.tables.runner import _tiles_stop

RESULTS = Path(__file__).parent / "results"
#: The paper's 128-filter net: measured s/step by CPU and (H, W) (fp32, one thread, one other
#: fit on the second core, large tensors kept in the malloc heap as every fit now does, see
#: deepprior.memory.keep_cpu_heap): ``benchmarks/step_time.py 128 HxW 8`` (results/speed.md).
#: Each record is compared with the step of the CPU it ran on (its ``host``): "avx2" is the
#: AMD EPYC without AVX-512 that ran every record written before the bench kept its host
#: (there, before the heap, the same steps took 2.98, 3.66, 3.14 and 11.93 s); "avx512" the
#: AMD EPYC with AVX-512 (and AVX512-BF16, unused by these fp32 fits); "amx" the Intel Xeon
#: with AMX (beside a 32-filter SR fit; alone the same steps took 1.509 s at 256² and 7.389 s
#: at 512²: the paper net's step is not slowed by a neighbour there; 512×768 beside a
#: denoising tile's fit). The avx2 512×768 step was measured beside a 160² denoising fit
#: (``step_time.py 128 512x768 3``; 512² measured then: 8.437 s, 6 % over the value kept).
PAPER_STEP = {
    "avx2": {
        (256, 256): 2.17,
        (288, 288): 2.63,
        (320, 224): 2.24,
        (512, 512): 7.95,
        (512, 768): 12.196,
    },
    "avx512": {(256, 256): 0.855, (512, 512): 3.412, (512, 768): 5.103},
    "amx": {
        (256, 256): 1.513,
        (288, 288): 1.975,
        (320, 224): 1.675,
        (512, 512): 6.773,
        (512, 768): 9.639,
    },
}

#: Records whose fit was stopped on one machine and resumed on another, written before a fit
#: kept its machines (``fits.dip.hosts``, which now says so by itself): their seconds mix two
#: CPUs, so they get no time ratio.
MOVED = {"sr-Set14-x4": {"barbara": "avx512, then amx", "monarch": "avx512, then amx"}}


def cpu_key(host: dict) -> str:
    """The PAPER_STEP key of a machine (:func:`deepprior.device.host_summary`)."""
    flags = host.get("cpu_flags") or []
    return "amx" if "amx_bf16" in flags else "avx512" if "avx512f" in flags else "avx2"


def cpu_of(rec: dict) -> str:
    """The PAPER_STEP key of the CPU a record ran on; ``"A, then B"`` for a fit resumed on
    other machines (its seconds are then no one machine's)."""
    hosts = rec.get("fits", {}).get("dip", {}).get("hosts") or [rec.get("host") or {}]
    if len(hosts) > 1:
        return ", then ".join(cpu_key(h) if h.get("cpu_flags") else "unknown" for h in hosts)
    return cpu_key(hosts[0])


def paper_step(h: int, w: int, cpu: str = "avx2") -> tuple[float | None, bool]:
    """The paper net's s/step at (h, w) on ``cpu``, and whether it was measured (else scaled
    from 256² by the pixel count; None where that CPU has no measurement)."""
    steps = PAPER_STEP[cpu]
    if (h, w) in steps:
        return steps[h, w], True
    if (256, 256) not in steps:
        return None, False
    return steps[256, 256] * h * w / 256**2, False


#: Peers run outside the bench (benchmarks/denoise_peers.py), by table: each method's results
#: are in the auto folder's peers/<method>.json. A value in the bench's record wins.
EXTRA_PEERS = {"denoise-CBM3D9-sigma25": ("deep_decoder", "zs_n2n", "bm3d")}


#: Peers read from the paper preset's record where there is one: the pixel-space fits, which
#: the bench runs with the paper preset whatever DIP's preset.
PAPER_PEERS = {"no_prior", "tv_prior"}


@dataclass(frozen=True)
class Table:
    paper_steps: int  # the paper preset's steps
    paper_method: str  # the paper preset's output among the paper record's methods
    primary: str  # the table's metric
    size_key: str  # the output's entry of the record's "sizes"
    peers: tuple[tuple[str, str], ...]  # (method, column)
    timed: tuple[str, ...] = ()  # peers whose seconds are shown too


TABLES = {
    "denoise-CBM3D9-sigma25": Table(
        1800,
        "dip_ema",
        "psnr",
        "image",
        (
            ("zs_n2n", "ZS-N2N"),
            ("deep_decoder", "Deep Decoder"),
            ("nlm", "NL-means"),
            ("bm3d", "CBM3D"),
            ("input", "noisy"),
        ),
        timed=("zs_n2n", "deep_decoder"),
    ),
    "sr-Set5-x4": Table(
        2000,
        "dip",
        "psnr_y",
        "hr",
        (("bicubic", "bicubic"), ("lanczos", "Lanczos"), ("no_prior", "back-projection")),
    ),
    "sr-Set14-x4": Table(
        2000,
        "dip",
        "psnr_y",
        "hr",
        (("bicubic", "bicubic"), ("lanczos", "Lanczos"), ("no_prior", "back-projection")),
    ),
    "inpaint-Heide11-50pct": Table(
        11000,
        "dip",
        "psnr",
        "image",
        (
            ("biharmonic", "biharmonic"),
            ("navier_stokes", "Navier-Stokes"),
            ("tv_prior", "TV prior"),
            ("input", "input"),
        ),
    ),
}


def _f(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def rows(name: str, preset: str = "auto", folder: str | None = None) -> list[dict]:
    """One row per record of ``folder`` (default: the table's ``NAME-PRESET`` results)."""
    t, out = TABLES[name], []
    extra = {
        k: json.loads(f.read_text())
        for k in EXTRA_PEERS.get(name, ())
        if (f := RESULTS / f"{name}-auto" / "peers" / f"{k}.json").is_file()  # any preset's
    }
    for path in sorted(Path(folder or RESULTS / f"{name}-{preset}").glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("quick") or "fits" not in rec:
            continue
        fit = rec["fits"]["dip"]
        m = {k: v.get(t.primary) for k, v in rec["metrics"].items()}
        oracle = fit.get("oracle") or {}
        if (fit.get("tiles") or {}).get("fits"):  # the gaps before any post-filter
            oracle = _tiles_stop(fit["tiles"]).get("oracle") or oracle
        h, w = rec["sizes"][t.size_key][-2:]
        paper_rec = RESULTS / name / path.name
        paper = json.loads(paper_rec.read_text()) if paper_rec.is_file() else {}
        pm = {k: v.get(t.primary) for k, v in paper.get("metrics", {}).items()}
        for k, _ in t.peers:  # a peer that does not depend on the DIP preset: either record
            if (k in PAPER_PEERS and pm.get(k) is not None) or m.get(k) is None:
                m[k] = pm.get(k)
        secs = dict(rec["seconds_per_method"])
        for k, by_image in extra.items():
            if rec["image"] in by_image and m.get(k) is None:
                m[k], secs[k] = by_image[rec["image"]]["psnr"], by_image[rec["image"]]["seconds"]
        cpu = MOVED.get(name, {}).get(rec["image"]) or cpu_of(rec)
        step, measured = paper_step(h, w, cpu) if cpu in PAPER_STEP else (None, False)
        out.append({
            "image": rec["image"], "size": f"{w}×{h}", "auto": m.get("dip"),
            "gap": oracle.get("gap"), "gap_max": oracle.get("gap_max", oracle.get("gap")),
            "tiles": (fit.get("tiles") or {}).get("count"), "steps": fit.get("iters_run"),
            "stop": fit.get("stop_reason"), "auto_s": secs.get("dip"),
            "paper": pm.get(t.paper_method),
            "published": rec.get("paper", {}).get("per_image", {}).get("dip"),
            "paper_s": t.paper_steps * step if step else None, "cpu": cpu, "measured": measured,
            **{k: m.get(k) for k, _ in t.peers}, **{f"{k}_s": secs.get(k) for k in t.timed},
        })  # fmt: skip
    return out


def _mean(rs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rs if r.get(key) is not None]
    return statistics.mean(vals) if vals and len(vals) == len(rs) else None


def time_of_means(rs: list[dict]) -> float | None:
    """Mean auto seconds over mean paper-preset seconds, on the images that have both: the
    share of the paper preset's time the table took (a large image weighs more than in the mean
    of the per-image ratios)."""
    both = [r for r in rs if r["auto_s"] and r["paper_s"]]
    if not both:
        return None
    return statistics.mean(r["auto_s"] for r in both) / statistics.mean(r["paper_s"] for r in both)


def render(name: str, rs: list[dict]) -> str:
    t = TABLES[name]
    peers = [label + (" (s)" if k in t.timed else "") for k, label in t.peers]
    lines = [
        "| image | size | CPU | auto PSNR | stop gap mean / worst (tiles) | steps | auto s "
        "| paper-preset PSNR | paper (published) | paper-preset s (est.) | time ratio | "
        + " | ".join(peers)
        + " |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(peers),
    ]

    def peer_cells(r: dict, mean: bool = False) -> str:
        cells = []
        for k, _ in t.peers:
            v = _mean(rs, k) if mean else r.get(k)
            cell = _f(v)
            if k in t.timed:
                s = _mean(rs, f"{k}_s") if mean else r.get(f"{k}_s")
                cell += f" ({_f(s, 0)})"
            cells.append(cell)
        return " | ".join(cells)

    for r in rs:
        ratio = r["auto_s"] / r["paper_s"] if r["auto_s"] and r["paper_s"] else None
        tiles = f" ({r['tiles']})" if r["tiles"] else " (whole)"
        lines.append(
            f"| {r['image']} | {r['size']} | {r['cpu']} | {_f(r['auto'])} | {_f(r['gap'])} / "
            f"{_f(r['gap_max'])}{tiles} | {r['steps']} | {_f(r['auto_s'], 0)} | "
            f"{_f(r['paper'])} | {_f(r['published'])} | "
            f"{_f(r['paper_s'], 0)}{'' if r['measured'] or not r['paper_s'] else ' (scaled)'} | "
            f"{_f(ratio, 3)} | {peer_cells(r)} |"
        )
    if rs:
        gaps = [r["gap"] for r in rs if r["gap"] is not None]
        worst = [r["gap_max"] for r in rs if r["gap_max"] is not None]
        ratios = [r["auto_s"] / r["paper_s"] for r in rs if r["auto_s"] and r["paper_s"]]
        lines += [
            f"| **mean of {len(rs)}** | | | {_f(_mean(rs, 'auto'))} | {_f(_mean(rs, 'gap'))} / "
            f"{_f(_mean(rs, 'gap_max'))} | | {_f(_mean(rs, 'auto_s'), 0)} | "
            f"{_f(_mean(rs, 'paper'))} | {_f(_mean(rs, 'published'))} | "
            f"{_f(_mean(rs, 'paper_s'), 0)} | "
            f"{_f(statistics.mean(ratios), 3) if ratios else '—'} | {peer_cells({}, True)} |",
            "",
            "Time: the mean auto seconds over the mean paper-preset seconds, "
            f"{_f(time_of_means(rs), 3)} (the mean of the per-image ratios: "
            f"{_f(statistics.mean(ratios), 3) if ratios else '—'}).",
            "",
            f"Stop gap over the images: median {_f(statistics.median(gaps)) if gaps else '—'} dB, "
            f"worst (any tile) {_f(max(worst)) if worst else '—'} dB. Stops: "
            + ", ".join(f"{r['image']} {r['stop'] or 'the cap'}" for r in rs)
            + ".",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    table = sys.argv[1] if len(sys.argv) > 1 else "denoise-CBM3D9-sigma25"
    print(render(table, rows(table, *sys.argv[2:4])), end="")
