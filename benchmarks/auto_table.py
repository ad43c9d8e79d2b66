"""The auto preset's denoising table against the paper preset and the peers, from the bench's
records (nothing is fitted here).

Per image: auto's PSNR, its stop gap (for a tiled fit: the mean and the worst over its tiles of
the best PSNR on a tile's curve minus its output's), its steps and seconds; the paper preset's
PSNR where a record exists, and its time on this CPU, estimated as the paper's 1800 steps times
the measured step time of the paper's 128-filter net scaled by the pixel count (3.54 s at 256²:
``python benchmarks/step_time.py 128 256 15``, fp32, one thread); ZS-N2N, NL-means and CBM3D.

    python benchmarks/auto_table.py > benchmarks/results/denoise-CBM3D9-sigma25-auto/table.md
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
AUTO = RESULTS / "denoise-CBM3D9-sigma25-auto"
PAPER = RESULTS / "denoise-CBM3D9-sigma25"
PAPER_STEPS, STEP_256 = 1800, 3.54  # the paper preset's steps; its s/step at 256x256 here


def _f(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def rows() -> list[dict]:
    out = []
    for path in sorted(AUTO.glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("quick") or "fits" not in rec:
            continue
        fit = rec["fits"]["dip"]
        m = {k: v.get("psnr") for k, v in rec["metrics"].items()}
        oracle = fit.get("oracle") or {}
        h, w = rec["sizes"]["image"][-2:]
        paper_rec = PAPER / path.name
        paper = json.loads(paper_rec.read_text()) if paper_rec.is_file() else None
        tiles = (fit.get("tiles") or {}).get("count")
        out.append({
            "image": rec["image"], "size": f"{w}×{h}", "auto": m.get("dip"),
            "gap": oracle.get("gap"), "gap_max": oracle.get("gap_max", oracle.get("gap")),
            "tiles": tiles, "steps": fit.get("iters_run"),
            "auto_s": rec["seconds_per_method"].get("dip"),
            "paper": (paper or {}).get("metrics", {}).get("dip_ema", {}).get("psnr"),
            "paper_s": PAPER_STEPS * STEP_256 * h * w / 256**2,
            "zs_n2n": m.get("zs_n2n"), "zs_n2n_s": rec["seconds_per_method"].get("zs_n2n"),
            "nlm": m.get("nlm"), "bm3d": m.get("bm3d"), "input": m.get("input"),
        })  # fmt: skip
    return out


def render(rs: list[dict]) -> str:
    lines = [
        "| image | size | auto PSNR | stop gap mean / worst (tiles) | steps | auto s "
        "| paper-preset PSNR | paper-preset s (est.) | time ratio | ZS-N2N (s) | NL-means "
        "| CBM3D | noisy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rs:
        ratio = r["auto_s"] / r["paper_s"] if r["auto_s"] else None
        tiles = f" ({r['tiles']})" if r["tiles"] else " (whole)"
        lines.append(
            f"| {r['image']} | {r['size']} | {_f(r['auto'])} | {_f(r['gap'])} / "
            f"{_f(r['gap_max'])}{tiles} | {r['steps']} | {_f(r['auto_s'], 0)} | "
            f"{_f(r['paper'])} | {_f(r['paper_s'], 0)} | {_f(ratio, 3)} | "
            f"{_f(r['zs_n2n'])} ({_f(r['zs_n2n_s'], 0)}) | {_f(r['nlm'])} | {_f(r['bm3d'])} "
            f"| {_f(r['input'])} |"
        )
    if rs:

        def mean(k: str) -> str:
            vals = [r[k] for r in rs if r[k] is not None]
            return _f(statistics.mean(vals)) if len(vals) == len(rs) else "—"

        gaps = [r["gap"] for r in rs if r["gap"] is not None]
        worst = [r["gap_max"] for r in rs if r["gap_max"] is not None]
        ratios = [r["auto_s"] / r["paper_s"] for r in rs if r["auto_s"]]
        lines += [
            f"| **mean of {len(rs)}** | | {mean('auto')} | {mean('gap')} / {mean('gap_max')} | "
            f"| {mean('auto_s')} | | {mean('paper_s')} | "
            f"{_f(statistics.mean(ratios), 3) if ratios else '—'} | {mean('zs_n2n')} | "
            f"{mean('nlm')} | {mean('bm3d')} | {mean('input')} |",
            "",
            f"Stop gap over the images: median {_f(statistics.median(gaps)) if gaps else '—'} dB, "
            f"worst (any tile) {_f(max(worst)) if worst else '—'} dB.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(rows()), end="")
