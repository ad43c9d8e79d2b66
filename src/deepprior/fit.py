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

from .device import autocast, host_summary, should_compile
from .errors import DeepPriorError, StateMismatch
from .seeds import PERTURB_STREAM, stream_seed
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
        backtrack_keep_db: the state backtracking returns to is refreshed only at steps whose
            loss is within this many dB of that state's loss (``None``: at every step that
            did not backtrack). A loss that climbs over many steps, each rise under
            ``backtrack_db``, then still sends the fit back to a state from before the climb
            (such a climb of 9.5 dB over 48 steps, none above 2.3 dB, wrecked an SR fit).
        lr_schedule: ``constant`` or ``cosine`` (from ``lr`` down to ``lr * lr_final`` at
            ``iters``); a cosine decay lets the last steps settle instead of jittering.
        warmup: steps of linear warm-up from ``lr / warmup`` to ``lr`` (0: none).
        lr_final: the cosine schedule's last learning rate, as a fraction of ``lr``.
        ema_warmup: ``N > 0``: the average's gamma at step ``t`` (from 0) is
            ``min(ema, (1 + t) / (N + t))``, so that it follows an output that changes fast
            in the first steps instead of lagging about ``1 / (1 - ema)`` steps behind (a
            fit started from another fit's weights); 0: always ``ema``.
    """

    iters: int = 2000
    lr: float = 0.01
    input_noise: float = 0.0
    ema: float | None = 0.99
    optimize_input: bool = False
    backtrack_db: float | None = None
    check_every: int = 1
    backtrack_lr_factor: float = 0.9
    backtrack_keep_db: float | None = None
    lr_schedule: str = "constant"
    warmup: int = 0
    lr_final: float = 0.0
    ema_warmup: int = 0

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based), before any backtracking damping.

        Example:
            >>> round(Schedule(iters=100, lr=0.01, lr_schedule="cosine").lr_at(50), 6)
            0.005
        """
        lr = self.lr
        if self.warmup > 0 and step < self.warmup:
            lr *= (step + 1) / self.warmup
        if self.lr_schedule == "cosine" and self.iters > 0:
            frac = min(step / self.iters, 1.0)
            scale = self.lr_final + (1 - self.lr_final) * 0.5 * (1 + math.cos(math.pi * frac))
            lr *= scale
        return lr

    @property
    def varies_lr(self) -> bool:
        """Whether the learning rate changes from step to step (set on every step)."""
        return self.lr_schedule != "constant" or self.warmup > 0

    def validate(self) -> None:
        """Raise :class:`DeepPriorError` for settings that cannot work."""
        if self.iters < 0:
            raise DeepPriorError(f"iters must be >= 0, got {self.iters}", param="iters")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DeepPriorError(f"lr must be a positive number, got {self.lr}", param="lr")
        if self.lr_schedule not in ("constant", "cosine"):
            raise DeepPriorError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}",
                param="lr_schedule",
            )
        if self.warmup < 0 or not 0 <= self.lr_final <= 1:
            raise DeepPriorError("warmup must be >= 0 and lr_final in [0, 1]")
        if not (self.input_noise >= 0 and math.isfinite(self.input_noise)):
            raise DeepPriorError(
                f"input_noise (sigma_p) must be a finite number >= 0, got {self.input_noise}",
                param="input_noise",
            )
        if self.ema is not None and not 0 <= self.ema < 1:
            raise DeepPriorError(f"ema (gamma) must be in [0, 1), got {self.ema}", param="ema")
        if self.ema_warmup < 0:
            raise DeepPriorError(f"ema_warmup must be >= 0, got {self.ema_warmup}")
        if self.check_every < 1:
            raise DeepPriorError(f"check_every must be >= 1, got {self.check_every}")
        keep = self.backtrack_keep_db
        if keep is not None and not (keep >= 0 and math.isfinite(keep)):
            raise DeepPriorError(f"backtrack_keep_db must be a number >= 0, got {keep}")


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
    request_stop: Callable[[str], None] | None = field(default=None, repr=False)

    def stop(self, reason: str) -> None:
        """Ask the loop to end after this step (e.g. a stopping rule has decided)."""
        if self.request_stop is not None:
            self.request_stop(reason)


class Callback:
    """Base class: override the hooks you need; ``every`` sets how often ``on_step`` runs.

    A callback that keeps state across steps (a stopping rule) may define ``state_dict()``
    and ``load_state_dict(d)``: its state is then saved with the fit's and restored on resume.
    """

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
        stop_reason: why a callback ended the fit before ``iters`` (``None``: it ran on).
        images: further images callbacks made (e.g. ``best``, the output a stopping rule
            chose), (1, C, H, W) float32 on the CPU.
        hosts: the machines the fit ran on (:func:`deepprior.device.host_summary`), in the
            order they first ran it: more than one when it was resumed on another machine,
            so that its ``seconds`` are not read as one machine's.

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
    stop_reason: str | None = None
    images: dict[str, torch.Tensor] = field(default_factory=dict)
    hosts: list[dict[str, Any]] = field(default_factory=list)
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


class _InputNoise:
    """Fresh ``N(0, sigma_p^2)`` perturbations of ``z`` from the fit's own generator.

    One flat buffer is viewed in z's layout: ``normal_()`` on a channels-last tensor takes a
    slow element-wise path (about 9x slower on a CPU).
    """

    def __init__(self, z: torch.Tensor, sigma: float, seed: int | None, channels_last: bool):
        self.sigma = sigma
        self.gen = torch.Generator(device=z.device)
        self.gen.manual_seed(stream_seed(0 if seed is None else seed, PERTURB_STREAM))
        n, c, h, w = z.shape
        self.flat = torch.empty(z.numel(), device=z.device)
        self.noise = (
            self.flat.view(n, h, w, c).permute(0, 3, 1, 2)
            if channels_last
            else self.flat.view(z.shape)
        )

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        self.flat.normal_(generator=self.gen).mul_(self.sigma)
        return z + self.noise


def _prepare(
    net: nn.Module,
    z: torch.Tensor,
    device: torch.device,
    fmt: torch.memory_format,
    resume: dict[str, Any] | None,
) -> torch.Tensor:
    """Move the net and z to the device and layout; a resumed fit takes the saved z."""
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
    return z


class _Loop:
    """The state of one fit (step, EMA, losses, backtracking) and its step function."""

    def __init__(
        self, net: nn.Module, z: torch.Tensor, data_term: Callable, schedule: Schedule,
        opt: torch.optim.Optimizer, step_net: Callable, cut: Callable,
        noise: _InputNoise | None, device: torch.device, dtype: torch.dtype,
    ) -> None:  # fmt: skip
        self.net, self.z, self.data_term, self.schedule = net, z, data_term, schedule
        self.opt, self.step_net, self.cut, self.noise = opt, step_net, cut, noise
        self.device, self.dtype = device, dtype
        self.losses = torch.zeros(max(schedule.iters, 1), device=device)
        self.ema: torch.Tensor | None = None
        self.ckpt: dict[str, Any] | None = None
        self.backtracks = 0
        self.step = 0
        self.lr_scale = 1.0
        self.hosts: list[dict[str, Any]] = [host_summary()]
        self.store = _Checkpoint(net, opt, z if schedule.optimize_input else None)
        db = schedule.backtrack_db
        self.threshold = None if db is None else 10 ** (db / 10)
        keep = schedule.backtrack_keep_db
        self.keep = None if keep is None else 10 ** (keep / 10)

    def _backtrack_check(self, loss: torch.Tensor) -> bool:
        """Read the loss back; on a jump restore the last good state. True: step skipped."""
        value = float(loss.detach())
        bad = not math.isfinite(value)
        if self.ckpt is not None and (bad or value > self.threshold * self.ckpt["loss"]):
            self.losses[self.step] = value
            self.store.restore()
            self.lr_scale *= self.schedule.backtrack_lr_factor
            if not self.schedule.varies_lr:
                for group in self.opt.param_groups:
                    group["lr"] *= self.schedule.backtrack_lr_factor
            saved = self.ckpt["ema"]
            self.ema = None if saved is None else saved.clone()
            self.backtracks += 1
            self.step += 1
            return True
        if bad:
            raise DeepPriorError("the loss is not finite at the first step; check inputs")
        if self.ckpt is None or self.keep is None or value <= self.keep * self.ckpt["loss"]:
            self.ckpt = self.store.save(value, self.ema)
        return False

    def run_step(self) -> torch.Tensor | None:
        """One Adam step; returns the detached output, or ``None`` for a backtracked step."""
        sch = self.schedule
        if sch.varies_lr:
            for group in self.opt.param_groups:
                group["lr"] = sch.lr_at(self.step) * self.lr_scale
        z_in = self.z if self.noise is None else self.noise(self.z)
        if self.step_net is not self.net:  # compiled: CUDA graphs may replay from here
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.device, self.dtype):
            out = self.step_net(z_in)
        out = self.cut(out).float()
        loss = self.data_term(out)
        if self.threshold is not None and self.step % sch.check_every == 0:
            if self._backtrack_check(loss):
                return None
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        detached = out.detach()
        self.losses[self.step] = loss.detach()
        if sch.ema is not None:
            if self.ema is None:
                self.ema = detached.clone()
            else:
                g = sch.ema
                if sch.ema_warmup:
                    g = min(g, (1 + self.step) / (sch.ema_warmup + self.step))
                self.ema.mul_(g).add_(detached, alpha=1 - g)
        self.step += 1
        return detached

    def state(self, seconds: float, callbacks: Sequence[Callback]) -> dict[str, Any]:
        """Everything needed to continue this fit later (see :func:`_load_state`)."""
        ckpt = self.ckpt
        return {
            "format": STATE_FORMAT, "step": self.step, "seconds": seconds,
            "net": self.net.state_dict(), "optimizer": self.opt.state_dict(),
            "z": self.z.detach(), "ema": self.ema, "losses": self.losses[: self.step].clone(),
            "backtracks": self.backtracks, "lr_scale": self.lr_scale, "hosts": list(self.hosts),
            "noise_rng": None if self.noise is None else self.noise.gen.get_state(),
            "backtrack": None if ckpt is None else {**ckpt, "saved": self.store.saved},
            "callbacks": {
                type(cb).__name__: cb.state_dict() for cb in callbacks if hasattr(cb, "state_dict")
            },
        }  # fmt: skip


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
    compile: bool | str | None = False,
    seed: int | None = 0,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Fit ``net`` so that ``data_term(crop(net(z)))`` is small.

    Args:
        net: the generator; it stays in train mode throughout (BatchNorm uses the statistics
            of the single image, as in the paper), and the final output is computed that way.
        z: the fixed input, (1, C, H, W) on the canvas.
        data_term: E(x): maps the cropped output (1, C, h, w) float32 to a scalar loss.
        schedule: iterations, learning rate (and its schedule), input noise, EMA, backtracking.
        crop: ``(top, left, h, w)`` of the image inside the canvas; ``None`` keeps it all.
        callbacks: progress, metrics, snapshots, stopping rules; each runs every
            ``callback.every`` steps, and may end the fit early with ``info.stop(reason)``.
        device: where to fit.
        dtype: compute dtype under autocast (``torch.bfloat16`` or ``torch.float32``).
        channels_last: use the channels-last memory format (faster with bf16 and on GPUs).
        compile: run the training forward through ``torch.compile``; ``None`` decides by
            device (see :func:`deepprior.device.should_compile`); a string is the compile
            mode (``"reduce-overhead"``: CUDA graphs, ``"max-autotune"``).
        seed: seeds the per-step input noise.
        resume: a state from :meth:`FitResult.state` (or :func:`load_state`) of the same net,
            input and schedule: the fit continues from that step, with the same weights, Adam
            moments, EMA, noise generator, backtracking and callback state, so that the result
            is the one an uninterrupted fit gives (bit for bit on a CPU).

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
    z = _prepare(net, z, device, fmt, resume)
    if compile is None:
        compile = should_compile(device)
    step_net: Callable[[torch.Tensor], torch.Tensor] = net
    if compile:
        step_net = torch.compile(net, mode=compile if isinstance(compile, str) else None)
    if isinstance(data_term, nn.Module):
        data_term.to(device)
    if schedule.optimize_input:
        z = z.clone().requires_grad_(True)
    params = [p for p in net.parameters() if p.requires_grad]
    if schedule.optimize_input:
        params.append(z)
    if not params:
        raise DeepPriorError("nothing to optimise: the net has no trainable parameters")
    # One fused kernel updates every parameter: on a GPU a step is bound by launches, and on a
    # CPU the per-tensor Adam of a small net's 87 tensors took 4 ms of a 100 ms step.
    fused = True if device.type in ("cuda", "cpu") else None
    opt = torch.optim.Adam(params, lr=schedule.lr, fused=fused)
    noise = None
    if schedule.input_noise > 0:
        noise = _InputNoise(z, schedule.input_noise, seed, channels_last)
    loop = _Loop(net, z, data_term, schedule, opt, step_net, _crop_fn(crop), noise, device, dtype)
    active = list(callbacks)
    if resume is not None:
        _load_state(resume, loop, active)
    return _run(loop, active, before=0.0 if resume is None else float(resume.get("seconds", 0.0)),
                compiled=bool(compile))  # fmt: skip


def _run(loop: _Loop, active: list[Callback], before: float, compiled: bool) -> FitResult:
    """Step until done, interrupted or stopped by a callback; then build the result."""
    iters, start = loop.schedule.iters, loop.step
    stop_reason: list[str] = []
    t0 = time.perf_counter()

    def current_state() -> dict[str, Any]:
        return loop.state(before + time.perf_counter() - t0, active)

    interrupted = False
    stop = _StepBoundaryInterrupt()
    try:
        stop.__enter__()
        for cb in active:
            cb.on_start(loop.schedule)
        while loop.step < iters and not stop_reason:
            if stop.requested:
                raise KeyboardInterrupt
            out = loop.run_step()
            if out is None:
                continue
            step = loop.step
            for cb in active:
                if step % cb.every == 0 or step == iters:
                    cb.on_step(
                        StepInfo(step, iters, loop.losses[step - 1], out, loop.ema,
                                 loop.backtracks, time.perf_counter() - t0, start, current_state,
                                 request_stop=stop_reason.append)
                    )  # fmt: skip
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.__exit__()
    seconds = before + time.perf_counter() - t0
    with torch.no_grad(), autocast(loop.device, loop.dtype):
        final = loop.cut(loop.net(loop.z)).float()
    result = FitResult(
        image=final.detach().cpu().contiguous(),
        ema=None if loop.ema is None else loop.ema.cpu().contiguous(),
        history={"loss": loop.losses[: loop.step].tolist()},
        iters_run=loop.step, seconds=seconds, interrupted=interrupted,
        backtracks=loop.backtracks, net=loop.net, z=loop.z.detach(), optimizer=loop.opt,
        compiled=compiled, start=start, resumable=not stop.forced,
        stop_reason=stop_reason[0] if stop_reason else None, hosts=list(loop.hosts),
        _state=current_state,
    )  # fmt: skip
    for cb in active:
        cb.on_end(result)
    return result


STATE_FORMAT = 1
#: The machine of a state that does not name one.
UNKNOWN_HOST: dict[str, Any] = {"cpu": "unknown"}


def merge_hosts(*lists: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct machines of ``lists``, in order of first appearance.

    Example:
        >>> a, b = {"cpu": "A"}, {"cpu": "B"}
        >>> merge_hosts([a], [b, a])
        [{'cpu': 'A'}, {'cpu': 'B'}]
    """
    out: list[dict[str, Any]] = []
    for hosts in lists:
        out += [h for h in hosts if h not in out]
    return out


def _load_state(st: dict[str, Any], loop: _Loop, callbacks: Sequence[Callback]) -> None:
    """Put a saved fit state back into the live loop (and the callbacks that keep state)."""
    if st.get("format") != STATE_FORMAT:
        raise StateMismatch("the saved fit state has an unknown format; start the fit afresh")
    step = int(st["step"])
    if step > loop.schedule.iters:
        raise StateMismatch(
            f"the saved fit state is at step {step}, beyond the {loop.schedule.iters} steps "
            f"asked for; ask for at least {step} steps"
        )
    try:
        loop.net.load_state_dict(st["net"])
        loop.opt.load_state_dict(st["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise StateMismatch(
            f"the saved fit state does not match this net ({str(e).splitlines()[0]}); "
            "start the fit afresh"
        ) from None
    if loop.noise is not None and st.get("noise_rng") is not None:
        loop.noise.gen.set_state(st["noise_rng"])
    device = loop.device
    loop.losses[:step] = st["losses"][:step].to(loop.losses)
    loop.ema = None if st.get("ema") is None else st["ema"].to(device).clone()
    bt = st.get("backtrack")
    if bt is not None:
        store = loop.store
        store.saved = [t.to(device).clone() for t in bt["saved"]]
        store.state = {
            "loss": bt["loss"], "n_live": bt.get("n_live", len(store.saved)),
            "ema": None if bt.get("ema") is None else bt["ema"].to(device).clone(),
        }  # fmt: skip
        loop.ckpt = store.state
    loop.step, loop.backtracks = step, int(st.get("backtracks", 0))
    loop.lr_scale = float(st.get("lr_scale", 1.0))
    loop.hosts = merge_hosts(st.get("hosts") or [UNKNOWN_HOST], loop.hosts)
    saved_cbs = st.get("callbacks") or {}
    for cb in callbacks:
        name = type(cb).__name__
        if name in saved_cbs and hasattr(cb, "load_state_dict"):
            cb.load_state_dict(saved_cbs[name])


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
        raise DeepPriorError(
            f"no saved fit state at {p}; run without resume", param="resume"
        ) from None
    except Exception as e:  # a truncated or foreign file
        raise StateMismatch(f"cannot read the saved fit state {p}: {e}") from None
