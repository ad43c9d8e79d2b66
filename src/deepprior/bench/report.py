"""Render a benchmark table's Markdown report from its per-image JSON records.

The records are self-describing (protocol, methods, labels, the paper's numbers), so a report
can be re-rendered from the records alone (``deepprior bench report``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

METRIC_TITLES = {
    "psnr_y": "PSNR on Y, 4-px border removed (dB)",
    "psnr_rgb": "PSNR on RGB, 4-px border removed (dB)",
    "psnr": "PSNR (dB)",
    "psnr_hole": "PSNR inside the hole (dB)",
    "ssim": "SSIM",
}


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}"


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals and len(vals) == len(values) else None


def _union(records: Sequence[dict[str, Any]], key: str) -> list[str]:
    out: list[str] = []
    for r in records:
        for m in r.get(key, []):
            if m not in out:
                out.append(m)
    return out


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(
    records: Sequence[dict[str, Any]], total: int, preset_changes: dict[str, list[str]]
) -> list[str]:
    first = records[0]
    s = first["settings"]
    lines = [f"# {first.get('title', first['table'])}", ""]
    if any(r.get("quick") for r in records):
        lines += [
            f"**QUICK RUN** — {s.get('quick_size')} px crops (holes: the whole picture shrunk "
            f"to {s.get('quick_size')} px), {s.get('iters')} steps per fit. A check that the "
            "harness works, **not comparable with the paper's numbers**.",
            "",
        ]
    proto = first["protocol"]
    primary = first["primary"]
    lines.append(f"- Table `{first['table']}`: {len(records)} of {total} images done.")
    lines.append(f"- Reported metric (the paper's): **{primary}** — {proto[primary]}")
    for key, text in proto.items():
        if key not in ("primary", primary):
            lines.append(f"- {'Input' if key == 'input' else key}: {text}")
    p = first.get("preset") or {}
    iters = s.get("iters") or p.get("iters")
    z = f"`{p.get('input')}`"
    if p.get("input") == "noise" and p.get("input_channels"):
        z += f" of {p['input_channels']} channels"
    lines.append(
        f"- DIP: preset `{p.get('name', 'paper')}` (net `{p.get('net')}`, input "
        f"{z}, {iters} steps, LR {p.get('lr')}, "
        f"sigma_p {_fmt(p.get('input_noise'), 4)}, "
        f"EMA {p.get('ema')}, output `{p.get('output')}`); seed {s.get('seed')}; "
        f"precision `{s.get('precision')}`."
    )
    if preset_changes:  # grouped by what changed
        groups: dict[tuple[str, ...], list[str]] = {}
        for image, keys in preset_changes.items():
            groups.setdefault(tuple(keys), []).append(image)
        lines.append(
            f"- Records made with settings of preset `{p.get('name', 'paper')}` other than "
            "today's: "
            + "; ".join(f"{', '.join(v)} (in {', '.join(k)})" for k, v in groups.items())
            + "."
        )
    devices = sorted({f"{r.get('device')} ({r.get('dtype')})" for r in records})
    commits = sorted({str(r.get("git_commit"))[:12] for r in records})
    threads = sorted({str(r.get("threads")) for r in records})
    lines.append(
        f"- Ran on: {', '.join(devices)}; torch threads {', '.join(threads)}; git commit "
        f"{', '.join(commits)}."
    )
    params: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for r in records:
        params.update(r.get("baseline_params", {}))
        skipped.update(r.get("skipped", {}))
    if params:
        lines.append("- Baselines: " + "; ".join(f"{k}: {v}" for k, v in params.items()) + ".")
    if any("tv_prior" in r.get("methods", []) for r in records):
        lines.append(
            "- No prior / TV prior: the same data term optimised over the pixels directly "
            "(deepprior prior='none' / 'tv', TV weight 0.02), with the table's paper preset "
            "whatever preset DIP uses (its steps, no stopping rule), Adam with LR max(preset "
            "LR, 0.01), started from the bicubic upsampling (SR) or "
            "from the masked image with 0.5 in the holes (inpainting). Started there, "
            "'no prior' changes only what the data term sees (for SR: iterative "
            "back-projection) and keeps the rest of the starting image, so it is a stronger "
            "baseline than the paper's (SR x4 Set5: 26.56 dB, below bicubic)."
        )
    if skipped:
        lines.append("- Skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + ".")
    src = next((r["paper"].get("source") for r in records if r["paper"].get("source")), None)
    lines.append(f"- Paper numbers: {src or 'not available (paper_tables.json not found)'}.")
    lines.append("")
    return lines


def _table(
    records: Sequence[dict[str, Any]], metric: str, methods: list[str], labels: dict[str, str],
    with_paper: bool,
) -> list[str]:  # fmt: skip
    digits = 4 if metric == "ssim" else 2
    paper_only = _union([{"k": list(r["paper"]["paper_only"])} for r in records], "k")
    mean_only: dict[str, float] = {}
    for r in records:
        mean_only.update(r["paper"].get("mean_only", {}))
    has_paper = set(mean_only) | {"dip"}
    for r in records:
        has_paper |= set(r["paper"]["per_image"])
    cols: list[tuple[str, str, str]] = []  # (label, source, method)
    for m in methods:
        cols.append((labels.get(m, m), "ours", m))
        if with_paper and m in has_paper:
            cols.append((f"{labels.get(m, m)} (paper)", "paper", m))
    if with_paper:
        cols += [(f"{m} (paper)", "paper_only", m) for m in paper_only]
    if metric == records[0]["primary"]:
        cols.append(("DIP s", "seconds", "dip"))
    head = ["image"] + [c[0] for c in cols]
    lines = [f"### {METRIC_TITLES.get(metric, metric)}", "", _row(head)]
    lines.append(_row(["---"] + ["---:"] * len(cols)))
    columns: list[list[float | None]] = [[] for _ in cols]
    for r in records:
        cells = [r["image"]]
        for j, (_, src, m) in enumerate(cols):
            if src == "ours":
                v = r["metrics"].get(m, {}).get(metric)
            elif src == "paper":
                v = r["paper"]["per_image"].get(m)
            elif src == "paper_only":
                v = r["paper"]["paper_only"].get(m)
            else:
                v = sum(s for k, s in r["seconds_per_method"].items() if k.startswith("dip"))
            columns[j].append(v)
            cells.append(_fmt(v, 1 if src == "seconds" else digits))
        lines.append(_row(cells))
    mean_cells = ["**mean**"]
    notes = []
    for j, (_, src, m) in enumerate(cols):
        v = _mean(columns[j])
        text = _fmt(v, 1 if src == "seconds" else digits)
        if src == "paper" and v is None and m in mean_only:
            text = f"{mean_only[m]:.2f}†"
            notes.append(m)
        mean_cells.append(f"**{text}**" if text != "—" else text)
    lines.append(_row(mean_cells))
    lines.append("")
    if notes:
        lines.append(
            "† the paper gives only the mean over all its images (no per-image numbers); "
            "compare it with our mean once every image is done."
        )
        lines.append("")
    return lines


def render(
    records: Sequence[dict[str, Any]], total: int,
    preset_changes: dict[str, list[str]] | None = None,
) -> str:  # fmt: skip
    """The Markdown report of one table from its records (in the table's order).

    ``preset_changes``: image -> the preset settings its record's fit had other than today's
    (:func:`deepprior.bench.tables.options.preset_changes`), listed in the header.
    """
    if not records:
        return "# (no records)\n"
    methods = _union(records, "methods")
    labels: dict[str, str] = {}
    for r in records:
        labels.update(r.get("labels", {}))
    primary = records[0]["primary"]
    metrics = [primary] + [  # the reported metric first, with the paper's numbers
        k for k in ("psnr_rgb", "psnr", "ssim") if k != primary and k in records[0]["protocol"]
    ]
    lines = _header(records, total, preset_changes or {})
    lines.append("Means are over the images listed; a mean is left out (—) where a value is "
                 "missing.")  # fmt: skip
    lines.append("")
    for metric in metrics:
        lines += _table(records, metric, methods, labels, with_paper=metric == primary)
    secs = [r["seconds"] for r in records]
    lines.append(
        f"Wall time per image (all methods): mean {sum(secs) / len(secs):.1f} s, "
        f"total {sum(secs):.1f} s."
    )
    return "\n".join(lines) + "\n"
