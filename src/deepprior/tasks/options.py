"""The keyword arguments every task function shares, typed and documented once.

The task functions (:func:`~deepprior.denoise`, :func:`~deepprior.sr`, ...) take the same
preset overrides and fit settings. They are declared here as :class:`FitOptions` (for type
checkers, through ``**kw: Unpack[FitOptions]``) and :func:`fit_options` gives each function
an explicit signature and an Args section with them, so that ``help()``, IDEs and
``inspect.signature`` show every keyword with its type and default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict, TypeVar, get_type_hints

from ..fit import Callback

__all__ = ["FitOptions", "FIT_OPTION_DOCS", "fit_options"]


class FitOptions(TypedDict, total=False):
    """The shared keywords of the task functions (see :data:`FIT_OPTION_DOCS`)."""

    iters: int | None
    lr: float | None
    input_noise: float | None
    net: str | None
    net_kwargs: dict[str, Any] | None
    ema: float | None
    output: str | None
    input: str | None
    backtrack_db: float | None
    stop: str | None
    stop_kwargs: dict[str, Any] | None
    seed: int
    device: str
    precision: str
    gt: Any
    progress: bool | str
    callbacks: Sequence[Callback]
    snapshot_dir: str | Path | None
    snapshot_every: int
    metrics_every: int
    memory_check: bool
    prior: str
    tv_weight: float | None
    restarts: int
    state_file: str | Path | None
    state_every: int
    state_seconds: float
    resume: bool
    init_weights: dict[str, Any] | None


#: One line per shared keyword: what it sets. Preset overrides are ``None`` by default (the
#: preset's value); the fit settings' defaults are those of ``solve_problem``.
FIT_OPTION_DOCS: dict[str, str] = {
    "iters": "number of fitting steps (the most, for a preset that stops by itself).",
    "lr": "Adam learning rate.",
    "input_noise": "sigma_p, the std of the noise added to z at each step.",
    "net": "generator name (see deepprior.list_nets()); drops the preset's net settings.",
    "net_kwargs": "generator settings, e.g. {'n_d': [64] * 5}.",
    "ema": "gamma of the running average of the outputs (None: no average).",
    "output": "which image is returned: 'last', 'ema' or 'best'.",
    "input": "z: 'noise', 'meshgrid' or 'guide'.",
    "backtrack_db": "loss jump (dB) that sends the fit back to its last good state.",
    "stop": "stopping rule ('holdout', 'variance') or None to run every step.",
    "stop_kwargs": "settings of the stopping rule that change the preset's, e.g. "
    "{'patience': 1000} (another stop: its settings alone).",
    "seed": "random seed of the net, z and the input noise.",
    "device": "'auto', 'cpu', 'cuda' or 'cuda:N'.",
    "precision": "'auto' (bf16 on CPUs with native bf16 units, else fp32), 'fp32' or 'bf16'.",
    "gt": "clean image (tensor, array, PIL image or path): PSNR/SSIM during and after.",
    "progress": "show a progress bar and the one-line plan before the fit; 'log': the plan and "
    "a plain progress line every minute instead of the bar (for logs).",
    "callbacks": "extra callbacks of the fitting loop (deepprior.Callback).",
    "snapshot_dir": "folder the snapshots of snapshot_every go to.",
    "snapshot_every": "write the current output every K steps (0: never).",
    "metrics_every": "measure the PSNR against gt every K steps.",
    "memory_check": "refuse to start when the estimated memory exceeds what is free.",
    "prior": "'dip' (the generator), 'tv' or 'none' (pixels: the paper's baselines).",
    "tv_weight": "weight of a TV term in the loss: prior='tv' (default 0.02) or 'dip' (DIP-TV, "
    "default 0).",
    "restarts": "fit N independently initialised nets at once; return their mean.",
    "state_file": "where the fit's state is saved (to resume).",
    "state_every": "save the state every K steps (0: only when interrupted).",
    "state_seconds": "save the state at most once per this many seconds.",
    "resume": "continue from the state in state_file.",
    "init_weights": "start the generator from these weights (a Result.weights of a fit with "
    "the same net) instead of a random draw.",
}

F = TypeVar("F", bound=Callable[..., Any])


def _defaults() -> dict[str, Any]:
    """Each shared keyword's default: ``solve_problem``'s, or ``None`` (the preset's)."""
    from .base import solve_problem

    params = inspect.signature(solve_problem).parameters
    return {
        name: params[name].default if name in params else None
        for name in FitOptions.__annotations__
    }


def fit_options(fn: F) -> F:
    """Give a task function ``fn(..., **kw)`` the shared keywords explicitly: its
    ``__signature__`` lists them (keyword-only, typed, with defaults) in place of ``**kw``
    and its docstring gains a "Fit options" section. The function itself is unchanged.

    Example:
        >>> @fit_options
        ... def f(image, *, preset=None, **kw):
        ...     '''Restore.'''
        >>> inspect.signature(f).parameters["iters"]
        <Parameter "iters: int | None = None">
    """
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    names = {p.name for p in own}
    defaults, types = _defaults(), get_type_hints(FitOptions)
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name],
                          annotation=types[name])
        for name in types if name not in names
    ]  # fmt: skip
    fn.__signature__ = sig.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    lines = [f"    {p.name}: {FIT_OPTION_DOCS[p.name]}" for p in shared]
    section = "\n\nFit options (keyword-only; see docs/guide.md):\n" + "\n".join(lines) + "\n"
    fn.__doc__ = inspect.cleandoc(fn.__doc__ or "") + section
    return fn
