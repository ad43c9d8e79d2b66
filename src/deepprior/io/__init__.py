"""Reading and writing images, masks and reports.

Images are float32 tensors of shape (C, H, W) with values in [0, 1], where C is 1 (gray)
or 3 (RGB). Masks are float32 tensors of shape (1, H, W) holding 1 for known pixels and
0 for pixels to fill. Every problem the user can fix raises
:class:`~deepprior.errors.DeepPriorError` with a one-line message, and every write is atomic
(a temporary file in the target directory, then :func:`os.replace`).

The package is split by concern; every public name is re-exported here:

- :mod:`~deepprior.io.decode`: image files to tensors (:func:`load_image`);
- :mod:`~deepprior.io.masks`: inpainting masks (:func:`load_mask`, :func:`check_mask`);
- :mod:`~deepprior.io.encode`: tensors to image files, with ICC profiles (:func:`save_image`);
- :mod:`~deepprior.io.files`: atomic writes and output-path checks.
"""

from __future__ import annotations

from .decode import SUPPORTED_READ, load_image
from .encode import read_icc_profile, save_image, to_uint8
from .files import (
    _same_file,  # noqa: F401  (private; the CLI checks report paths with it)
    atomic_write_bytes,
    atomic_write_text,
    check_output_path,
)
from .masks import check_mask, load_mask

__all__ = [
    "SUPPORTED_READ",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_mask",
    "check_output_path",
    "load_image",
    "load_mask",
    "read_icc_profile",
    "save_image",
    "to_uint8",
]
