"""The table registry: one class per table of the paper, looked up by name (timm style).

A table owns what differs from one table to the next: its images, how one image is degraded
and restored (its per-image run), its protocol, the paper's numbers for it, its name, title
and settings. The generic runner (:mod:`.runner`) asks the table and never its name.

Example:
    >>> from deepprior.bench.tables import get_table, list_tables
    >>> list_tables()
    ['sr', 'denoise', 'inpaint', 'text-inpaint', 'holes']
    >>> get_table("denoise").dataset_of
    'CBM3D9'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch

from ...errors import DeepPriorError
from .. import data as bd
from ..protocols import PROTOCOLS, measure

if TYPE_CHECKING:
    from ...tasks.presets import Preset
    from .options import BenchOptions
    from .runner import _Runner

_TABLES: dict[str, type[Table]] = {}

TableT = TypeVar("TableT", bound="Table")


class Table(ABC):
    """One table of the paper, bound to the options of a run.

    Class attributes:
        kind: the registry name (``deepprior bench KIND``, set by :func:`register_table`),
            also the protocol's key.
        title_template, name_template: the report's title and the table's name (its folder's),
            formatted with the options' fields (``pct``: 100 * ``p_known``; ``percent``: the
            same rounded).
        setting_names: the options a reused record must share besides the generic ones.
        paper_at: the options' values the paper's numbers are for (none: any options).
        dataset_of: the data set of the images (``dip-examples`` for the authors' examples).
        default_preset: the preset name the paper's fits use (the ``preset=None`` default).
        fit_task: the registered task whose presets the DIP fits use (none: the table's fits
            never run in tiles).
        preset_task: the registered task whose presets the DIP fits use, where ``fit_task``
            is empty (the report compares each record's preset with today's).

    Args:
        opts: the run's options.
    """

    kind: ClassVar[str] = ""
    title_template: ClassVar[str] = ""
    name_template: ClassVar[str] = "{kind}"
    setting_names: ClassVar[tuple[str, ...]] = ()
    paper_at: ClassVar[dict[str, float]] = {}
    dataset_of: ClassVar[str] = ""
    default_preset: ClassVar[str] = "paper"
    fit_task: ClassVar[str] = ""
    preset_task: ClassVar[str] = ""

    def __init__(self, opts: BenchOptions) -> None:
        self.opts = opts

    def preset_params(self) -> dict[str, Any]:
        """The task options the DIP fits' preset depends on (SR: the factor)."""
        return {}

    def dip_preset(self) -> Preset | None:
        """The preset the DIP fits use, or ``None`` where the table names no task or the
        preset is unknown (the fits then fail where they start)."""
        task = self.fit_task or self.preset_task
        if not task:
            return None
        from ...tasks import get_task

        try:
            return get_task(task).preset(self.opts.fit_preset, **self.preset_params())
        except DeepPriorError:
            return None

    def preset_tile_warm(self) -> bool:
        """Whether the preset of the DIP fits warm-starts its tiles
        (:attr:`~deepprior.tasks.presets.Preset.tile_warm`; only tables that tile)."""
        p = self.dip_preset() if self.fit_task else None
        return p is not None and p.tile_warm

    def current_preset(self) -> dict[str, Any] | None:
        """Today's settings of the preset the DIP fits use, as a record keeps them."""
        p = self.dip_preset()
        return None if p is None else p.to_dict()

    def _fields(self) -> dict[str, Any]:
        o = self.opts
        return {"kind": self.kind, "factor": o.factor, "dataset": o.dataset, "sigma": o.sigma,
                "pct": 100 * o.p_known, "percent": round(100 * o.p_known)}  # fmt: skip

    @property
    def name(self) -> str:
        """The table's name for the paper's presets (the folder's and the record's)."""
        return self.name_template.format(**self._fields())

    @property
    def title(self) -> str:
        return self.title_template.format(**self._fields())

    @property
    def dataset(self) -> str:
        return self.dataset_of

    @property
    def protocol(self) -> dict[str, str]:
        """The evaluation protocol (the text of the report's header, ``primary`` included)."""
        return PROTOCOLS[self.kind]

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Raise :class:`DeepPriorError` for options this table does not take."""

    def image_names(self) -> list[str]:
        """Every image of the table, in the paper's order."""
        return list(bd.DATASETS[self.dataset])

    def item(self, data_dir: Path, index: int, name: str) -> dict[str, Any]:
        """One image's entry: name, index, data set and files (which must exist)."""
        p = bd.dataset_image(data_dir, self.dataset, name)
        return {"name": name, "index": index, "dataset": self.dataset, "image": str(p)}

    def settings(self) -> dict[str, Any]:
        """The table's own settings a reused record must share."""
        return {k: getattr(self.opts, k) for k in self.setting_names}

    def measure(self, x: torch.Tensor, ref: torch.Tensor, **extra: torch.Tensor) -> dict:
        """The protocol's numbers for one restored image."""
        return measure(self.kind, x, ref, **extra)

    def has_paper_numbers(self) -> bool:
        """True when the paper gives numbers for these options (see ``paper_at``)."""
        return all(abs(getattr(self.opts, k) - v) < 1e-9 for k, v in self.paper_at.items())

    def paper_numbers(self, paper: dict[str, Any], name: str, out: dict[str, Any]) -> None:  # noqa: B027, E501
        """Fill ``out`` (``per_image``, ``paper_only``, ``mean_only``) from the paper's tables;
        a missing entry may raise KeyError / ValueError / IndexError (then it stays empty)."""

    @abstractmethod
    def run(self, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
        """Degrade and restore one image with every method, through ``run``; returns
        ``{"ref": clean image, "extra": measure's keywords, ...}`` (the rest goes in the
        record)."""


def register_table(name: str) -> Callable[[type[TableT]], type[TableT]]:
    """Class decorator: add a :class:`Table` subclass to the registry as ``name``.

    Example:
        >>> @register_table("my-table")  # doctest: +SKIP
        ... class MyTable(Table):
        ...     dataset_of = "Set5"
    """

    def add(cls: type[TableT]) -> type[TableT]:
        cls.kind = name
        _TABLES[name] = cls
        return cls

    return add


def get_table(name: str) -> type[Table]:
    """The table class registered as ``name``.

    Raises:
        DeepPriorError: no table of that name.
    """
    try:
        return _TABLES[name]
    except KeyError:
        raise DeepPriorError(
            f"unknown table {name!r}; choose one of {', '.join(list_tables())}"
        ) from None


def list_tables() -> list[str]:
    """The registered tables' names, in the order they were registered (the paper's)."""
    return list(_TABLES)


def tiled_tables() -> list[str]:
    """The registered tables whose DIP fits go through the tiling runner (those with a
    :attr:`Table.fit_task`: ``--tile-jobs`` and ``--warm-tiles`` apply to them)."""
    return [name for name, cls in _TABLES.items() if cls.fit_task]
