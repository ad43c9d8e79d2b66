"""Two presets of one table side by side: PSNR, seconds, their ratio, and how close a
preset's stopping rule came to the best iterate (the "oracle" stop, read off the PSNR curve
against the reference that the bench records).

The records are the bench's own (``<table>/<image>.json`` for the paper's presets,
``<table>-<preset>/<image>.json`` for another preset); nothing is fitted here.

Example:
    >>> rows = compare_rows([], [], "psnr")
    >>> rows
    []
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["compare_rows", "render_comparison", "plot_curves", "write_comparison"]


def _output_method(record: dict[str, Any]) -> str:
    """The method key of a record's DIP result: the denoising paper preset returns its EMA."""
    metrics = record.get("metrics", {})
    if "dip" in metrics:
        return "dip"
    return "dip_ema" if "dip_ema" in metrics else "dip"


def _device(fit: dict[str, Any]) -> str:
    """``cpu float32``: where a fit ran; seconds compare only on the same device and dtype."""
    return f"{fit.get('device')} {fit.get('dtype')}"


def compare_rows(
    paper: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], metric: str
) -> list[dict[str, Any]]:
    """One row per image present in both: PSNRs, seconds, ratio, stop and oracle."""
    by_name = {r["image"]: r for r in paper}
    rows = []
    for r in other:
        p = by_name.get(r["image"])
        if p is None:
            continue
        fit = r.get("fits", {}).get("dip", {})
        oracle = fit.get("oracle") or {}
        p_sec = p["seconds_per_method"].get("dip")
        a_sec = r["seconds_per_method"].get("dip")
        rows.append({
            "image": r["image"],
            "paper": p["metrics"].get(_output_method(p), {}).get(metric),
            "auto": r["metrics"].get("dip", {}).get(metric),
            "oracle": oracle.get("psnr"), "gap": oracle.get("gap"),
            "stop": fit.get("iters_run"), "best_step": fit.get("best_step"),
            "paper_s": p_sec, "auto_s": a_sec,
            "ratio": (a_sec / p_sec) if (a_sec and p_sec) else None,
            "paper_device": _device(p.get("fits", {}).get("dip") or {}),
            "auto_device": _device(fit),
        })  # fmt: skip
    return rows


def _f(v: Any, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render_comparison(rows: Sequence[dict[str, Any]], title: str, metric: str, preset: str) -> str:
    """A Markdown table of :func:`compare_rows` with its means."""
    head = (f"| image | {preset} {metric} | paper {metric} | oracle (RGB) | stop gap | stop step "
            f"| best step | {preset} s | paper s | time ratio |")  # fmt: skip
    lines = [f"## {title}: {preset} against paper", "", head, "|---" + "|---:" * 9 + "|"]
    for r in rows:
        lines.append(
            f"| {r['image']} | {_f(r['auto'])} | {_f(r['paper'])} | {_f(r['oracle'])} "
            f"| {_f(r['gap'])} | {r['stop'] or '—'} | {r['best_step'] or '—'} "
            f"| {_f(r['auto_s'], 0)} | {_f(r['paper_s'], 0)} | {_f(r['ratio'], 3)} |"
        )
    if rows:

        def mean(k: str) -> float | None:
            vals = [r[k] for r in rows if r[k] is not None]
            return sum(vals) / len(vals) if len(vals) == len(rows) else None

        lines.append(
            f"| **mean** | {_f(mean('auto'))} | {_f(mean('paper'))} | {_f(mean('oracle'))} "
            f"| {_f(mean('gap'))} | | | {_f(mean('auto_s'), 0)} | {_f(mean('paper_s'), 0)} "
            f"| {_f(mean('ratio'), 3)} |"
        )
        devices = sorted({f"{r['paper_device']} (paper), {r['auto_device']} ({preset})"
                          for r in rows})  # fmt: skip
        lines += ["", f"Devices: {'; '.join(devices)}. The time ratio compares like with like "
                  "only when both ran on the same machine and dtype. The stop gap is the best "
                  "PSNR on the fit's curve (measured every 10 steps) minus the PSNR of the image "
                  "returned; seconds are each fit's wall time as recorded."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_curves(
    paper: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], path: Path, preset: str
) -> Path:
    """PSNR against seconds per image (one panel each), with the stop points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["image"] for r in other]
    by_name = {r["image"]: r for r in paper}
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3.2),
                             squeeze=False)  # fmt: skip
    for ax, r in zip(axes[0], other, strict=False):
        for rec, label, style in ((by_name.get(r["image"]), "paper", "-"), (r, preset, "-")):
            if not rec:  # no paper run of this image: its preset's curve alone
                continue
            fit = rec.get("fits", {}).get("dip") or {}
            curve = fit.get("curve")
            if not curve or not curve.get("seconds"):  # a record without a curve
                value = rec["metrics"].get(_output_method(rec), {}).get("psnr")
                if value is not None:
                    ax.plot(
                        rec["seconds_per_method"].get("dip"), value, "s", label=f"{label} (end)"
                    )
                continue
            key = "psnr_ema" if "psnr_ema" in curve else "psnr"
            line = ax.plot(curve["seconds"], curve[key], style, label=f"{label} ({key})")[0]
            ax.plot(curve["seconds"][-1], curve[key][-1], "o", color=line.get_color())
        ax.set_title(r["image"])
        ax.set_xlabel("seconds")
        ax.set_ylabel("PSNR (dB)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    import io as _io

    from ..io import atomic_write_bytes

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_comparison(
    paper_dir: Path, other_dir: Path, title: str, metric: str, preset: str
) -> tuple[Path, Path, Path]:
    """Write ``comparison.md``, ``curves.json`` and ``curves.png`` into ``other_dir``."""
    from ..io import atomic_write_bytes

    def records(d: Path) -> list[dict[str, Any]]:  # the bench's records: other JSON is left
        found = (json.loads(p.read_text()) for p in sorted(d.glob("*.json")))
        return [r for r in found if isinstance(r, dict) and "image" in r and "metrics" in r]

    paper, other = records(paper_dir), records(other_dir)
    rows = compare_rows(paper, other, metric)
    md = atomic_write_bytes(
        other_dir / "comparison.md", render_comparison(rows, title, metric, preset).encode()
    )
    curves = {
        r["image"]: {
            "paper": (next((p for p in paper if p["image"] == r["image"]), {}).get("fits", {})
                      .get("dip", {}).get("curve")),
            preset: r.get("fits", {}).get("dip", {}).get("curve"),
            "stop_step": r.get("fits", {}).get("dip", {}).get("iters_run"),
        }
        for r in other
    }  # fmt: skip
    js = atomic_write_bytes(
        other_dir / "curves.json", json.dumps(curves, allow_nan=False, indent=1).encode()
    )
    png = plot_curves(paper, other, other_dir / "curves.png", preset)
    return md, js, png
