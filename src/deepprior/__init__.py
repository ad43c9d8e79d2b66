"""deepprior: single-image restoration with the Deep Image Prior.

A randomly initialised ConvNet f_theta(z) is fitted to one degraded image; the network's
structure is the prior. See :mod:`deepprior.tasks` for the applications and
:func:`deepprior.solve` to restore through any differentiable degradation.

Example:
    >>> import deepprior
    >>> # result = deepprior.denoise("noisy.png")
    >>> # result.save("clean.png")
"""

from . import _startup  # noqa: F401  (first: in the command, Ctrl-C while importing exits)
from ._version import __version__
from .errors import DeepPriorError, DeepPriorWarning
from .fit import Callback, FitResult, Schedule, fit
from .nets import create_net, list_nets
from .tasks import (
    Result,
    deblur,
    denoise,
    enhance,
    flash_no_flash,
    get_preset,
    get_task,
    inpaint,
    list_tasks,
    register_task,
    remove_jpeg_artifacts,
    restore,
    solve,
    super_resolve,
)

jpeg = remove_jpeg_artifacts
sr = super_resolve
flash = flash_no_flash

__all__ = [
    "DeepPriorError", "DeepPriorWarning", "Callback", "FitResult", "Schedule", "fit",
    "create_net", "list_nets",
    "Result", "deblur", "denoise", "enhance", "flash_no_flash", "flash", "get_preset",
    "get_task", "inpaint", "jpeg", "list_tasks", "register_task", "remove_jpeg_artifacts",
    "restore", "solve", "sr", "super_resolve", "__version__",
]  # fmt: skip
