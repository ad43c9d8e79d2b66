"""The fitting engine: backtracking, EMA, determinism, Ctrl-C, input optimisation."""

from __future__ import annotations

import pytest
import torch

from deepprior.errors import DeepPriorError
from deepprior.fit import Callback, Schedule, fit, load_state, save_state
from deepprior.nets import create_net, noise_input
from deepprior.ops import DataTerm


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    net = create_net("skip", 4, 3, n_d=[8, 8], n_s=2, depth=2)
    z = noise_input(4, (16, 16), generator=torch.Generator().manual_seed(seed))
    return net, z


TARGET = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(42))


class JumpAt(torch.nn.Module):
    """The MSE data term, except that call number ``at`` returns a huge (or NaN) loss."""

    def __init__(self, at: int, value: float = 1e6):
        super().__init__()
        self.inner = DataTerm(TARGET)
        self.at, self.value, self.calls = at, value, 0

    def forward(self, x):
        loss = self.inner(x)
        self.calls += 1
        return loss * self.value if self.calls == self.at + 1 else loss


class ClimbFrom(torch.nn.Module):
    """The MSE data term, except that calls ``at + 1`` to ``at + 4`` scale the loss up by 2 dB
    more each: a climb of 8 dB in which no step rises by 5 dB over the one before."""

    def __init__(self, at: int):
        super().__init__()
        self.inner = DataTerm(TARGET)
        self.at, self.calls = at, 0

    def forward(self, x):
        self.calls += 1
        k = self.calls - self.at
        return self.inner(x) * 10 ** (0.2 * k) if 0 < k <= 4 else self.inner(x)


class Record(Callback):
    def __init__(self):
        self.every = 1
        self.outputs = []

    def on_step(self, info):
        self.outputs.append(info.output.clone())


@pytest.mark.parametrize("bad", [1e6, float("nan")])
def test_backtracking_restores_parameters_and_optimizer_state(bad):
    sched = dict(lr=0.05, input_noise=0.0, ema=None, backtrack_db=5.0)
    net_a, z = _setup()
    ref = fit(net_a, z, DataTerm(TARGET), Schedule(iters=4, **sched))
    net_b, z = _setup()
    res = fit(net_b, z, JumpAt(5, bad), Schedule(iters=6, **sched))
    assert res.backtracks == 1
    # Step 5 saw a jump: the update that led there (step 4) is undone, so the parameters are
    # exactly those after 4 steps, not an alias of the live ones.
    for (name, a), b in zip(ref.net.named_parameters(), res.net.parameters(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(ref.image, res.image)
    # Adam's moments and step count were restored too, and the learning rate damped.
    opt_steps = {int(s["step"]) for s in _adam_state(res)}
    assert opt_steps == {4}


def test_a_slow_climb_of_the_loss_returns_to_the_state_before_it():
    sched = dict(iters=8, lr=0.05, input_noise=0.0, ema=None, backtrack_db=5.0)
    ref = fit(*_setup(), DataTerm(TARGET), Schedule(**{**sched, "iters": 3}))
    # The climb is in steps 4 to 7 (0-based). Every check compares with the step before it:
    # each 2 dB rise passes.
    plain = fit(*_setup(), ClimbFrom(4), Schedule(**sched))
    assert plain.backtracks == 0
    # The kept state is refreshed only within 0.5 dB of its loss: the climb is measured from
    # the last step before it (step 3, the weights after 3 updates), and the fit goes back
    # there once it is 5 dB above it.
    kept = fit(*_setup(), ClimbFrom(4), Schedule(**sched, backtrack_keep_db=0.5))
    assert kept.backtracks >= 1
    for (name, a), b in zip(ref.net.named_parameters(), kept.net.parameters(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(ref.image, plain.image)
    with pytest.raises(DeepPriorError, match="backtrack_keep_db must be a number >= 0"):
        fit(*_setup(), DataTerm(TARGET), Schedule(**sched, backtrack_keep_db=-1.0))


def test_backtracking_before_adams_first_moments_starts_adam_afresh():
    net, z = _setup()
    init = [p.detach().clone() for p in net.parameters()]
    res = fit(net, z, JumpAt(1), Schedule(iters=2, lr=0.05, ema=None, backtrack_db=5.0))
    assert res.backtracks == 1
    # The jump came right after the first update: back to the initial weights, no moments.
    for a, b in zip(init, res.net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not res.optimizer.state


def _adam_state(res):
    return list(res.optimizer.state.values())


def test_backtracking_damps_learning_rate():
    net, z = _setup()
    res = fit(net, z, JumpAt(3), Schedule(iters=5, lr=0.05, ema=None, backtrack_db=5.0))
    assert res.backtracks == 1
    assert res.optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.9)


def test_no_backtracking_when_disabled():
    net, z = _setup()
    res = fit(net, z, JumpAt(3), Schedule(iters=5, ema=None, backtrack_db=None))
    assert res.backtracks == 0
    assert res.history["loss"][3] > 1e3  # the jump went through


def test_ema_is_the_exponential_average_of_outputs():
    net, z = _setup()
    rec = Record()
    res = fit(net, z, DataTerm(TARGET), Schedule(iters=6, ema=0.9, input_noise=0.05),
              callbacks=[rec])  # fmt: skip
    expected = rec.outputs[0]
    for out in rec.outputs[1:]:
        expected = 0.9 * expected + 0.1 * out
    assert torch.allclose(res.ema, expected.cpu(), atol=1e-6)
    assert not torch.allclose(res.ema, res.image)


def test_an_ema_with_warm_up_follows_the_first_steps_closely():
    net, z = _setup()
    rec = Record()
    res = fit(net, z, DataTerm(TARGET), Schedule(iters=6, ema=0.99, ema_warmup=10),
              callbacks=[rec])  # fmt: skip
    expected = rec.outputs[0]
    for t, out in enumerate(rec.outputs[1:], start=1):
        g = min(0.99, (1 + t) / (10 + t))  # 0.18 at the second step, 0.47 at the sixth
        expected = g * expected + (1 - g) * out
    assert torch.allclose(res.ema, expected.cpu(), atol=1e-6)
    # nearer the last output than the plain average of the same outputs
    plain = fit(*_setup(), DataTerm(TARGET), Schedule(iters=6, ema=0.99)).ema
    assert (res.ema - res.image).abs().mean() < 0.5 * (plain - res.image).abs().mean()


def test_same_seed_same_result_and_other_seed_differs():
    sched = Schedule(iters=5, input_noise=1 / 30)
    a = fit(*_setup(0), DataTerm(TARGET), sched, seed=0)
    b = fit(*_setup(0), DataTerm(TARGET), sched, seed=0)
    c = fit(*_setup(0), DataTerm(TARGET), sched, seed=1)  # other input-noise draw
    assert torch.equal(a.image, b.image)
    assert a.history["loss"] == b.history["loss"]
    assert not torch.equal(a.image, c.image)


def test_loss_decreases():
    res = fit(*_setup(), DataTerm(TARGET), Schedule(iters=60, lr=0.02, input_noise=0.0))
    loss = res.history["loss"]
    assert len(loss) == 60 and res.iters_run == 60
    assert loss[-1] < 0.5 * loss[0]


def test_ctrl_c_returns_the_current_state():
    class Stop(Callback):
        every = 1

        def on_step(self, info):
            if info.step == 3:
                raise KeyboardInterrupt

    res = fit(*_setup(), DataTerm(TARGET), Schedule(iters=50), callbacks=[Stop()])
    assert res.interrupted and res.iters_run == 3
    assert res.image.shape == (1, 3, 16, 16) and res.ema is not None


def test_optimize_input_changes_z():
    net, z = _setup()
    res = fit(net, z, DataTerm(TARGET), Schedule(iters=5, optimize_input=True, lr=0.05))
    assert not torch.allclose(res.z.cpu(), z)


class _Canvas(torch.nn.Module):
    """A "net" whose output is a fixed canvas with a different value at every pixel."""

    def __init__(self, shape: tuple[int, int, int, int]):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))  # zero gradient: Adam leaves it at 0
        n = torch.Size(shape).numel()
        self.register_buffer("canvas", (torch.arange(n, dtype=torch.float32) / n).view(shape))

    def forward(self, z):
        return self.canvas + 0 * self.w


def test_crop_feeds_the_data_term_the_image_region():
    net, z = _Canvas((1, 3, 16, 16)), noise_input(4, (16, 16))
    seen = []

    def term(x):
        seen.append(x.detach().clone())
        return ((x - 0.5) ** 2).mean()

    res = fit(net, z, term, Schedule(iters=2), crop=(3, 2, 10, 12))
    region = net.canvas[:, :, 3:13, 2:14]  # rows 3..12, columns 2..13 of the canvas
    assert res.image.shape == (1, 3, 10, 12)
    assert seen and all(torch.equal(x, region) for x in seen)
    torch.testing.assert_close(res.image, region)


def test_callbacks_run_every_k_steps():
    rec = Record()
    rec.every = 4
    fit(*_setup(), DataTerm(TARGET), Schedule(iters=10), callbacks=[rec])
    assert len(rec.outputs) == 3  # steps 4, 8 and the last one (10)


@pytest.mark.parametrize(
    "kw, msg",
    [({"iters": -1}, "iters must"), ({"lr": 0}, "lr must"), ({"ema": 1.0}, "ema"),
     ({"input_noise": -1}, "sigma_p"), ({"lr_schedule": "step"}, "lr_schedule"),
     ({"ema_warmup": -1}, "ema_warmup must")],
)  # fmt: skip
def test_bad_schedule(kw, msg):
    with pytest.raises(DeepPriorError, match=msg):
        fit(*_setup(), DataTerm(TARGET), Schedule(**kw))


class StopAt(Callback):
    every = 1

    def __init__(self, at: int):
        self.at = at

    def on_step(self, info):
        if info.step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimize_input", [False, True])
def test_resumed_fit_equals_the_uninterrupted_one(tmp_path, optimize_input):
    # Input noise, EMA, a backtrack before the stop and the noise generator all carry over.
    sched = Schedule(iters=12, lr=0.02, input_noise=0.05, ema=0.9, backtrack_db=5.0,
                     optimize_input=optimize_input)  # fmt: skip
    full = fit(*_setup(), JumpAt(3), sched, seed=7)
    assert full.backtracks == 1

    part = fit(*_setup(), JumpAt(3), sched, seed=7, callbacks=[StopAt(5)])
    assert part.interrupted and part.iters_run == 5
    save_state(part.state(), tmp_path / "s.pt", task="test")
    state, meta = load_state(tmp_path / "s.pt")
    assert meta == {"task": "test"} and state["step"] == 5

    seen = []

    class Starts(Callback):
        every = 1

        def on_step(self, info):
            seen.append((info.start, info.step))

    # A fresh net and data term: everything the fit needs comes from the saved state.
    rest = fit(*_setup(1), DataTerm(TARGET), sched, seed=7, resume=state, callbacks=[Starts()])
    assert seen[0] == (5, 6) and rest.iters_run == 12 and rest.start == 5
    assert rest.backtracks == 1
    assert torch.equal(rest.image, full.image) and torch.equal(rest.ema, full.ema)
    assert rest.history["loss"] == full.history["loss"]
    assert rest.seconds > state["seconds"] > 0  # the time of both runs


def test_a_fit_resumed_on_another_machine_names_both(monkeypatch):
    import importlib

    fit_mod = importlib.import_module("deepprior.fit")  # the module (deepprior.fit is fit())
    here = fit_mod.host_summary()
    part = fit(*_setup(), DataTerm(TARGET), Schedule(iters=9), callbacks=[StopAt(4)])
    assert part.hosts == [here] and part.state()["hosts"] == [here]
    same = fit(*_setup(), DataTerm(TARGET), Schedule(iters=9), resume=part.state())
    assert same.hosts == [here]  # resumed where it was saved: one machine
    other = {**here, "cpu": "Another CPU", "cpu_flags": ["avx2"]}
    monkeypatch.setattr(fit_mod, "host_summary", lambda: other)
    moved = fit(*_setup(), DataTerm(TARGET), Schedule(iters=9), resume=part.state())
    assert moved.hosts == [here, other] and moved.iters_run == 9
    older = {k: v for k, v in part.state().items() if k != "hosts"}  # a state naming no host
    unknown = fit(*_setup(), DataTerm(TARGET), Schedule(iters=9), resume=older)
    assert unknown.hosts == [fit_mod.UNKNOWN_HOST, other]


def test_resume_errors(tmp_path):
    part = fit(*_setup(), DataTerm(TARGET), Schedule(iters=9), callbacks=[StopAt(6)])
    state = part.state()
    with pytest.raises(DeepPriorError, match="at step 6, beyond the 4 steps asked for"):
        fit(*_setup(), DataTerm(TARGET), Schedule(iters=4), resume=state)
    other = create_net("skip", 4, 3, n_d=[8, 16], n_s=2, depth=2)
    with pytest.raises(DeepPriorError, match="does not match this net"):
        fit(other, _setup()[1], DataTerm(TARGET), Schedule(iters=9), resume=state)
    with pytest.raises(DeepPriorError, match="no saved fit state at"):
        load_state(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a state")
    with pytest.raises(DeepPriorError, match="cannot read the saved fit state"):
        load_state(tmp_path / "junk.pt")


def test_a_second_ctrl_c_stops_at_once_and_leaves_no_state(tmp_path):
    from deepprior.callbacks import SaveState
    from deepprior.fit import _StepBoundaryInterrupt

    stop = _StepBoundaryInterrupt()
    stop._handle(2, None)  # the first: noted, the loop stops at the next step boundary
    assert stop.requested and not stop.forced
    with pytest.raises(KeyboardInterrupt):
        stop._handle(2, None)  # the second: at once
    assert stop.forced

    part = fit(*_setup(), DataTerm(TARGET), Schedule(iters=9), callbacks=[StopAt(4)])
    saver = SaveState(tmp_path / "s.pt")
    part.resumable = False
    saver.on_end(part)
    assert not (tmp_path / "s.pt").exists()
    part.resumable = True
    saver.on_end(part)
    assert load_state(tmp_path / "s.pt")[0]["step"] == 4


def test_only_the_clis_sigterm_handler_is_deferred_to_a_step_boundary():
    import signal

    from deepprior.fit import _StepBoundaryInterrupt
    from deepprior.signals import sigterm_to_interrupt

    def own(signum, frame):  # a program's own handler: never replaced
        pass

    before = signal.getsignal(signal.SIGTERM)
    try:
        for handler, taken in ((own, False), (sigterm_to_interrupt, True)):
            signal.signal(signal.SIGTERM, handler)
            stop = _StepBoundaryInterrupt().__enter__()
            assert (signal.getsignal(signal.SIGTERM) is not handler) is taken
            stop.__exit__()
            assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_sigterm_sent_twice_at_once_interrupts_once(monkeypatch):
    """`timeout` signals the process and then its group: the second copy must not raise
    while the first interrupt unwinds; a later SIGTERM interrupts again."""
    import os
    import signal

    from deepprior import signals

    monkeypatch.setattr(signals, "_last_term", -float("inf"))
    clock = iter([100.0, 100.5, 103.0])
    monkeypatch.setattr(signals.time, "monotonic", lambda: next(clock))
    before = signal.signal(signal.SIGTERM, signals.sigterm_to_interrupt)
    raised = 0
    try:
        for _ in range(3):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except KeyboardInterrupt:
                raised += 1
    finally:
        signal.signal(signal.SIGTERM, before)
    assert raised == 2  # at 100 s and at 103 s; the copy at 100.5 s is ignored


def test_progress_log_spaces_its_lines_in_time_and_estimates_the_time_left():
    from deepprior.callbacks import ProgressLog
    from deepprior.fit import StepInfo

    lines: list[str] = []
    cb = ProgressLog(lines.append, seconds=60, desc="x: dip")
    loss, out = torch.tensor(0.5), torch.zeros(1)
    for step, elapsed in [(10, 30.0), (20, 61.0), (30, 90.0), (40, 130.0), (100, 400.0)]:
        cb.on_step(StepInfo(step, 100, loss, out, None, 0, elapsed, start=0))
    # a line at 61 s (the first after 60 s) and at 130 s (60 s later); none at the end
    assert lines == [
        "x: dip: step 20/100 (20 %), 61 s so far, about 4.1 min left, loss 5.000e-01",
        "x: dip: step 40/100 (40 %), 2.2 min so far, about 3.2 min left, loss 5.000e-01",
    ]
    # a resumed fit counts its rate from the step it resumed at
    lines.clear()
    cb = ProgressLog(lines.append, seconds=0, desc="r")
    cb.on_step(StepInfo(60, 100, loss, out, None, 0, 10.0, start=50))
    assert lines == ["r: step 60/100 (60 %), 10 s so far, about 40 s left, loss 5.000e-01"]
