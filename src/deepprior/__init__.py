"""deepprior: single-image restoration with the Deep Image Prior.

A randomly initialised ConvNet f_theta(z) is fitted to one degraded image; the network's
structure is the prior. See :mod:`deepprior.tasks` for the applications.

Example:
    >>> import deepprior
    >>> # result = deepprior.denoise("noisy.png")
    >>> # result.save("clean.png")
"""

__version__ = "0.1.0"

from .errors import DeepPriorError  # noqa: E402
from .fit import Callback, FitResult, Schedule, fit  # noqa: E402
from .nets import create_net, list_nets  # noqa: E402
from .tasks import (  # noqa: E402
    Result,
    denoise,
    enhance,
    flash_no_flash,
    get_preset,
    inpaint,
    remove_jpeg_artifacts,
    restore,
    super_resolve,
)

jpeg = remove_jpeg_artifacts
sr = super_resolve
flash = flash_no_flash

__all__ = [
    "DeepPriorError", "Callback", "FitResult", "Schedule", "fit", "create_net", "list_nets",
    "Result", "denoise", "enhance", "flash_no_flash", "flash", "get_preset", "inpaint", "jpeg",
    "remove_jpeg_artifacts", "restore", "sr", "super_resolve", "__version__",
]  # fmt: skip
