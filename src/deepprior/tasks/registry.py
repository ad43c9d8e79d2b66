"""The task registry: a task is one class, registered by name, that holds its operator, its
inputs, its presets and its command-line options.

Adding a task is one new module under :mod:`deepprior.tasks` that defines a :class:`Task`
subclass decorated with :func:`register_task`; the package imports every module in the
folder, so the task shows in :func:`list_tasks` and as a ``deepprior`` subcommand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ..errors import DeepPriorError
from .presets import Preset

__all__ = [
    "Option", "Task", "register_task", "get_task", "list_tasks", "PRESETS", "DEFAULT_PRESET",
]  # fmt: skip


@dataclass(frozen=True)
class Option:
    """One task-specific input or setting, declared in the API's terms.

    The CLI builds the subcommand's options from these: ``--`` + ``param`` with dashes
    (or ``flag``); an ``image`` or ``mask`` option is a path read before the call (a mask
    at the size of the first image).

    Attributes:
        param: the keyword (or, with ``positional``, the argument) of the task function.
        help: one line for ``--help``.
        type: ``int``, ``float``, ``str``, or ``bool`` (a flag); ``choices`` restricts the
            value.
        kind: ``value``, ``image`` or ``mask``.
        positional: an image given as the command's argument (``INPUT``), not an option.
    """

    param: str
    help: str = ""
    type: type = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    kind: str = "value"
    required: bool = False
    positional: bool = False
    flag: str | None = None

    @property
    def cli_flag(self) -> str:
        """The command-line flag: ``--`` + the name with dashes unless given."""
        return self.flag or "--" + self.param.replace("_", "-")


INPUT = Option("image", kind="image", positional=True)
PRIOR = Option(
    "prior", "dip: the generator; none: optimise pixels; tv: pixels + TV (paper baselines).",
    default="dip", choices=("dip", "tv", "none"),
)  # fmt: skip


class Task(ABC):
    """A restoration task. Subclasses set the class attributes and implement :meth:`run`.

    Attributes:
        name: registry and subcommand name.
        summary: one line (the subcommand's help).
        presets: named :class:`Preset` s; ``default_preset`` names the default.
        inputs: the images the task reads (the CLI's argument and image options).
        options: the task's own settings (e.g. the SR ``factor``).
        extras: names of the extra images the task writes next to the result.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    presets: ClassVar[dict[str, Preset]]
    default_preset: ClassVar[str] = "paper"
    inputs: ClassVar[tuple[Option, ...]] = (INPUT,)
    options: ClassVar[tuple[Option, ...]] = ()
    extras: ClassVar[tuple[str, ...]] = ()
    #: The operator acts pixel by pixel (identity, mask): the task can be restored in tiles
    #: with no context around them (see :meth:`tile_footprint`).
    pointwise: ClassVar[bool] = False
    #: Which of :attr:`inputs` the data term fits (the others guide the fit): an unfinished
    #: tile of an interrupted tiled run shows this image.
    fitted_input: ClassVar[int] = 0

    def extras_for(self, **params: Any) -> tuple[str, ...]:
        """The extra images a run with the task's options ``params`` writes (every name of
        :attr:`extras` unless a task says otherwise): the CLI protects the inputs from them
        and checks their paths before the fit."""
        return self.extras

    def tile_footprint(self, **params: Any) -> tuple[int, int] | None:
        """``(scale, context)`` for restoring in tiles (:mod:`deepprior.tiling`): output pixels
        per input pixel, and the input pixels beyond a tile its operator needs to be exact at
        the tile's border; ``None`` when the operator couples the whole image (no tiling)."""
        return (1, 0) if self.pointwise else None

    def result_size(self, size: tuple[int, int], **params: Any) -> tuple[int, int]:
        """(H, W) of the result for a first input image of ``size`` (the same by default):
        what the CLI estimates memory from before decoding the image."""
        return size

    def preset(self, name: str | None = None, **params: Any) -> Preset:
        """The preset ``name`` (the default when ``None``); ``params`` are the task's options."""
        name = name or self.default_preset
        try:
            return self.presets[name]
        except KeyError:
            raise DeepPriorError(
                f"unknown preset {name!r} for {self.name}; choose one of "
                f"{', '.join(self.presets)}", param="preset",
            ) from None  # fmt: skip

    @abstractmethod
    def run(self, *images: Any, **kw: Any) -> Any:
        """Restore with one fit of the whole image: the images of :attr:`inputs`, then
        options and common keywords."""

    def solve(
        self, *images: Any, tile: int | str | None = None, overlap: int | None = None,
        **kw: Any,
    ) -> Any:  # fmt: skip
        """Restore as the CLI does: :meth:`run` on the whole image, or in tiles when ``tile``
        is given, when the preset names a tile size (:attr:`Preset.tile`) or when the whole
        image will not fit in memory; ``tile="off"``: always the whole image (see
        :func:`deepprior.tiling.solve_maybe_tiled`)."""
        from ..tiling import solve_maybe_tiled

        return solve_maybe_tiled(self, *images, tile=tile, overlap=overlap, **kw)


_TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    _TASKS[cls.name] = cls()
    return cls


def get_task(name: str) -> Task:
    """The registered task ``name``."""
    try:
        return _TASKS[name]
    except KeyError:
        raise DeepPriorError(
            f"unknown task {name!r}; choose one of {', '.join(_TASKS)}", param="task"
        ) from None


def list_tasks() -> list[str]:
    """The names of the registered tasks, in registration order.

    Example:
        >>> import deepprior
        >>> {"denoise", "sr", "deblur"} <= set(deepprior.list_tasks())
        True
    """
    return list(_TASKS)


def variant(preset: Preset, description: str | None = None, **changes: Any) -> Preset:
    """A copy of ``preset`` with ``changes`` (a task's parameter-dependent preset)."""
    return replace(preset, **changes, **({"description": description} if description else {}))


class _View(Mapping):
    """A read-only mapping computed from the registry on each access."""

    def __init__(self, get: Any) -> None:
        self._get = get

    def __getitem__(self, key: str) -> Any:
        if key not in _TASKS:
            raise KeyError(key)
        return self._get(_TASKS[key])

    def __iter__(self) -> Iterator[str]:
        return iter(_TASKS)

    def __len__(self) -> int:
        return len(_TASKS)


#: ``PRESETS[task][name]``: every task's presets (a view of the registry).
PRESETS: Mapping[str, dict[str, Preset]] = _View(lambda t: t.presets)
#: ``DEFAULT_PRESET[task]``: each task's default preset name.
DEFAULT_PRESET: Mapping[str, str] = _View(lambda t: t.default_preset)
