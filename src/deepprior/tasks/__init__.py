"""Applications: each task is one module here holding a registered :class:`Task` (its
operator, inputs, presets and CLI options); every module in this folder is imported, so a new
task is one new file (see :mod:`.registry` and :mod:`.deblur`)."""

import importlib
import pkgutil

from .base import PRIORS, Problem, Result, solve_problem
from .common import as_image
from .deblur import GaussianBlur, deblur
from .denoise import denoise, remove_jpeg_artifacts
from .enhance import enhance
from .flash import flash_no_flash
from .generic import solve
from .masked import MASK_KINDS, inpaint, make_mask, restore
from .presets import Preset, get_preset
from .registry import DEFAULT_PRESET, PRESETS, Option, Task, get_task, list_tasks, register_task
from .sr import SR_FACTORS, super_resolve

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "PRIORS", "Problem", "Result", "solve", "solve_problem", "DEFAULT_PRESET", "PRESETS",
    "Preset", "get_preset", "Option", "Task", "get_task", "list_tasks", "register_task",
    "MASK_KINDS", "SR_FACTORS", "as_image", "deblur", "denoise", "enhance", "flash_no_flash",
    "GaussianBlur", "inpaint", "make_mask", "remove_jpeg_artifacts", "restore",
    "super_resolve",
]  # fmt: skip
