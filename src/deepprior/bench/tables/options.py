"""What one ``deepprior bench`` run does (:class:`BenchOptions`), which images it runs and
the settings a record must share with it to be reused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DeepPriorError
from .registry import Table, get_table, tiled_tables

SCHEMA = 1

# The authors centre-crop the SR images so that both sides divide by the net's total stride.
SR_HR_MULTIPLE = 32


@dataclass(frozen=True)
class BenchOptions:
    """What one ``deepprior bench`` run does (the CLI's options).

    ``preset``: the preset name (of each fit's task) every DIP fit uses; ``None`` keeps the
    presets of the paper that each table uses. Another preset goes into the table's name, so
    its records and report sit beside the paper's (``denoise-CBM3D9-sigma25-fast``).
    """

    table: str
    dataset: str = "Set5"
    factor: int = 4
    sigma: float = 25.0
    p_known: float = 0.5
    data_dir: str | None = None
    out: str | None = None
    quick: bool = False
    quick_size: int = 64
    quick_iters: int = 20
    limit: int | None = None
    only: tuple[str, ...] = ()
    iters: int | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    jobs: int = 1
    tile_jobs: int = 1
    tile_warm: bool | None = None  # None: as the fits' preset says
    baselines: bool = True
    skip: tuple[str, ...] = ()  # baselines not to run
    force: bool = False
    progress: bool = False
    preset: str | None = None

    def validate(self) -> None:
        spec = self.spec  # an unknown table fails here
        spec.validate()
        for flag, value in (("--jobs", self.jobs), ("--limit", self.limit),
                            ("--iters", self.iters), ("--tile-jobs", self.tile_jobs)):  # fmt: skip
            if value is not None and value < 1:
                raise DeepPriorError(f"{flag} must be at least 1, got {value}")
        tiled = ", ".join(tiled_tables())
        if self.tile_jobs > 1 and not spec.fit_task:
            raise DeepPriorError(
                f"--tile-jobs applies to the tables whose fits run in tiles ({tiled}), "
                f"not {self.table}", param="tile_jobs",
            )  # fmt: skip
        if self.tile_warm is not None and not spec.fit_task:
            flag = "--warm-tiles" if self.tile_warm else "--cold-tiles"
            raise DeepPriorError(
                f"{flag} applies to the tables whose fits run in tiles ({tiled}), "
                f"not {self.table}", param="tile_warm",
            )  # fmt: skip
        unknown = [n for n in self.only if n not in all_names(self)]
        if unknown:
            raise DeepPriorError(
                f"--only: no image {', '.join(map(repr, unknown))} in table {self.name}; "
                f"choose from {', '.join(all_names(self))}"
            )
        from ..baselines import PARAMS

        bad = [n for n in self.skip if n not in PARAMS]
        if bad:
            raise DeepPriorError(
                f"--skip: no baseline {', '.join(map(repr, bad))}; choose from {', '.join(PARAMS)}"
            )
        if self.quick and self.quick_size < 32:
            raise DeepPriorError(f"--quick-size must be at least 32 px, got {self.quick_size}")
        if self.preset is not None and not self.preset.strip():
            raise DeepPriorError("the preset name is empty")

    @property
    def spec(self) -> Table:
        """The registered table, bound to these options."""
        return get_table(self.table)(self)

    @property
    def fit_preset(self) -> str:
        """The preset name every DIP fit of the table uses."""
        return self.preset or self.spec.default_preset

    @property
    def custom_preset(self) -> bool:
        """True when the fits use another preset than the paper's of this table."""
        return self.preset is not None and self.preset != self.spec.default_preset

    @property
    def warm(self) -> bool:
        """Whether the DIP fits warm-start their tiles: ``tile_warm`` (``--warm-tiles`` /
        ``--cold-tiles``), else as the fits' preset says."""
        if self.tile_warm is not None:
            return self.tile_warm
        return self.spec.preset_tile_warm()

    @property
    def name(self) -> str:
        """The table's name: the report's title and the default folder's name. Warm-started
        tiles add ``-warm``, whether the flag or the preset asked for them."""
        return (self.spec.name + (f"-{self.preset}" if self.custom_preset else "")
                + ("-warm" if self.warm else ""))  # fmt: skip

    @property
    def title(self) -> str:
        return (self.spec.title + (f", preset {self.preset}" if self.custom_preset else "")
                + (", warm-started tiles" if self.warm else ""))  # fmt: skip

    def out_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        base = Path("benchmarks") / "results"
        return (base / "quick" if self.quick else base) / self.name

    def effective_iters(self) -> int | None:
        """The step count forced on every fit (None: the preset's own)."""
        if self.iters is not None:
            return self.iters
        return self.quick_iters if self.quick else None


def all_names(opts: BenchOptions) -> list[str]:
    """Every image of the table, in the paper's order (before ``--limit``)."""
    return opts.spec.image_names()


def selected(opts: BenchOptions) -> list[tuple[int, str]]:
    """(index in the table, name) of the images to run: ``--only``, then ``--limit``."""
    named = list(enumerate(all_names(opts)))
    if opts.only:
        named = [(i, n) for i, n in named if n in opts.only]
    return named[: opts.limit]


def list_items(opts: BenchOptions, data_dir: Path) -> list[dict[str, Any]]:
    """The table's images (after ``--only`` and ``--limit``) with their files, which must exist."""
    spec = opts.spec
    return [spec.item(data_dir, i, name) for i, name in selected(opts)]


def resolved_precision(opts: BenchOptions) -> str:
    """The dtype the fits compute in (``float32`` or ``bfloat16``): what ``--precision`` means
    on this machine (``auto`` is bf16 on a CPU with bf16 units, else fp32)."""
    from ...device import resolve_precision, select_device

    return str(resolve_precision(opts.precision, select_device(opts.device))).removeprefix("torch.")


def settings_of(opts: BenchOptions) -> dict[str, Any]:
    """What a record must share with this run to be reused (the device is not part of it,
    the dtype the fits compute in is: ``--precision auto`` differs from machine to machine)."""
    return {
        "schema": SCHEMA,
        "table": opts.name,
        "preset": opts.preset if opts.custom_preset else "paper",
        "iters": opts.effective_iters(),
        "seed": opts.seed,
        "precision": resolved_precision(opts),
        "quick": opts.quick,
        "quick_size": opts.quick_size if opts.quick else None,
        "baselines": opts.baselines,
        **opts.spec.settings(),
        **({"tile_warm": True} if opts.warm else {}),  # (absent: cold records match)
    }


#: ``--precision`` options as records made before the settings kept the dtype wrote them.
_OPTION_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def same_settings(rec: dict[str, Any], settings: dict[str, Any]) -> bool:
    """True when the record ``rec`` was made with ``settings`` (see :func:`settings_of`).

    A record that kept the ``--precision`` option rather than the dtype is read with the
    dtype it names, ``auto`` with the dtype the record says its fits ran in.
    """
    theirs = dict(rec.get("settings") or {})
    p = theirs.get("precision")
    if p == "auto" or p in _OPTION_DTYPES:
        theirs["precision"] = _OPTION_DTYPES.get(p, rec.get("dtype"))
    return theirs == settings


#: Preset settings a record may differ in from today's preset without the difference being
#: the preset's: its prose, and what the bench sets by option (kept in the record's settings).
_NOT_COMPARED = ("description", "tile_warm")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def preset_changes(rec: dict[str, Any], current: dict[str, Any] | None) -> list[str]:
    """The settings (dotted names) in which the preset a record's DIP fit ran with differs
    from ``current``, today's settings of that preset: a preset changed since the record was
    made. ``--iters`` overrides the preset's steps, so they are compared only without it.

    Example:
        >>> rec = {"preset": {"lr": 0.01, "stop_kwargs": {"patience": 500}}, "settings": {}}
        >>> preset_changes(rec, {"lr": 0.01, "stop_kwargs": {"patience": 500, "tie_se": 0.5}})
        ['stop_kwargs.tie_se']
    """
    theirs = rec.get("preset")
    if current is None or not isinstance(theirs, dict):
        return []
    from dataclasses import MISSING, fields

    from ...tasks.presets import Preset

    skip = set(_NOT_COMPARED)
    if (rec.get("settings") or {}).get("iters") is not None:
        skip.add("iters")
    # A setting absent from one side has its default there (a record made before the
    # setting existed ran as its default says).
    default = {f.name: f.default for f in fields(Preset) if f.default is not MISSING}
    a, b = _flat(theirs), _flat(current)
    return sorted(
        k for k in a.keys() | b.keys()
        if k not in skip and a.get(k, default.get(k)) != b.get(k, default.get(k))
    )  # fmt: skip
