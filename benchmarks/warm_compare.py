"""Warm-started tiles against cold ones, from two folders of bench records of the same table
(nothing is fitted here): per image, the DIP output's PSNR, the tiles' steps in all, and the
time ratio against the paper preset's estimated time on the CPU each record ran on
(:mod:`auto_table`'s paper-net steps). Both records must have run on the same kind of CPU for
their seconds to compare; the steps and PSNR compare across CPUs (fp32 fits).

    python benchmarks/warm_compare.py benchmarks/results/denoise-CBM3D9-sigma25-auto \\
        benchmarks/results/denoise-CBM3D9-sigma25-auto-warm
    python benchmarks/warm_compare.py benchmarks/results/inpaint-Heide11-50pct-auto \\
        benchmarks/results/inpaint-Heide11-50pct-auto-warm

Prints a Markdown table and the means, then, for the cold records' CPUs, the time ratio the
warm steps would give there: the cold record's seconds per step times the warm steps (an
estimate from steps, for a warm record that ran on another CPU).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from auto_table import TABLES, cpu_of, paper_step


def _records(folder: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(folder.glob("*.json")):
        rec = json.loads(p.read_text())
        if "image" in rec and "dip" in rec.get("fits", {}):
            out[rec["image"]] = rec
    return out


def _ratio(rec: dict) -> float | None:
    cpu = cpu_of(rec)
    if "," in cpu:
        return None
    h, w = rec["sizes"]["image"][-2:]
    step, _ = paper_step(h, w, cpu)
    fit = rec["fits"]["dip"]
    paper_steps = TABLES[rec["table"].split("-auto")[0]].paper_steps  # e.g. denoise: 1800
    return None if step is None else fit["fit_seconds"] / (paper_steps * step)


def main(cold_dir: str, warm_dir: str) -> None:
    cold, warm = _records(Path(cold_dir)), _records(Path(warm_dir))
    print("| image | CPU cold / warm | cold PSNR | warm PSNR | change | cold steps | warm steps "
          "| steps ratio | time ratio cold / warm |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    changes, step_ratios, names = [], [], [n for n in cold if n in warm]
    for name in names:
        c, w = cold[name], warm[name]
        pc, pw = c["metrics"]["dip"]["psnr"], w["metrics"]["dip"]["psnr"]
        nc, nw = c["fits"]["dip"]["iters_run"], w["fits"]["dip"]["iters_run"]
        rc, rw = _ratio(c), _ratio(w)
        changes.append(pw - pc)
        step_ratios.append(nw / nc)
        ratios = " / ".join("—" if r is None else f"{r:.3f}" for r in (rc, rw))
        print(f"| {name} | {cpu_of(c)} / {cpu_of(w)} | {pc:.2f} | {pw:.2f} | {pw - pc:+.2f} | "
              f"{nc} | {nw} | {nw / nc:.2f} | {ratios} |")  # fmt: skip
    if names:
        mc = statistics.mean(cold[n]["metrics"]["dip"]["psnr"] for n in names)
        mw = statistics.mean(warm[n]["metrics"]["dip"]["psnr"] for n in names)
        print(f"| mean of {len(names)} | | {mc:.2f} | {mw:.2f} | {mw - mc:+.2f} | | | "
              f"{statistics.mean(step_ratios):.2f} | |")  # fmt: skip
        by_cpu: dict[str, list[tuple[float, float]]] = {}
        for name in names:
            c, w = cold[name], warm[name]
            rc = _ratio(c)
            if rc is not None:
                scale = w["fits"]["dip"]["iters_run"] / c["fits"]["dip"]["iters_run"]
                by_cpu.setdefault(cpu_of(c), []).append((rc, rc * scale))
        for cpu, pairs in sorted(by_cpu.items()):
            print(
                f"\n{cpu} ({len(pairs)} cold records): time ratio "
                f"{statistics.mean(r for r, _ in pairs):.3f} cold, "
                f"{statistics.mean(e for _, e in pairs):.3f} with the warm steps (estimate)"
            )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
