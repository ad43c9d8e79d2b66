"""Stopping rules: stop on an overfitting curve near its best iterate, run on an improving one."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from deepprior.errors import DeepPriorError
from deepprior.fit import Callback, Schedule, StepInfo, fit
from deepprior.metrics import psnr
from deepprior.nets import create_net, noise_input
from deepprior.ops import DataTerm, Mask
from deepprior.stopping import HoldoutStop, VarianceStop, make_stopper

SIGMA = 0.1
RULES = [
    lambda: HoldoutStop(fraction=0.1, patience=150, every=10, use="output"),
    lambda: VarianceStop(window=50, patience=150, every=10),
]


def _scene(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    clean = torch.stack([xx, yy, (xx + yy) / 2]).unsqueeze(0)
    noise = SIGMA * torch.randn(1, 3, 64, 64, generator=g)
    fake = SIGMA * torch.randn(1, 3, 64, 64, generator=g)  # noise the "net" makes up later
    return clean, clean + noise, fake


def _curve(clean, fake, step: int, peak: int, overfit: bool) -> torch.Tensor:
    """A fit's output: the error shrinks fast, then slowly; with ``overfit`` the output takes
    on made-up noise after ``peak``, more and more, and jittering from step to step."""
    shrink = math.exp(-4 * step / peak)
    out = clean + 0.3 * shrink * (1 - clean) + 0.1 * (clean - 0.5)  # an error floor
    if overfit and step > peak:
        grow = (step - peak) / peak
        jitter = torch.randn(clean.shape, generator=torch.Generator().manual_seed(step))
        out = out + grow * (fake + 0.02 * jitter)
    return out


def _drive(rule, clean, fake, peak, overfit, iters=1000):
    stopped: list[str] = []
    for step in range(rule.every, iters + 1, rule.every):
        out = _curve(clean, fake, step, peak, overfit)
        info = StepInfo(step, iters, torch.tensor(0.0), out, None, 0, 0.0,
                        request_stop=stopped.append)  # fmt: skip
        rule.on_step(info)
        if stopped:
            return step, stopped[0]
    return None, None


@pytest.mark.parametrize("make", RULES)
def test_stops_after_the_peak_of_an_overfitting_curve(make):
    clean, noisy, fake = _scene()
    rule = make()
    if isinstance(rule, HoldoutStop):
        rule.attach(DataTerm(noisy[0]))
    step, reason = _drive(rule, clean, fake, peak=400, overfit=True)
    assert step is not None and "no improvement" in reason
    assert abs(step - (rule.best_step + 150)) <= 10  # as soon as the patience ran out
    oracle = max(psnr(_curve(clean, fake, t, 400, True)[0], clean[0]) for t in range(10, step, 10))
    best_psnr = psnr(rule.best[0], clean[0])
    assert best_psnr >= oracle - 0.5  # the kept image is near the best iterate
    assert best_psnr > psnr(_curve(clean, fake, step, 400, True)[0], clean[0]) + 0.3


@pytest.mark.parametrize("make", RULES)
def test_does_not_stop_while_still_improving(make):
    clean, noisy, fake = _scene()
    rule = make()
    if isinstance(rule, HoldoutStop):
        rule.attach(DataTerm(noisy[0]))
    step, _ = _drive(rule, clean, fake, peak=2000, overfit=False, iters=1000)
    assert step is None


def test_holdout_leaves_the_held_out_pixels_out_of_the_fit():
    clean, noisy, _ = _scene()
    mask = (torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    rule = HoldoutStop(fraction=0.2, seed=3)
    term = rule.attach(DataTerm(noisy[0], weight=mask))
    held = rule.val[0, 0] > 0
    assert held.any()
    assert (mask[0][held] == 1).all()  # only observed pixels are held out
    assert (term.weight[0, 0][held] == 0).all()  # and the fit no longer sees them
    assert torch.equal(term.weight[0, 0][~held], mask[0][~held])


def test_overlapping_tiles_placed_by_origin_hold_out_the_same_pixels():
    img = torch.rand(3, 40, 64, generator=torch.Generator().manual_seed(0))

    def held(left: int, origin: bool) -> torch.Tensor:
        rule = HoldoutStop(fraction=0.2, seed=3, origin=(0, left) if origin else None)
        rule.attach(DataTerm(img[:, :, left : left + 40]))
        return rule.val[0, 0]

    a, b = held(0, True), held(24, True)  # two 40 px tiles sharing 16 columns
    assert torch.equal(a[:, 24:], b[:, :16])
    assert 0.15 < float(a.mean()) < 0.25 and 0.15 < float(b.mean()) < 0.25
    # without an origin each tile draws its own pixels
    assert not torch.equal(held(0, False)[:, 24:], held(24, False)[:, :16])


def test_holdout_with_a_mask_operator_holds_out_only_known_pixels():
    # An unknown pixel says nothing about the fit: holding it out would only add noise.
    clean, _, _ = _scene()
    mask = (torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    rule = HoldoutStop(fraction=0.2, seed=3)
    term = rule.attach(DataTerm(clean[0] * mask, Mask(mask)))
    held = rule.val[0, 0] > 0
    assert (mask[0][held] == 1).all()
    assert 0.15 < float(held.sum() / mask.sum()) < 0.25  # the fraction of the known pixels
    assert (term.weight[0, 0][held] == 0).all()
    # Its score is the error on held-out pixels alone: a perfect image scores 0, a flat one
    # the mean square error there.
    flat = torch.full_like(clean, 0.5)
    expected = float(((flat - clean)[0][:, held]).square().mean())
    assert abs(rule.score(flat, None) - expected) < 1e-6
    assert rule.score(clean, None) < 1e-12


class _StopAt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step(self, info: StepInfo) -> None:
        if info.step == self.at:
            info.stop("enough")


def test_a_callback_ends_the_fit_early():
    torch.manual_seed(0)
    net = create_net("skip", 4, 3, n_d=[8, 8], n_s=2, depth=2)
    target = torch.rand(3, 16, 16)
    res = fit(net, noise_input(4, (16, 16)), DataTerm(target), Schedule(iters=50),
              callbacks=[_StopAt(7)])  # fmt: skip
    assert res.iters_run == 7 and res.stop_reason == "enough" and not res.interrupted
    assert len(res.history["loss"]) == 7


def test_holdout_rule_in_a_real_fit_keeps_its_best_image():
    torch.manual_seed(0)
    clean, noisy, _ = _scene()
    net = create_net("skip", 4, 3, n_d=[8, 8], n_s=2, depth=2)
    rule = HoldoutStop(fraction=0.1, every=5, patience=20, min_steps=0)
    term = rule.attach(DataTerm(noisy[0]))
    res = fit(net, noise_input(4, (64, 64)), term, Schedule(iters=60, lr=0.05),
              callbacks=[rule])  # fmt: skip
    assert "best" in res.images and res.images["best"].shape == (1, 3, 64, 64)
    assert res.history["best_step"] == [rule.best_step]
    assert min(res.history["holdout_score"]) == pytest.approx(rule.best_score)


def test_rule_state_round_trips():
    clean, noisy, fake = _scene()
    a = HoldoutStop(fraction=0.1, patience=1000, every=10, use="output")
    a.attach(DataTerm(noisy[0]))
    _drive(a, clean, fake, peak=400, overfit=True, iters=300)
    b = HoldoutStop(fraction=0.1, patience=1000, every=10, use="output")
    b.load_state_dict(a.state_dict())
    assert b.best_step == a.best_step and torch.equal(b.best, a.best)


class _Scripted(HoldoutStop):
    """A rule whose score at each step is given (the image is the step number)."""

    def __init__(self, scores: dict[int, float], **kw) -> None:
        super().__init__(**kw)
        self.script = scores

    def score(self, image, info):
        return self.script[info.step]


def _creeping(step: int) -> float:
    """A score that falls by 10 % per check to step 500, then by 0.001 % per check for good."""
    return 0.99 ** min(step, 500) / 10 * 0.99999 ** (max(step - 500, 0) / 10)


@pytest.mark.parametrize("min_delta", [0.0, 0.001])
def test_min_delta_stops_a_curve_that_only_creeps_down(min_delta):
    scores = {t: _creeping(t) for t in range(10, 3001, 10)}
    rule = _Scripted(scores, patience=200, every=10, min_steps=200, min_delta=min_delta)
    stopped: list[str] = []
    for t in scores:
        rule.on_step(StepInfo(t, 3000, torch.tensor(0.0), torch.full((1, 1, 2, 2), float(t)),
                              None, 0, 0.0, request_stop=stopped.append))  # fmt: skip
        if stopped:
            break
    if min_delta == 0:
        assert not stopped  # every check is a new minimum: no stop
        return
    # the last 0.1 % gain before the creep is around step 500; patience 200 later it stops
    assert stopped and "of more than 0.10%" in stopped[0]
    assert 500 <= rule.stop_step - 200 <= 520
    assert rule.best_step == rule.stop_step  # the image kept is still the lowest score's
    assert float(rule.best.flatten()[0]) == rule.stop_step
    again = _Scripted(scores, patience=200, min_delta=min_delta)
    again.load_state_dict(rule.state_dict())
    assert (again.anchor_step, again.anchor_score) == (rule.anchor_step, rule.anchor_score)


def test_min_delta_outside_zero_to_one_is_a_clear_error():
    with pytest.raises(DeepPriorError, match="min_delta is a share in"):
        HoldoutStop(min_delta=1.5)


def test_cosine_schedule_decays_to_the_final_rate():
    s = Schedule(iters=100, lr=0.02, lr_schedule="cosine", warmup=10, lr_final=0.1)
    assert s.lr_at(0) == pytest.approx(0.002 * (0.1 + 0.9 * 0.5 * (1 + 1)), rel=1e-6)
    assert s.lr_at(50) == pytest.approx(0.02 * (0.1 + 0.9 * 0.5))
    assert s.lr_at(100) == pytest.approx(0.002)


def test_unknown_rule_is_a_clear_error():
    with pytest.raises(DeepPriorError, match="unknown stopping rule 'nope'"):
        make_stopper("nope")


class _InterruptAt(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step(self, info: StepInfo) -> None:
        if info.step == self.at:
            raise KeyboardInterrupt


def test_a_resumed_fit_keeps_the_whole_psnr_curve_and_the_rule_state():
    from deepprior.callbacks import GroundTruth

    clean, noisy, _ = _scene()

    def run(callbacks, resume=None):
        torch.manual_seed(0)
        net = create_net("skip", 4, 3, n_d=[8, 8], n_s=2, depth=2)
        z = noise_input(4, (64, 64), generator=torch.Generator().manual_seed(0))
        return fit(net, z, DataTerm(noisy[0]), Schedule(iters=30, lr=0.05),
                   callbacks=callbacks, resume=resume)  # fmt: skip

    first = run([GroundTruth(clean, every=10), _InterruptAt(20)])
    assert first.interrupted and first.history["psnr_step"] == [10, 20]
    whole = run([GroundTruth(clean, every=10)], resume=first.state())
    assert whole.history["psnr_step"] == [10, 20, 30]
    assert whole.history["psnr"][:2] == first.history["psnr"]


def test_holdout_also_records_the_error_on_the_fitted_pixels():
    """A net that has fitted the noise reproduces the observed pixels exactly and the clean
    image at the held-out ones: zero error on the fitted pixels, the noise's on the others."""
    clean, noisy, _ = _scene()
    rule = HoldoutStop(fraction=0.2, every=1, patience=100, min_steps=0)
    rule.attach(DataTerm(noisy[0]))
    overfit = torch.where(rule.val.bool(), clean, noisy)
    held = rule.score(overfit, None)  # type: ignore[arg-type]
    assert rule.fitted_scores == [0.0] and held == pytest.approx(
        float((noisy - clean).square().mul(rule.val).sum() / rule.val.sum())
    )
    state = rule.state_dict()
    again = HoldoutStop(fraction=0.2)
    again.load_state_dict(state)
    assert again.fitted_scores == [0.0]


def test_the_held_out_pixels_do_not_depend_on_noise_drawn_with_the_same_seed():
    """Noise made with seed 0 and a mask drawn with seed 0 must not line up: the held-out
    pixels' noise has the same variance as the rest's."""
    from deepprior.ops import add_gaussian_noise

    clean = torch.full((3, 128, 128), 0.5)
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    rule = HoldoutStop(fraction=0.05, seed=0)
    rule.attach(DataTerm(noisy))
    sq = (noisy - clean).square()
    held = float((sq * rule.val[0]).sum() / rule.val.sum())
    fitted = float((sq * rule.fitted[0]).sum() / rule.fitted.sum())
    assert abs(held / fitted - 1) < 0.1, (held, fitted)  # was 0.81 with one shared stream


def test_the_post_filter_is_kept_only_where_the_held_out_pixels_say_it_helps():
    """``Preset.post``: the chroma filter of a result with chroma noise lowers the held-out
    error, so it is kept; of an isoluminant red-green pattern it blurs the colours away,
    so the result is returned as it was."""
    from types import SimpleNamespace

    from deepprior.ops import add_gaussian_noise
    from deepprior.tasks.base import _post_filter

    def decide(clean: torch.Tensor, result: torch.Tensor):
        rule = HoldoutStop(fraction=0.2, seed=0)
        rule.attach(DataTerm(add_gaussian_noise(clean, 0.1, seed=1)))
        out, (rec,) = _post_filter("chroma", SimpleNamespace(callbacks=[rule]), result, clean)
        return out, rec

    g = torch.Generator().manual_seed(0)
    flat = torch.tensor([0.6, 0.4, 0.3]).view(3, 1, 1).expand(3, 64, 64)
    out, rec = decide(flat, (flat + 0.05 * torch.randn(3, 64, 64, generator=g)).clamp(0, 1))
    assert rec["applied"] and rec["psnr"][1] > rec["psnr"][0] + 1
    assert psnr(out, flat) == pytest.approx(rec["psnr"][1], abs=1e-3)

    checker = ((torch.arange(64).view(-1, 1) + torch.arange(64)) % 2).float()
    red_green = torch.stack([0.3 + 0.4 * checker, 0.3 + 0.4 * (1 - checker), 0.3 + 0 * checker])
    out, rec = decide(red_green, red_green)
    assert not rec["applied"] and rec["heldout_mse"][1] > rec["heldout_mse"][0]
    assert torch.equal(out, red_green)
    # With no held-out pixels (a fit without the rule) nothing can vouch for the filter.
    out, (rec,) = _post_filter("chroma", SimpleNamespace(callbacks=[]), red_green, None)
    assert not rec["applied"] and "held-out" in rec["why"] and torch.equal(out, red_green)


def test_the_wiener_filter_reads_the_data_but_not_the_held_out_pixels():
    """``wiener+chroma``: the Wiener filter of the noisy data with a smooth result as pilot
    brings detail back, and the held-out pixels (which it read as the result's values, not
    as their noisy ones) vouch for it; the chroma filter is then judged on its output."""
    from types import SimpleNamespace

    import skimage.data
    import torch.nn.functional as F

    from deepprior.ops import add_gaussian_noise
    from deepprior.tasks.base import _post_filter

    clean = torch.from_numpy(skimage.data.astronaut()[100:196, 180:276].copy())
    clean = clean.permute(2, 0, 1).float() / 255
    noisy = add_gaussian_noise(clean, 25 / 255, seed=3)
    rule = HoldoutStop(fraction=0.05, seed=0)
    rule.attach(DataTerm(noisy))
    smooth = F.avg_pool2d(F.pad(clean[None], (1, 1, 1, 1), mode="reflect"), 3, stride=1)[0]
    blind = rule.blind_data(smooth)
    held = rule.val[0].bool()
    assert torch.equal(blind[held], smooth[held]) and torch.equal(blind[~held], noisy[~held])
    out, (wiener, chroma) = _post_filter("wiener+chroma", SimpleNamespace(callbacks=[rule]),
                                         smooth, clean)  # fmt: skip
    assert wiener["filter"] == "wiener" and wiener["applied"]
    assert wiener["psnr"][1] > wiener["psnr"][0] + 0.4
    assert chroma["psnr"][0] == wiener["psnr"][1]
    assert psnr(out, clean) == pytest.approx(
        chroma["psnr"][1 if chroma["applied"] else 0], abs=1e-3
    )
    # An operator other than the identity has no image of data to filter: not applied.
    masked = HoldoutStop(fraction=0.05, seed=0)
    masked.attach(DataTerm(noisy, Mask(torch.ones(96, 96))))
    _, (rec, _) = _post_filter("wiener+chroma", SimpleNamespace(callbacks=[masked]), smooth, None)
    assert not rec["applied"] and rec["why"] == "does not apply here"


def test_a_fit_does_not_see_the_noise_of_data_seeded_like_it():
    """Noise made with ``seed=0`` and a fit with ``seed=0``: the fit's input z and its
    perturbations come from their own streams (:mod:`deepprior.seeds`), so the result's error
    at the held-out pixels is uncorrelated with their noise (0.27 when z was drawn from the
    noise's stream: the net fitted the held-out noise through its input)."""
    import deepprior
    from deepprior.ops import add_gaussian_noise

    c = torch.full((3, 64, 64), 0.5)
    y = add_gaussian_noise(c, 0.1, seed=0)
    res = deepprior.denoise(y, progress=False, iters=300, seed=0)
    rule = HoldoutStop(fraction=0.05, seed=0)  # the fit's held-out pixels
    rule.attach(DataTerm(y))
    held = rule.val[0].bool()
    err, noise = (res.last - c)[held], (y - c)[held]
    corr = float((err * noise).mean() / (err.square().mean() * noise.square().mean()).sqrt())
    assert abs(corr) < 0.12, corr  # 654 samples: about 0.04 by chance
    fitted_err, fitted_noise = (res.last - c)[~held], (y - c)[~held]
    assert float((fitted_err * fitted_noise).mean()) > 0  # the fitted pixels' noise is fitted


def _flat_held_out(rule: HoldoutStop, clean: torch.Tensor, iters: int = 1000):
    """Exact data; the error off the held-out pixels shrinks all along, the held-out pixels'
    error jitters around a fixed level (a score that cannot see the gain)."""
    held = rule.val.bool()
    fixed = 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    stopped: list[str] = []
    for step in range(rule.every, iters + 1, rule.every):
        jitter = torch.randn(clean.shape, generator=torch.Generator().manual_seed(step))
        off = 0.2 * math.exp(-3 * step / iters) * fixed / 0.05
        out = clean + torch.where(held, fixed + 0.002 * jitter, off)
        rule.on_step(StepInfo(step, iters, torch.tensor(0.0), out, None, 0, 0.0,
                              request_stop=stopped.append))  # fmt: skip
        if stopped:
            return step
    return None


def test_tie_se_keeps_the_latest_image_the_held_out_score_cannot_tell_from_the_best():
    clean, _, _ = _scene()
    kept = {}
    for tie_se in (0.0, 1.0):
        rule = HoldoutStop(fraction=0.1, patience=300, every=10, use="output", tie_se=tie_se)
        rule.attach(DataTerm(clean[0]))
        stop = _flat_held_out(rule, clean)
        assert stop is not None  # a flat score stops the fit either way
        res = SimpleNamespace(images={}, history={})
        rule.on_end(res)
        kept[tie_se] = (res.history["best_step"][0], psnr(res.images["best"][0], clean[0]))
        assert rule.best_step <= stop - 300
    (lowest_step, lowest_psnr), (tied_step, tied_psnr) = kept[0.0], kept[1.0]
    assert tied_step > lowest_step + 100  # a later image than the lowest score's
    assert tied_psnr > lowest_psnr + 0.5  # and a better one


def test_tie_se_keeps_the_best_image_of_a_fit_that_takes_on_noise():
    clean, noisy, fake = _scene()
    rule = HoldoutStop(fraction=0.1, patience=150, every=10, use="output", tie_se=1.0)
    rule.attach(DataTerm(noisy[0]))
    step, _ = _drive(rule, clean, fake, peak=400, overfit=True)
    assert step is not None
    assert rule.kept_step <= 400 + 50  # the score rising from the peak on is not a tie
    # a tie may be a little past the peak (a rise within the score's noise), never far
    kept = psnr(rule.kept[0], clean[0])
    assert kept >= psnr(rule.best[0], clean[0]) - 0.5
    assert kept > psnr(_curve(clean, fake, step, 400, True)[0], clean[0]) + 1


def test_tie_se_state_round_trips_and_a_negative_value_is_a_clear_error():
    clean, _, _ = _scene()
    a = HoldoutStop(fraction=0.1, patience=10**6, every=10, use="output", tie_se=1.0)
    a.attach(DataTerm(clean[0]))
    _flat_held_out(a, clean, iters=300)
    b = HoldoutStop(fraction=0.1, patience=10**6, every=10, use="output", tie_se=1.0)
    b.load_state_dict(a.state_dict())
    assert b.kept_step == a.kept_step and torch.equal(b.kept, a.kept)
    assert torch.equal(b.best_err, a.best_err)
    with pytest.raises(DeepPriorError, match="tie_se must be >= 0"):
        HoldoutStop(tie_se=-1)
