"""The signals a no-reference stopping rule can read, recorded beside the true PSNR, on photos
the project is not tuned on (scikit-image's bundled colour photos).

For each photo: a centre crop of the auto denoiser's tile size (144 px), Gaussian noise
sigma = 25/255 (seed 0), and the auto preset's fit run for a fixed 2500 steps (the rule is
told never to stop). Every 10 steps it records, for the running average (EMA): the squared
error on the held-out pixels, on the fitted pixels, and the PSNR against the clean crop.
``replay`` then applies candidate rules to the recorded curves and prints their stop gaps.

    python benchmarks/stop_signals.py fit astronaut chelsea coffee   # writes results/stop_signals/
    python benchmarks/stop_signals.py replay                          # the rules' gaps (Markdown)

``tiles DIR... RULE...`` replays shorter rules on tiled bench runs' records instead (each
tile's record keeps its rule's scores and its EMA's PSNR at the rule's steps): the steps each
rule saves, and the PSNR it costs (before the post-filters), per image, estimated from the
tiles (each tile's MSE over its crop, summed; the crops overlap, so this is an estimate, not
the blended image's). A rule is a patience, or ``patience:min_delta``.

    python benchmarks/stop_signals.py tiles benchmarks/results/denoise-CBM3D9-sigma25-auto
    python benchmarks/stop_signals.py tiles DIR1 DIR2 100 150:0.001
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from auto_heldout import crop  # the same centre crops of scikit-image's photos

OUT = Path(__file__).parent / "results" / "stop_signals"
SIDE, STEPS, SIGMA = 144, 2500, 25 / 255


def fit(names: list[str]) -> None:
    import deepprior
    from deepprior.metrics import psnr
    from deepprior.ops import add_gaussian_noise
    from deepprior.tasks import get_preset

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    never = {**get_preset("denoise", "auto").stop_kwargs, "patience": 10**9}
    for name in names:
        clean = crop(name, SIDE)
        noisy = add_gaussian_noise(clean, SIGMA, seed=0)
        t0 = time.perf_counter()
        res = deepprior.denoise(noisy, gt=clean, iters=STEPS, progress=False, metrics_every=10,
                                stop_kwargs=never)  # fmt: skip
        h = res.history
        rec = {
            "photo": name, "side": SIDE, "sigma": SIGMA, "steps": STEPS,
            "seconds": round(time.perf_counter() - t0, 1), "psnr_input": psnr(noisy, clean),
            "step": h["holdout_step"], "heldout": h["holdout_score"],
            "fitted": h["holdout_fitted"], "psnr_step": h["psnr_step"], "psnr_ema": h["psnr_ema"],
        }  # fmt: skip
        (OUT / f"{name}.json").write_text(json.dumps(rec) + "\n")
        print(name, rec["seconds"], "s", flush=True)


def _stop(
    steps: list[int], score: list[float], patience: int, min_steps: int = 200,
    min_delta: float = 0.0,
) -> int:  # fmt: skip
    """Index of the kept step: the rule's minimum when it stops (or at the end); the count
    restarts at a new minimum that beats the last restart's score by ``min_delta`` (a share)."""
    return _stop_at(steps, score, patience, min_steps, min_delta)[0]


def _stop_at(
    steps: list[int], score: list[float], patience: int, min_steps: int = 200,
    min_delta: float = 0.0,
) -> tuple[int, int | None]:  # fmt: skip
    """The kept index and the step the rule stops at (None: it never does)."""
    best, best_i, anchor, anchor_i = math.inf, 0, math.inf, 0
    for i, (st, v) in enumerate(zip(steps, score, strict=True)):
        if v < best:
            best, best_i = v, i
        if v < anchor * (1 - min_delta):
            anchor, anchor_i = v, i
        if st >= min_steps and st - steps[anchor_i] >= patience:
            return best_i, st
    return best_i, None


def rules(rec: dict) -> dict[str, list[float]]:
    """Candidate scores (lower is better) from the recorded signals."""
    lh, lf = np.array(rec["heldout"]), np.array(rec["fitted"])
    s2 = np.minimum.accumulate(lh)  # an upper bound of sigma^2 known at each step
    gap = np.clip(lh - lf, 0, None)
    a = 1 - np.sqrt(np.clip(1 - gap / s2, 0, None))
    return {"heldout": list(lh), "heldout + fitted noise": list(lh + a**2 * s2)}


def replay(patience: int = 200) -> None:
    print("| photo | noisy | best EMA (step) | rule | patience | kept (step) | stop | gap |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    summary: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for path in sorted(OUT.glob("*.json")):
        rec = json.loads(path.read_text())
        psnr_at = dict(zip(rec["psnr_step"], rec["psnr_ema"], strict=True))
        ps = [psnr_at.get(s) for s in rec["step"]]
        top = max(v for v in ps if v is not None)
        top_step = rec["step"][ps.index(top)]
        for name, score in rules(rec).items():
            for pat in sorted({100, patience, 300}):
                i = _stop(rec["step"], score, pat)
                stop = min(rec["step"][i] + pat, rec["step"][-1])
                summary.setdefault((name, pat), []).append((top - ps[i], stop))
                print(f"| {rec['photo']} | {rec['psnr_input']:.2f} | {top:.2f} ({top_step}) "
                      f"| {name} | {pat} | {ps[i]:.2f} ({rec['step'][i]}) | {stop} "
                      f"| {top - ps[i]:.2f} |")  # fmt: skip
    print("\n| rule | patience | median gap | worst gap | mean stop step |")
    print("|---|---:|---:|---:|---:|")
    for (name, pat), vals in summary.items():
        gaps = sorted(g for g, _ in vals)
        print(
            f"| {name} | {pat} | {gaps[len(gaps) // 2]:.2f} | {gaps[-1]:.2f} "
            f"| {sum(st for _, st in vals) / len(vals):.0f} |"
        )


def replay_tiles(folders: list[Path], rules: list[tuple[int, float]]) -> None:
    """Shorter rules (patience, min_delta) replayed on the tiles of the bench records in
    ``folders`` (each tile's record keeps its rule's score and its EMA's PSNR every 10 steps,
    up to its stop; a rule that stops no later can be replayed exactly, up to the post-filters,
    which here are not run again)."""
    print("| records | image | tiles | rule (patience, min_delta) | steps (recorded) | steps "
          "| saved | PSNR change (est.) | worst tile |")  # fmt: skip
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    total: dict[tuple[int, float], list[tuple[float, float, float]]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            rec = json.loads(path.read_text())
            dip = rec.get("fits", {}).get("dip", {})
            fits = (dip.get("tiles") or {}).get("fits") or []
            kw = (dip.get("preset") or {}).get("stop_kwargs") or {}
            if not fits or not all("curve" in f for f in fits):
                continue
            rec_rule = int(kw.get("patience", 200)), float(kw.get("min_delta", 0.0))
            min_steps = int(kw.get("min_steps", 200))
            steps_rec = sum(f["iters_run"] for f in fits)
            for pat, delta in rules:
                if pat > rec_rule[0] or delta < rec_rule[1]:
                    continue  # it may stop later than the record's curve goes
                steps, mse_rec, mse_new, worst = 0, 0.0, 0.0, 0.0
                for f in fits:
                    c = f["curve"]
                    psnr_at = dict(zip(c["psnr_step"], c["psnr_ema"], strict=True))
                    sc = c["rule_step"], c["rule_score"]
                    i_rec = _stop(*sc, rec_rule[0], min_steps, rec_rule[1])
                    i_new, stop = _stop_at(*sc, pat, min_steps, delta)
                    steps += min(stop, f["iters_run"]) if stop is not None else f["iters_run"]
                    p_rec = psnr_at[c["rule_step"][i_rec]]
                    p_new = psnr_at[c["rule_step"][i_new]]
                    mse_rec += 10 ** (-p_rec / 10)
                    mse_new += 10 ** (-p_new / 10)
                    worst = max(worst, p_rec - p_new)
                change = 10 * math.log10(mse_rec / mse_new)
                saved = 1 - steps / steps_rec
                total.setdefault((pat, delta), []).append((saved, change, worst))
                print(f"| {folder.name} | {rec['image']} | {len(fits)} | ({pat}, {delta:g}) "
                      f"| {steps_rec} | {steps} | {saved:.1%} | {change:+.3f} "
                      f"| {-worst:+.2f} |")  # fmt: skip
    print("\n| rule | records | mean saved | mean PSNR change (est.) | worst tile |")
    print("|---|---:|---:|---:|---:|")
    for (pat, delta), v in total.items():
        n, worst = len(v), max(w for *_, w in v)
        print(f"| ({pat}, {delta:g}) | {n} | {sum(a for a, _, _ in v) / n:.1%} "
              f"| {sum(b for _, b, _ in v) / n:+.3f} | {-worst:+.2f} |")  # fmt: skip


def _rule(text: str) -> tuple[int, float]:
    """``"150"`` or ``"150:0.001"``: a patience and a min_delta."""
    pat, _, delta = text.partition(":")
    return int(pat), float(delta or 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["fit"]:
        fit(sys.argv[2:])
    elif sys.argv[1:2] == ["tiles"]:
        args = sys.argv[2:]
        folders = [Path(a) for a in args if ":" not in a and not a.isdigit()]
        rules = [_rule(a) for a in args if ":" in a or a.isdigit()] or [(100, 0.0), (150, 0.0)]
        replay_tiles(folders, rules)
    else:
        replay(*(int(a) for a in sys.argv[2:3]))
