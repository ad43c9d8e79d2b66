"""The paper's tables as benchmarks: make the degraded inputs, run DIP and the baselines per
image, write one JSON record per image as soon as it is done, then the Markdown report.

Tables (one class each in a registry: :func:`get_table`, :func:`list_tables`):

* ``sr``: Set5 / Set14, x4 / x8 (paper Tables 1 and 2), Y-PSNR with a 4-px border.
* ``denoise``: the 9 CBM3D images, sigma = 25 (paper Sect. 3.1), RGB PSNR; the three DIP
  variants (last iterate, EMA, average of two runs).
* ``inpaint``: Heide11, 50% of the pixels kept at random (paper Table 3), whole-image PSNR.
* ``text-inpaint``: kate with the authors' text mask (Fig. 11).
* ``holes``: vase and library with the authors' hole masks (Fig. 10), PSNR inside the hole.

A new table is one module with a :class:`Table` subclass decorated by
:func:`register_table`, imported below. A rerun reads the records in the output folder and
skips every image whose record has the same ``settings``.
"""

from __future__ import annotations

from importlib import import_module

from .options import (
    SCHEMA,
    SR_HR_MULTIPLE,
    BenchOptions,
    all_names,
    list_items,
    selected,
    settings_of,
)
from .registry import Table, get_table, list_tables, register_table, tiled_tables
from .runner import (
    LABELS,
    _Runner,
    git_commit,
    job_devices,
    load_record,
    paper_numbers,
    record_path,
    remove_states,
    rerender,
    run_image,
    run_table,
    threads_per_job,
)

# The modules that register the tables, in the paper's order (that of list_tables()).
for _module in ("sr", "denoise", "inpaint"):
    import_module(f".{_module}", __name__)

TABLE_KINDS = tuple(list_tables())

__all__ = [
    "BenchOptions", "TABLE_KINDS", "Table", "get_table", "list_tables", "register_table",
    "tiled_tables",
    "list_items", "run_image", "run_table", "rerender", "settings_of", "threads_per_job",
    "job_devices", "all_names", "selected", "paper_numbers", "record_path", "load_record",
    "remove_states", "git_commit", "LABELS", "SCHEMA", "SR_HR_MULTIPLE", "_Runner",
]  # fmt: skip
