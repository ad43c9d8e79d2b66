"""The fit plan: one place for the prior, the crop, the schedule and the output rule."""

from __future__ import annotations

import pytest
import torch

import deepprior
from deepprior.errors import DeepPriorError
from deepprior.fit import fit
from deepprior.ops import DataTerm, Downsample, Identity, Mask, add_gaussian_noise, bernoulli_mask
from deepprior.ops.priors import total_variation
from deepprior.plan import PIXEL_LR, TV_PRIOR_WEIGHT, build_plan, centre_crop, pixel_lr
from deepprior.tasks import Problem, get_preset

NET = {"n_d": [8, 8, 8], "n_s": 2, "depth": 3}
KW = {"iters": 4, "progress": False, "seed": 0, "net_kwargs": NET}


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_solve_with_an_operator_equals_the_task_bit_for_bit():
    # The generic entry point and the SR task build the same plan: the same bits.
    y = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))
    a = deepprior.sr(y, 4, preset="paper", **KW).image
    b = deepprior.solve(y, operator=Downsample(4), preset="paper", task="sr", **KW).image
    assert a.shape == (3, 48, 48)
    assert torch.equal(a, b)


def test_masked_tasks_use_the_mask_operator_bit_for_bit():
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(2))
    m = bernoulli_mask((32, 32), 0.5, seed=0)
    a = deepprior.inpaint(x * m, m, preset="text", **KW).image
    b = deepprior.solve(x * m, operator=Mask(m), preset="text", task="inpaint", **KW).image
    assert torch.equal(a, b)


def test_a_plan_is_a_plain_fit():
    # solve = build_plan + fit: calling fit by hand with the plan's pieces gives the same bits.
    y = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(3))
    res = deepprior.denoise(y, precision="fp32", **KW)  # as the plan below (auto may be bf16)
    preset = get_preset("denoise").with_overrides(iters=4, net_kwargs=NET)
    plan = build_plan(Problem("denoise", DataTerm(y, Identity()), (32, 32), 3), preset,
                      device="cpu", precision="fp32")  # fmt: skip
    assert plan.schedule.iters == 4 and plan.schedule.ema == preset.ema and plan.crop is None
    fr = fit(plan.net, plan.z, plan.data_term, plan.schedule, device="cpu", seed=0)
    assert torch.equal(res.ema, fr.ema.mean(0).clamp(0, 1))  # (the image may be post-filtered)


def test_centre_crop():
    assert centre_crop((64, 64), (64, 64)) is None
    assert centre_crop((64, 96), (50, 90)) == (7, 3, 50, 90)


def test_pixel_baselines_keep_the_users_learning_rate():
    # Before, --prior tv|none used max(lr, 0.01): a user's lr of 0.001 was silently raised.
    y = torch.rand(3, 16, 16)
    res = deepprior.denoise(y, prior="tv", lr=0.001, iters=2, progress=False)
    assert res.report["settings"]["lr"] == 0.001
    res = deepprior.restore(torch.rand(3, 16, 16), p_known=0.5, prior="none", iters=2,
                            progress=False)  # fmt: skip
    assert res.report["settings"]["lr"] == PIXEL_LR  # the preset's 0.001 is raised
    assert pixel_lr(get_preset("inpaint", "depth")) == 0.1


def test_tv_prior_sets_the_weight_once():
    res = deepprior.denoise(torch.rand(3, 16, 16), prior="tv", tv_weight=0.5, iters=1,
                            progress=False)  # fmt: skip
    assert res.report["settings"]["tv_weight"] == 0.5
    res = deepprior.denoise(torch.rand(3, 16, 16), prior="none", tv_weight=0.5, iters=1,
                            progress=False)  # fmt: skip
    assert res.report["settings"]["tv_weight"] == 0.0
    res = deepprior.denoise(torch.rand(3, 16, 16), prior="tv", iters=1, progress=False)
    assert res.report["settings"]["tv_weight"] == TV_PRIOR_WEIGHT


def test_dip_tv_smooths_the_dip_output():
    # DIP-TV: with prior='dip' a TV weight joins the generator's loss (default 0: the paper's).
    noisy = torch.rand(3, 24, 24)
    kw = {"preset": "fast", "iters": 150, "output": "last", "seed": 0, "device": "cpu",
          "precision": "fp32", "net_kwargs": {"n_d": [8, 8], "n_s": 2, "depth": 2},
          "progress": False}  # fmt: skip
    plain = deepprior.denoise(noisy, **kw)
    tv = deepprior.denoise(noisy, tv_weight=1.0, **kw)
    assert plain.report["settings"]["tv_weight"] == 0.0
    assert tv.report["settings"]["tv_weight"] == 1.0
    assert float(total_variation(tv.image)) < 0.8 * float(total_variation(plain.image))
    with pytest.raises(DeepPriorError, match="tv_weight must be 0 or more"):
        deepprior.denoise(noisy, tv_weight=-1.0, **kw)


def test_stopping_rule_and_best_output():
    y = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(4))
    stop = {"every": 1, "patience": 1, "min_steps": 2}
    res = deepprior.denoise(y, stop="holdout", stop_kwargs=stop, output="best",
                            **{**KW, "iters": 40})  # fmt: skip
    rep = res.report
    assert rep["preset"]["stop"] == "holdout" and 1 <= rep["best_step"] <= rep["iters_run"]
    assert rep["stop_reason"] is None or rep["iters_run"] < 40
    if rep["best_step"] < rep["iters_run"]:
        assert not torch.equal(res.image, res.last)  # the best image, not the last iterate
    plain = deepprior.denoise(y, preset="paper", **KW)
    assert plain.report["stop_reason"] is None and plain.report["best_step"] is None


def test_preset_schedule_follows_the_device():
    p = get_preset("sr")
    assert p.schedule("cpu").check_every == 1 and p.schedule("cpu").lr == p.lr
    assert p.schedule(torch.device("cuda")).check_every == 10


def test_output_rule_best_then_ema_then_last():
    from dataclasses import replace

    from deepprior.fit import FitResult

    y = torch.rand(3, 16, 16)
    preset = get_preset("denoise").with_overrides(output="best", net="pixels")
    plan = build_plan(Problem("denoise", DataTerm(y), (16, 16), 3), preset, prior="none",
                      device="cpu", memory_check=False)  # fmt: skip
    last, ema, best = (torch.full((1, 3, 16, 16), v) for v in (0.1, 0.2, 0.3))
    assert plan.outputs(FitResult(last, ema, images={"best": best}))[0].mean() == pytest.approx(0.3)
    assert plan.outputs(FitResult(last, ema))[0].mean() == pytest.approx(0.2)
    assert plan.outputs(FitResult(last, None))[0].mean() == pytest.approx(0.1)
    plan = replace(plan, output="last")
    assert plan.outputs(FitResult(last, ema, images={"best": best}))[0].mean() == pytest.approx(0.1)


def test_auto_tv_weight_follows_the_estimated_noise():
    # The auto-tv denoiser weighs its TV term by the noise it estimates in the input.
    flat = torch.full((3, 48, 48), 0.5)
    kw = {"preset": "auto-tv", "iters": 2, "progress": False, "net_kwargs": NET}
    weights = [deepprior.denoise(add_gaussian_noise(flat, s), **kw).report["settings"]["tv_weight"]
               for s in (0.05, 0.2)]  # fmt: skip
    assert weights[0] == pytest.approx(0.1 * 0.05, rel=0.2)
    assert weights[1] == pytest.approx(0.1 * 0.2, rel=0.2)
    user = deepprior.denoise(add_gaussian_noise(flat, 0.2), tv_weight=0.5, **kw)
    assert user.report["settings"]["tv_weight"] == 0.5  # the user's weight wins


def test_presets_without_dip_tv_keep_their_settings():
    # A setting added later is left out of a preset's settings where it is off, so a fit
    # saved before it existed still resumes (its state's fingerprint holds the settings).
    assert "tv_per_sigma" not in get_preset("denoise", "auto").to_dict()
    assert get_preset("denoise", "auto-tv").to_dict()["tv_per_sigma"] == 0.1


def test_stop_kwargs_change_the_presets_rule_and_another_rule_drops_them():
    from deepprior.tasks.common import with_user_overrides

    auto = get_preset("denoise", "auto")
    p = with_user_overrides(auto, {"stop_kwargs": {"patience": 50, "tie_se": 0.5}})
    assert p.stop == "holdout"
    assert p.stop_kwargs == {**auto.stop_kwargs, "patience": 50, "tie_se": 0.5}
    assert auto.stop_kwargs["patience"] != 50  # the preset itself is unchanged
    p = with_user_overrides(auto, {"stop": "variance", "stop_kwargs": {"window": 40}})
    assert p.stop == "variance" and p.stop_kwargs == {"window": 40}
    with pytest.raises(DeepPriorError, match="preset 'paper' has no stopping rule"):
        with_user_overrides(get_preset("denoise", "paper"), {"stop_kwargs": {"patience": 5}})
    with pytest.raises(DeepPriorError, match="no setting 'patiense'; its settings: fraction"):
        deepprior.denoise(torch.rand(1, 16, 16), stop_kwargs={"patiense": 5}, **KW)


#: The preset settings a saved fit's fingerprint holds. A saved state resumes only while
#: these are unchanged, so a setting added to Preset belongs in presets._OFF_BY_DEFAULT.
FINGERPRINTED = {
    "name", "description", "net", "net_kwargs", "input", "input_channels", "iters", "lr",
    "input_noise", "ema", "backtrack_db", "backtrack_keep_db", "output", "stop", "stop_kwargs",
    "lr_schedule", "keep_observed", "tile",
}  # fmt: skip


def test_a_new_preset_setting_does_not_orphan_saved_fits():
    # Every field of Preset is either fingerprinted from the start, bookkeeping, or left out
    # of the settings at the default that turns it off; else every user's saved fit (and
    # every benchmark's resumable state) would be refused after an upgrade.
    from dataclasses import fields

    from deepprior.tasks.presets import _BOOKKEEPING, _OFF_BY_DEFAULT, Preset

    names = {f.name for f in fields(Preset)} - set(_BOOKKEEPING) - set(_OFF_BY_DEFAULT)
    assert names == FINGERPRINTED, (
        f"new Preset settings {sorted(names - FINGERPRINTED)}: add them to _OFF_BY_DEFAULT "
        "with the value that turns them off"
    )
    defaults = {f.name: f.default for f in fields(Preset)}
    assert {k: defaults[k] for k in _OFF_BY_DEFAULT} == _OFF_BY_DEFAULT
    assert set(get_preset("sr", "auto", factor=4).to_dict()) == FINGERPRINTED
