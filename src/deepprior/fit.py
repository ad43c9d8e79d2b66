"""The fitting engine: theta* = argmin_theta E(f_theta(z); x0), with Adam.

The loop is task-agnostic: a task hands over a generator, its input ``z``, a data term
``E(x)`` (a module returning a scalar) and a :class:`Schedule`. Everything that reads values
back to the host (progress, PSNR, snapshots) lives in callbacks that run every K steps, so the
hot loop does no host sync, print or avoidable allocation per step.
"""

from __future__ import annotations

import io
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .device import autocast, should_compile
from .errors import DeepPriorError, StateMismatch
from .signals import sigterm_to_interrupt


@dataclass
class Schedule:
    """How to fit.

    Attributes:
        iters: number of Adam steps.
        lr: Adam learning rate.
        input_noise: sigma_p; each step uses ``z + N(0, sigma_p^2)`` with fresh noise.
        ema: gamma of the exponential average of outputs ``x_avg = g x_avg + (1-g) x_t``;
            ``None`` disables it.
        optimize_input: also optimise ``z``.
        backtrack_db: when the loss rises by more than this many dB between two checks
            (i.e. ``loss > loss_prev * 10**(db/10)``), return to the previous parameters and
            optimiser state and skip the bad step; ``None`` disables backtracking.
        check_every: steps between backtracking checks (each check reads the loss back).
        backtrack_lr_factor: the learning rate is multiplied by this after each backtrack,
            so a jump that keeps coming back is damped.
    """

    iters: int = 2000
    lr: float = 0.01
    input_noise: float = 0.0
    ema: float | None = 0.99
    optimize_input: bool = False
    backtrack_db: float | None = None
    check_every: int = 1
    backtrack_lr_factor: float = 0.9

    def validate(self) -> None:
        """Raise :class:`DeepPriorError` for settings that cannot work."""
        if self.iters < 0:
            raise DeepPriorError(f"--iters must be >= 0, got {self.iters}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DeepPriorError(f"--lr must be a positive number, got {self.lr}")
        if self.input_noise < 0:
            raise DeepPriorError(f"input noise sigma_p must be >= 0, got {self.input_noise}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise DeepPriorError(f"EMA gamma must be in [0, 1), got {self.ema}")
        if self.check_every < 1:
            raise DeepPriorError(f"check_every must be >= 1, got {self.check_every}")


@dataclass
class StepInfo:
    """What a callback sees after a step. Tensors live on the fitting device; reading syncs."""

    step: int
    iters: int
    loss: torch.Tensor
    output: torch.Tensor
    ema: torch.Tensor | None
    backtracks: int
    elapsed: float
    start: int = 0  # the step this fit started from (> 0 when it resumed a saved state)
    state: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)


class Callback:
    """Base class: override the hooks you need; ``every`` sets how often ``on_step`` runs."""

    every: int = 1

    def on_start(self, schedule: Schedule) -> None:  # noqa: B027 - optional hook
        pass

    def on_step(self, info: StepInfo) -> None:  # noqa: B027 - optional hook
        pass

    def on_end(self, result: FitResult) -> None:  # noqa: B027 - optional hook
        pass


@dataclass
class FitResult:
    """The outcome of :func:`fit`.

    Attributes:
        image: the final output f_theta(z) (no input noise), (1, C, H, W) float32 on the CPU.
        ema: the exponential average of the outputs, or ``None``.
        history: per-step ``loss`` and whatever callbacks recorded (e.g. ``psnr``).
        iters_run: steps taken (fewer than asked when interrupted).
        seconds: wall time of the loop (of all its runs, for a resumed fit).
        interrupted: the loop was stopped by Ctrl-C; the images are from the last step.
        backtracks: how often backtracking restored the previous state.
        net: the fitted generator; ``z``: its input (both on the fitting device).
        optimizer: the Adam optimiser in its final state (to resume or inspect).
        compiled: the training forward ran through ``torch.compile``.
        start: the step the fit started from (> 0 when it resumed a saved state).
        resumable: :meth:`state` is a consistent point to resume from (False after a second
            Ctrl-C stopped the fit in the middle of a step).

    :meth:`state` gives everything needed to continue the fit later (``fit(..., resume=)``).
    """

    image: torch.Tensor
    ema: torch.Tensor | None
    history: dict[str, list[Any]] = field(default_factory=dict)
    iters_run: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    backtracks: int = 0
    net: nn.Module | None = None
    z: torch.Tensor | None = None
    optimizer: torch.optim.Optimizer | None = None
    compiled: bool = False
    start: int = 0
    resumable: bool = True
    _state: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)

    def state(self) -> dict[str, Any]:
        """The fit's full state (for :func:`save_state` and ``fit(..., resume=state)``)."""
        if self._state is None:
            raise DeepPriorError("this fit result holds no state to resume from")
        return self._state()

    @property
    def final_loss(self) -> float | None:
        losses = self.history.get("loss") or []
        return losses[-1] if losses else None


class _Checkpoint:
    """The last good state for backtracking: parameters, buffers, Adam's moments, z, EMA.

    The copies are allocated once and refreshed in place, so a check costs one memcpy of
    the state, not a deep copy; they never alias the live tensors (the original notebooks'
    CPU checkpoint did, and restored nothing).
    """

    def __init__(self, net: nn.Module, opt: torch.optim.Optimizer, z: torch.Tensor | None):
        self.net, self.opt, self.z = net, opt, z
        self.saved: list[torch.Tensor] = []
        self.state: dict[str, Any] = {}

    def _live(self) -> list[torch.Tensor]:
        live = [t for t in self.net.state_dict().values() if isinstance(t, torch.Tensor)]
        if self.z is not None:
            live.append(self.z.detach())
        for group in self.opt.param_groups:
            for p in group["params"]:
                st = self.opt.state.get(p, {})
                live += [st[k] for k in sorted(st) if isinstance(st[k], torch.Tensor)]
        return live

    def save(self, loss: float, ema: torch.Tensor | None) -> dict[str, Any]:
        live = self._live()
        if len(live) == len(self.saved):
            torch._foreach_copy_(self.saved, live)
        else:  # first save, or Adam's state appeared after the first step
            self.saved = [t.detach().clone() for t in live]
        old = self.state.get("ema")
        if ema is None:
            keep = None
        elif old is not None and old.shape == ema.shape:
            keep = old.copy_(ema)
        else:
            keep = ema.clone()
        self.state = {"loss": loss, "ema": keep, "n_live": len(live)}
        return self.state

    def restore(self) -> None:
        with torch.no_grad():
            if len(self._live()) != len(self.saved):
                self.opt.state.clear()  # saved before Adam's first step: start Adam afresh
            torch._foreach_copy_(self._live(), self.saved)


class _StepBoundaryInterrupt:
    """Ctrl-C (SIGINT) and SIGTERM during the loop stop it at the next step boundary.

    A KeyboardInterrupt raised in the middle of a step would leave the weights updated but the
    step count, the EMA or the noise generator not, so the saved state would not resume to the
    result of an uninterrupted fit. A second signal interrupts at once. Only the main thread
    can install signal handlers; elsewhere this does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.forced = False  # a second signal: stopped mid-step, so not resumable
        self.old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StepBoundaryInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                old = signal.getsignal(sig)
                # Only Python's Ctrl-C handler and the CLI's SIGTERM one; a program's own
                # handlers are left alone.
                if old is signal.default_int_handler or old is sigterm_to_interrupt:
                    self.old[sig] = old
                    signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, old)
        self.old = {}


def _crop_fn(crop: tuple[int, int, int, int] | None) -> Callable[[torch.Tensor], torch.Tensor]:
    if crop is None:
        return lambda x: x
    top, left, h, w = crop
    return lambda x: x[..., top : top + h, left : left + w]


def fit(
    net: nn.Module,
    z: torch.Tensor,
    data_term: Callable[[torch.Tensor], torch.Tensor],
    schedule: Schedule,
    *,
    crop: tuple[int, int, int, int] | None = None,
    callbacks: Sequence[Callback] = (),
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    compile: bool | None = False,
    seed: int | None = 0,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Fit ``net`` so that ``data_term(crop(net(z)))`` is small.

    Args:
        net: the generator; it stays in train mode throughout (BatchNorm uses the statistics
            of the single image, as in the paper), and the final output is computed that way.
        z: the fixed input, (1, C, H, W) on the canvas.
        data_term: E(x): maps the cropped output (1, C, h, w) float32 to a scalar loss.
        schedule: iterations, learning rate, input noise, EMA, backtracking.
        crop: ``(top, left, h, w)`` of the image inside the canvas; ``None`` keeps it all.
        callbacks: progress, metrics, snapshots; each runs every ``callback.every`` steps.
        device: where to fit.
        dtype: compute dtype under autocast (``torch.bfloat16`` or ``torch.float32``).
        channels_last: use the channels-last memory format (faster with bf16 and on GPUs).
        compile: run the training forward through ``torch.compile``; ``None`` decides by
            device (see :func:`deepprior.device.should_compile`).
        seed: seeds the per-step input noise.
        resume: a state from :meth:`FitResult.state` (or :func:`load_state`) of the same net,
            input and schedule: the fit continues from that step, with the same weights, Adam
            moments, EMA, noise generator and backtracking state, so that the result is the
            one an uninterrupted fit gives (bit for bit on a CPU).

    Returns:
        A :class:`FitResult`. Ctrl-C stops the loop early and still returns the current state
        with ``interrupted=True``.

    Example:
        >>> from deepprior.nets import create_net, noise_input
        >>> x0 = torch.rand(1, 3, 32, 32)
        >>> net = create_net("skip", 8, 3, n_d=[8, 8], n_s=2, depth=2)
        >>> res = fit(net, noise_input(8, (32, 32)), lambda x: (x - x0).square().mean(),
        ...           Schedule(iters=3))
        >>> res.image.shape
        torch.Size([1, 3, 32, 32])
    """
    schedule.validate()
    device = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one fixed input size: autotune once
    net.to(device=device, memory_format=fmt)
    net.train()
    z = z.to(device).contiguous(memory_format=fmt)
    if resume is not None:  # the saved z: the input the saved weights were fitted to
        saved_z = resume.get("z")
        if not isinstance(saved_z, torch.Tensor) or saved_z.shape != z.shape:
            raise StateMismatch(
                "the saved fit state is for another input size; start the fit afresh"
            )
        z = saved_z.to(device=device, dtype=z.dtype).contiguous(memory_format=fmt)
    if compile is None:
        compile = should_compile(device)
    step_net: Callable[[torch.Tensor], torch.Tensor] = torch.compile(net) if compile else net
    if isinstance(data_term, nn.Module):
        data_term.to(device)
    if schedule.optimize_input:
        z = z.clone().requires_grad_(True)
    params = [p for p in net.parameters() if p.requires_grad]
    if schedule.optimize_input:
        params.append(z)
    if not params:
        raise DeepPriorError("nothing to optimise: the net has no trainable parameters")
    opt = torch.optim.Adam(params, lr=schedule.lr)
    cut = _crop_fn(crop)

    gen: torch.Generator | None = None
    noise: torch.Tensor | None = None
    if schedule.input_noise > 0:
        gen = torch.Generator(device=device)
        gen.manual_seed(0 if seed is None else seed)
        # One flat buffer viewed in z's layout: normal_() on a channels-last tensor takes a
        # slow element-wise path (about 9x slower on a CPU).
        n, c, h, w = z.shape
        noise_flat = torch.empty(z.numel(), device=device)
        noise = (
            noise_flat.view(n, h, w, c).permute(0, 3, 1, 2)
            if channels_last
            else (noise_flat.view(z.shape))
        )

    iters = schedule.iters
    losses = torch.zeros(max(iters, 1), device=device)
    ema: torch.Tensor | None = None
    gamma = schedule.ema
    ckpt: dict[str, Any] | None = None
    backtracks = 0
    threshold = None if schedule.backtrack_db is None else 10 ** (schedule.backtrack_db / 10)
    active = list(callbacks)

    def snapshot(loss_value: float) -> dict[str, Any]:
        return ckpt_store.save(loss_value, ema)

    def restore(state: dict[str, Any]) -> torch.Tensor | None:
        ckpt_store.restore()
        for group in opt.param_groups:
            group["lr"] *= schedule.backtrack_lr_factor
        return None if state["ema"] is None else state["ema"].clone()

    ckpt_store = _Checkpoint(net, opt, z if schedule.optimize_input else None)

    step = 0
    if resume is not None:
        step, ema, ckpt, backtracks = _load_state(
            resume, net, opt, gen, ckpt_store, losses, iters, device
        )
    start = step
    before = 0.0 if resume is None else float(resume.get("seconds", 0.0))

    def current_state() -> dict[str, Any]:
        return {
            "format": STATE_FORMAT, "step": step,
            "seconds": before + time.perf_counter() - t0, "net": net.state_dict(),
            "optimizer": opt.state_dict(), "z": z.detach(), "ema": ema,
            "losses": losses[:step].clone(), "backtracks": backtracks,
            "noise_rng": None if gen is None else gen.get_state(),
            "backtrack": None if ckpt is None else {**ckpt, "saved": ckpt_store.saved},
        }  # fmt: skip

    interrupted = False
    t0 = time.perf_counter()
    stop = _StepBoundaryInterrupt()
    try:
        stop.__enter__()
        for cb in active:
            cb.on_start(schedule)
        while step < iters:
            if stop.requested:
                raise KeyboardInterrupt
            if noise is not None:
                noise_flat.normal_(generator=gen).mul_(schedule.input_noise)
                z_in = z + noise
            else:
                z_in = z
            with autocast(device, dtype):
                out = step_net(z_in)
            out = cut(out).float()
            loss = data_term(out)
            if threshold is not None and step % schedule.check_every == 0:
                value = float(loss.detach())
                bad = not math.isfinite(value)
                if ckpt is not None and (bad or value > threshold * ckpt["loss"]):
                    losses[step] = value
                    ema = restore(ckpt)
                    backtracks += 1
                    step += 1
                    continue
                if bad:
                    raise DeepPriorError("the loss is not finite at the first step; check inputs")
                ckpt = snapshot(value)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            detached = out.detach()
            losses[step] = loss.detach()
            if gamma is not None:
                if ema is None:
                    ema = detached.clone()
                else:
                    ema.mul_(gamma).add_(detached, alpha=1 - gamma)
            step += 1
            for cb in active:
                if step % cb.every == 0 or step == iters:
                    cb.on_step(
                        StepInfo(step, iters, losses[step - 1], detached, ema, backtracks,
                                 time.perf_counter() - t0, start, current_state)
                    )  # fmt: skip
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.__exit__()
    seconds = before + time.perf_counter() - t0

    with torch.no_grad(), autocast(device, dtype):
        final = cut(net(z)).float()
    result = FitResult(
        image=final.detach().cpu().contiguous(),
        ema=None if ema is None else ema.cpu().contiguous(),
        history={"loss": losses[:step].tolist()},
        iters_run=step,
        seconds=seconds,
        interrupted=interrupted,
        backtracks=backtracks,
        net=net,
        z=z.detach(),
        optimizer=opt,
        compiled=bool(compile),
        start=start,
        resumable=not stop.forced,
        _state=current_state,
    )
    for cb in active:
        cb.on_end(result)
    return result


STATE_FORMAT = 1


def _load_state(
    st: dict[str, Any],
    net: nn.Module,
    opt: torch.optim.Optimizer,
    gen: torch.Generator | None,
    ckpt_store: _Checkpoint,
    losses: torch.Tensor,
    iters: int,
    device: torch.device,
) -> tuple[int, torch.Tensor | None, dict[str, Any] | None, int]:
    """Put a saved fit state back into the live objects; (step, ema, ckpt, backtracks)."""
    if st.get("format") != STATE_FORMAT:
        raise StateMismatch("the saved fit state has an unknown format; start the fit afresh")
    step = int(st["step"])
    if step > iters:
        raise StateMismatch(
            f"the saved fit state is at step {step}, beyond the {iters} steps asked for; "
            f"ask for at least {step} steps"
        )
    try:
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise StateMismatch(
            f"the saved fit state does not match this net ({str(e).splitlines()[0]}); "
            "start the fit afresh"
        ) from None
    if gen is not None and st.get("noise_rng") is not None:
        gen.set_state(st["noise_rng"])
    losses[:step] = st["losses"][:step].to(losses)
    ema = None if st.get("ema") is None else st["ema"].to(device).clone()
    ckpt = None
    bt = st.get("backtrack")
    if bt is not None:
        ckpt_store.saved = [t.to(device).clone() for t in bt["saved"]]
        ckpt_store.state = {
            "loss": bt["loss"], "n_live": bt.get("n_live", len(ckpt_store.saved)),
            "ema": None if bt.get("ema") is None else bt["ema"].to(device).clone(),
        }  # fmt: skip
        ckpt = ckpt_store.state
    return step, ema, ckpt, int(st.get("backtracks", 0))


def save_state(state: dict[str, Any], path: str | Path, **meta: Any) -> Path:
    """Write a fit state (and ``meta``: what it belongs to) atomically to ``path``."""
    from .io import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"meta": meta, "state": state}, buf)
    return atomic_write_bytes(Path(path), buf.getvalue())


def load_state(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a file written by :func:`save_state`: ``(state, meta)``, tensors on the CPU."""
    p = Path(path)
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
        return blob["state"], blob["meta"]
    except FileNotFoundError:
        raise DeepPriorError(f"no saved fit state at {p}; run without --resume") from None
    except Exception as e:  # a truncated or foreign file
        raise StateMismatch(f"cannot read the saved fit state {p}: {e}") from None
