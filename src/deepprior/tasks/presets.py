"""Named settings per task: the paper's hyper-parameters (SPEC §3) and lighter variants.

A preset says which generator to build, what ``z`` is and how to fit. Every field can be
overridden per run (``--iters``, ``--lr``, ``--net`` ...); the report records the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import DeepPriorError


@dataclass(frozen=True)
class Preset:
    """A complete recipe for one fit.

    Attributes:
        name: the preset's name within its task.
        description: one line for ``--help`` and the README.
        net: registry name of the generator (see :func:`deepprior.nets.list_nets`).
        net_kwargs: constructor overrides for the generator.
        input: ``noise`` (uniform [0, 0.1)), ``meshgrid`` or ``guide``.
        input_channels: channels of a noise ``z``.
        iters, lr, input_noise, ema, backtrack_db: see :class:`deepprior.fit.Schedule`.
        output: which image the task returns: ``last`` (the final iterate) or ``ema``.
    """

    name: str
    description: str
    net: str = "skip"
    net_kwargs: dict[str, Any] = field(default_factory=dict)
    input: str = "noise"
    input_channels: int = 32
    iters: int = 2000
    lr: float = 0.01
    input_noise: float = 1 / 30
    ema: float | None = 0.99
    backtrack_db: float | None = 5.0
    output: str = "last"

    def with_overrides(self, **overrides: Any) -> Preset:
        """A copy with the non-``None`` overrides applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FAST_NET = {"n_d": [64, 64, 64, 64, 64], "n_s": 4}

PRESETS: dict[str, dict[str, Preset]] = {
    "denoise": {
        "paper": Preset(
            "paper", "SR-default net, 1800 steps, sigma_p=1/30, output = EMA (gamma 0.99)",
            iters=1800, output="ema",
        ),
        "fast": Preset(
            "fast", "64-filter net, 900 steps, output = EMA: ~5x cheaper than paper",
            net_kwargs=_FAST_NET, iters=900, output="ema",
        ),
    },
    "jpeg": {
        "paper": Preset(
            "paper", "Fig. 6 net (8..128 filters, skips on levels 4-5), 3-ch z, 2400 steps, EMA",
            net="jpeg", input_channels=3, iters=2400, output="ema",
        ),
        "fast": Preset(
            "fast", "the paper's JPEG net, 1200 steps, EMA",
            net="jpeg", input_channels=3, iters=1200, output="ema",
        ),
    },
    "sr": {
        "paper": Preset(
            "paper", "SR-default net, 2000 steps, sigma_p=1/30 (x8: 4000 steps, sigma_p=1/20)",
            iters=2000, ema=None,
        ),
        "fast": Preset(
            "fast", "64-filter net, 1000 steps", net_kwargs=_FAST_NET, iters=1000, ema=None,
        ),
    },
    "inpaint": {
        "text": Preset(
            "text", "Fig. 11: SR-default net, 6000 steps (text and thin masks)", iters=6000,
            ema=None,
        ),
        "holes": Preset(
            "holes", "Fig. 10: no-skip hourglass, meshgrid z, 5000 steps (large holes)",
            net="hourglass", input="meshgrid", iters=5000, ema=None,
        ),
        "depth": Preset(
            "depth", "Fig. 13: 6-level no-skip net, k_u=5, nearest, LR 0.1, sigma_p=0",
            net="inpaint-depth", iters=5000, lr=0.1, input_noise=0.0, ema=None,
        ),
        "fast": Preset(
            "fast", "64-filter net, 2000 steps", net_kwargs=_FAST_NET, iters=2000, ema=None,
        ),
    },
    "restore": {
        "paper": Preset(
            "paper", "Table 3: SR-default net, 11000 steps, LR 0.001 (50% random pixels)",
            iters=11000, lr=0.001, ema=None,
        ),
        "fast": Preset(
            "fast", "SR-default net, 3000 steps, LR 0.01", iters=3000, lr=0.01, ema=None,
        ),
    },
    "enhance": {
        "paper": Preset(
            "paper", "Fig. 18: SR-default net, sigma_p=0, stopped early at 400 steps",
            iters=400, input_noise=0.0, ema=None,
        ),
    },
    "flash": {
        "paper": Preset(
            "paper", "Fig. 19: z = the flash photo, LR 0.1, 601 steps, sigma_p=0",
            input="guide", iters=601, lr=0.1, input_noise=0.0, ema=None,
        ),
    },
}  # fmt: skip

DEFAULT_PRESET = {
    "denoise": "paper",
    "jpeg": "paper",
    "sr": "paper",
    "inpaint": "text",
    "restore": "paper",
    "enhance": "paper",
    "flash": "paper",
}


def get_preset(task: str, name: str | None = None, *, factor: int | None = None) -> Preset:
    """The preset ``name`` of ``task`` (its default when ``None``).

    The SR paper preset depends on the factor: x8 uses 4000 steps and sigma_p = 1/20.
    """
    if task not in PRESETS:
        raise DeepPriorError(f"unknown task {task!r}; choose one of {', '.join(PRESETS)}")
    name = name or DEFAULT_PRESET[task]
    try:
        preset = PRESETS[task][name]
    except KeyError:
        raise DeepPriorError(
            f"unknown preset {name!r} for {task}; choose one of {', '.join(PRESETS[task])}"
        ) from None
    if task == "sr" and name == "paper" and factor == 8:
        preset = replace(preset, iters=4000, input_noise=1 / 20)
    return preset
